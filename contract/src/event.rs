//! Events, the streams they belong to, and their stored shape.
//!
//! An event is stored as `event_type` + `schema_version` + a JSON `payload`
//! ([`Event::to_parts`]); reading goes through [`Event::from_parts`], which upcasts older
//! shapes first (see [`crate::upcast`]). Stored events are never rewritten.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What kind of aggregate a stream belongs to; also the prefix of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    Category,
    Product,
    Cart,
    Order,
}

impl StreamKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamKind::Category => "category",
            StreamKind::Product => "product",
            StreamKind::Cart => "cart",
            StreamKind::Order => "order",
        }
    }
}

/// `"{kind}-{uuid}"`, e.g. `product-0190…`. A cart stream is keyed by its session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId {
    kind: StreamKind,
    id: Uuid,
}

impl StreamId {
    pub fn new(kind: StreamKind, id: Uuid) -> Self {
        Self { kind, id }
    }
    pub fn category(id: Uuid) -> Self {
        Self::new(StreamKind::Category, id)
    }
    pub fn product(id: Uuid) -> Self {
        Self::new(StreamKind::Product, id)
    }
    pub fn cart(session_id: Uuid) -> Self {
        Self::new(StreamKind::Cart, session_id)
    }
    pub fn order(id: Uuid) -> Self {
        Self::new(StreamKind::Order, id)
    }
    pub fn kind(&self) -> StreamKind {
        self.kind
    }
    pub fn id(&self) -> Uuid {
        self.id
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.kind.as_str(), self.id)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("not a stream id: {0:?}")]
pub struct BadStreamId(pub String);

impl std::str::FromStr for StreamId {
    type Err = BadStreamId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadStreamId(s.to_owned());
        let (kind, id) = s.split_once('-').ok_or_else(bad)?;
        let kind = match kind {
            "category" => StreamKind::Category,
            "product" => StreamKind::Product,
            "cart" => StreamKind::Cart,
            "order" => StreamKind::Order,
            _ => return Err(bad()),
        };
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self { kind, id })
    }
}

impl TryFrom<String> for StreamId {
    type Error = BadStreamId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<StreamId> for String {
    fn from(s: StreamId) -> String {
        s.to_string()
    }
}

/// One line of a placed order, priced at checkout time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderLine {
    pub product_id: Uuid,
    pub sku: String,
    pub name: String,
    pub unit_price_cents: i64,
    pub quantity: i32,
    pub line_total_cents: i64,
}

