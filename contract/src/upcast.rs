//! Upcasting: old stored shapes are lifted to the current one when read, never rewritten.
//!
//! Each step takes one event type from schema version `n` to `n + 1`; [`upcast`] applies
//! the steps in order. Add a step here (and bump the type's version in
//! [`crate::event::EVENT_TYPES`]) whenever an event's shape changes.

use serde_json::Value;

use crate::event::slugify;

/// Lifts `payload` of `event_type` from `schema_version` to the current version.
pub fn upcast(event_type: &str, schema_version: i32, mut payload: Value) -> Value {
    let mut version = schema_version;
    while let Some(step) = step(event_type, version) {
        payload = step(payload);
        version += 1;
    }
    payload
}

fn step(event_type: &str, from: i32) -> Option<fn(Value) -> Value> {
    match (event_type, from) {
        ("product_created", 1) => Some(product_created_v1_to_v2),
        ("order_placed", 1) => Some(order_placed_v1_to_v2),
        _ => None,
    }
}

/// v2 added `slug`: products created before it get the slug of their name at the time.
fn product_created_v1_to_v2(mut payload: Value) -> Value {
    if let Some(obj) = payload.as_object_mut() {
        let slug = obj
            .get("name")
            .and_then(Value::as_str)
            .map(slugify)
            .unwrap_or_default();
        obj.entry("slug").or_insert(Value::String(slug));
    }
    payload
}

/// v2 added `pay_by`: orders placed before it had no payment deadline and never expire.
fn order_placed_v1_to_v2(mut payload: Value) -> Value {
    if let Some(obj) = payload.as_object_mut() {
        obj.entry("pay_by").or_insert(Value::Null);
    }
    payload
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use uuid::Uuid;

    use crate::Event;

    #[test]
    fn a_v1_product_created_reads_with_the_slug_of_its_name() {
        let v1 = json!({
            "product_id": Uuid::nil(), "sku": "SKU-1", "name": "Travel Camera 3",
            "description": "d", "price_cents": 100, "currency": "EUR",
            "category_id": Uuid::nil(), "stock": 1, "image": null, "attributes": {}
        });
        match Event::from_parts("product_created", 1, v1).unwrap() {
            Event::ProductCreated { slug, .. } => assert_eq!(slug, "travel-camera-3"),
            other => panic!("decoded as {other:?}"),
        }
    }

    #[test]
    fn a_v1_order_placed_reads_without_a_payment_deadline() {
        let v1 = json!({
            "order_id": Uuid::nil(), "session_id": Uuid::nil(), "lines": [],
            "total_cents": 0, "currency": "EUR"
        });
        match Event::from_parts("order_placed", 1, v1).unwrap() {
            Event::OrderPlaced { pay_by, .. } => assert_eq!(pay_by, None),
            other => panic!("decoded as {other:?}"),
        }
    }
}
