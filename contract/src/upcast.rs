//! Upcasting: old stored shapes are lifted to the current one when read, never rewritten.
//!
//! Each step takes one event type from schema version `n` to `n + 1`; [`upcast`] applies
//! the steps in order. Add a step here (and bump the type's version in
//! [`crate::event::EVENT_TYPES`]) whenever an event's shape changes.

use serde_json::Value;

use crate::slug::slugify;

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