/// Every event of the store. The serde tag is the stored `event_type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum Event {
    CategoryCreated {
        category_id: Uuid,
        name: String,
        slug: String,
        parent_id: Option<Uuid>,
    },
    CategoryRenamed {
        category_id: Uuid,
        name: String,
    },
    /// Schema 2 added `slug` (derived from the name at creation; see [`crate::upcast`]).
    ProductCreated {
        product_id: Uuid,
        sku: String,
        slug: String,
        name: String,
        description: String,
        price_cents: i64,
        currency: String,
        category_id: Uuid,
        stock: i32,
        image: Option<String>,
        attributes: Value,
    },
    /// Only the fields that changed are present.
    ProductUpdated {
        product_id: Uuid,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        price_cents: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        currency: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        category_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<Value>,
    },
    ProductDiscontinued {
        product_id: Uuid,
    },
    /// An admin stock correction; `stock` is the level after it.
    StockAdjusted {
        product_id: Uuid,
        delta: i32,
        stock: i32,
    },
    /// Checkout took `quantity` units for `order_id`; `stock` is the level after it.
    StockReserved {
        product_id: Uuid,
        order_id: Uuid,
        quantity: i32,
        stock: i32,
    },
    /// A cancelled order gave its units back; `stock` is the level after it.
    StockReleased {
        product_id: Uuid,
        order_id: Uuid,
        quantity: i32,
        stock: i32,
    },
    /// `added` units were put in the cart; the line now holds `quantity`.
    CartItemAdded {
        session_id: Uuid,
        product_id: Uuid,
        added: i32,
        quantity: i32,
    },
    CartItemQuantitySet {
        session_id: Uuid,
        product_id: Uuid,
        quantity: i32,
    },
    CartItemRemoved {
        session_id: Uuid,
        product_id: Uuid,
    },
    /// The cart became `order_id` and is empty again.
    CartCheckedOut {
        session_id: Uuid,
        order_id: Uuid,
    },
    /// Schema 2 added `pay_by`: the order expires unpaid after it (`None` in orders placed
    /// before, which never expire).
    OrderPlaced {
        order_id: Uuid,
        session_id: Uuid,
        lines: Vec<OrderLine>,
        total_cents: i64,
        currency: String,
        pay_by: Option<DateTime<Utc>>,
    },
    /// The shopper started paying: the provider's payment intent `intent_id` for
    /// `amount_cents` in `currency`. The order is not paid until the provider confirms.
    PaymentStarted {
        order_id: Uuid,
        intent_id: String,
        amount_cents: i64,
        currency: String,
    },
    /// The provider reported that the payment of `intent_id` failed; the order stays
    /// placed and can be paid again.
    PaymentFailed {
        order_id: Uuid,
        intent_id: String,
        reason: String,
    },
    /// The provider confirmed the payment; `payment_reference` is its intent id.
    OrderPaid {
        order_id: Uuid,
        payment_reference: String,
    },
    OrderShipped {
        order_id: Uuid,
    },
    OrderCancelled {
        order_id: Uuid,
    },
    /// Unpaid past its `pay_by`: its stock returns (the `StockReleased` events that follow).
    OrderExpired {
        order_id: Uuid,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error(
        "event {event_type} has schema version {found}, newer than this program knows ({known})"
    )]
    FutureSchema {
        event_type: String,
        found: i32,
        known: i32,
    },
    #[error("event {event_type} v{schema_version} does not decode: {source}")]
    Payload {
        event_type: String,
        schema_version: i32,
        source: serde_json::Error,
    },
}

/// Every stored event type, with the schema version this build writes.
pub const EVENT_TYPES: &[(&str, i32)] = &[
    ("category_created", 1),
    ("category_renamed", 1),
    ("product_created", 2),
    ("product_updated", 1),
    ("product_discontinued", 1),
    ("stock_adjusted", 1),
    ("stock_reserved", 1),
    ("stock_released", 1),
    ("cart_item_added", 1),
    ("cart_item_quantity_set", 1),
    ("cart_item_removed", 1),
    ("cart_checked_out", 1),
    ("order_placed", 2),
    ("payment_started", 1),
    ("payment_failed", 1),
    ("order_paid", 1),
    ("order_shipped", 1),
    ("order_cancelled", 1),
    ("order_expired", 1),
];

/// The schema version this build writes for `event_type`, if it knows the type.
pub fn current_schema_version(event_type: &str) -> Option<i32> {
    EVENT_TYPES
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, v)| *v)
}

impl Event {
    /// The stored `event_type`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::CategoryCreated { .. } => "category_created",
            Event::CategoryRenamed { .. } => "category_renamed",
            Event::ProductCreated { .. } => "product_created",
            Event::ProductUpdated { .. } => "product_updated",
            Event::ProductDiscontinued { .. } => "product_discontinued",
            Event::StockAdjusted { .. } => "stock_adjusted",
            Event::StockReserved { .. } => "stock_reserved",
            Event::StockReleased { .. } => "stock_released",
            Event::CartItemAdded { .. } => "cart_item_added",
            Event::CartItemQuantitySet { .. } => "cart_item_quantity_set",
            Event::CartItemRemoved { .. } => "cart_item_removed",
            Event::CartCheckedOut { .. } => "cart_checked_out",
            Event::OrderPlaced { .. } => "order_placed",
            Event::PaymentStarted { .. } => "payment_started",
            Event::PaymentFailed { .. } => "payment_failed",
            Event::OrderPaid { .. } => "order_paid",
            Event::OrderShipped { .. } => "order_shipped",
            Event::OrderCancelled { .. } => "order_cancelled",
            Event::OrderExpired { .. } => "order_expired",
        }
    }

    /// The stream this event belongs to.
    pub fn stream(&self) -> StreamId {
        match self {
            Event::CategoryCreated { category_id, .. }
            | Event::CategoryRenamed { category_id, .. } => StreamId::category(*category_id),
            Event::ProductCreated { product_id, .. }
            | Event::ProductUpdated { product_id, .. }
            | Event::ProductDiscontinued { product_id }
            | Event::StockAdjusted { product_id, .. }
            | Event::StockReserved { product_id, .. }
            | Event::StockReleased { product_id, .. } => StreamId::product(*product_id),
            Event::CartItemAdded { session_id, .. }
            | Event::CartItemQuantitySet { session_id, .. }
            | Event::CartItemRemoved { session_id, .. }
            | Event::CartCheckedOut { session_id, .. } => StreamId::cart(*session_id),
            Event::OrderPlaced { order_id, .. }
            | Event::PaymentStarted { order_id, .. }
            | Event::PaymentFailed { order_id, .. }
            | Event::OrderPaid { order_id, .. }
            | Event::OrderShipped { order_id }
            | Event::OrderCancelled { order_id }
            | Event::OrderExpired { order_id } => StreamId::order(*order_id),
        }
    }

    /// `(event_type, schema_version, payload)` as stored.
    pub fn to_parts(&self) -> (&'static str, i32, Value) {
        let event_type = self.event_type();
        let schema_version = current_schema_version(event_type).unwrap_or(1);
        let mut tagged = serde_json::to_value(self).unwrap_or(Value::Null);
        let payload = tagged
            .get_mut("payload")
            .map(Value::take)
            .unwrap_or(Value::Null);
        (event_type, schema_version, payload)
    }

    /// Reads a stored event, upcasting an older `schema_version` first.
    pub fn from_parts(
        event_type: &str,
        schema_version: i32,
        payload: Value,
    ) -> Result<Event, DecodeError> {
        let known = current_schema_version(event_type)
            .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
        if schema_version > known {
            return Err(DecodeError::FutureSchema {
                event_type: event_type.to_owned(),
                found: schema_version,
                known,
            });
        }
        let payload = crate::upcast::upcast(event_type, schema_version, payload);
        serde_json::from_value(serde_json::json!({ "type": event_type, "payload": payload }))
            .map_err(|source| DecodeError::Payload {
                event_type: event_type.to_owned(),
                schema_version,
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_round_trip_through_their_text_form() {
        let id = StreamId::product(Uuid::now_v7());
        let parsed: StreamId = id.to_string().parse().unwrap();
        assert_eq!(parsed, id);
        assert!("basket-1".parse::<StreamId>().is_err());
    }

    #[test]
    fn events_round_trip_through_their_stored_parts() {
        let event = Event::ProductUpdated {
            product_id: Uuid::now_v7(),
            name: Some("Phone".into()),
            description: None,
            price_cents: Some(1999),
            currency: None,
            category_id: None,
            image: None,
            attributes: None,
        };
        let (t, v, payload) = event.to_parts();
        assert_eq!((t, v), ("product_updated", 1));
        assert!(
            payload.get("description").is_none(),
            "absent fields are not stored"
        );
        assert_eq!(Event::from_parts(t, v, payload).unwrap(), event);
    }

    #[test]
    fn unknown_types_and_future_schemas_are_refused() {
        assert!(matches!(
            Event::from_parts("product_teleported", 1, Value::Null),
            Err(DecodeError::UnknownType(_))
        ));
        assert!(matches!(
            Event::from_parts(
                "order_shipped",
                9,
                serde_json::json!({"order_id": Uuid::nil()})
            ),
            Err(DecodeError::FutureSchema { .. })
        ));
    }

    #[test]
    fn a_v1_product_created_reads_with_the_slug_of_its_name() {
        let v1 = serde_json::json!({
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
        let v1 = serde_json::json!({
            "order_id": Uuid::nil(), "session_id": Uuid::nil(), "lines": [],
            "total_cents": 0, "currency": "EUR"
        });
        match Event::from_parts("order_placed", 1, v1).unwrap() {
            Event::OrderPlaced { pay_by, .. } => assert_eq!(pay_by, None),
            other => panic!("decoded as {other:?}"),
        }
    }
}
