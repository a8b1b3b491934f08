//! The state a fold builds: the entities of each stream and the [`World`] that holds them
//! with every stream's last applied version (pure data; see the parent module).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use vitrine_contract::OrderLine;

/// Products at or below this stock are `low_stock`.
pub const LOW_STOCK: i32 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: Uuid,
    pub sku: String,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub category_id: Uuid,
    pub stock: i32,
    pub image: Option<String>,
    pub attributes: Value,
    pub discontinued: bool,
    /// Global position of `ProductCreated`: the `newest` sort key.
    pub created_position: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CartLine {
    pub product_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    pub session_id: Uuid,
    /// In the order products were first added.
    pub lines: Vec<CartLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Cancelled,
    /// Unpaid past its deadline; its stock returned.
    Expired,
}

/// The order's current payment attempt, as the provider reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// No payment started.
    #[default]
    None,
    /// Started; the provider has not confirmed it yet.
    Pending,
    Paid,
    /// The provider reported a failure; a new attempt may start.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub session_id: Uuid,
    pub status: OrderStatus,
    pub lines: Vec<OrderLine>,
    pub total_cents: i64,
    pub currency: String,
    pub payment_reference: Option<String>,
    /// Entities stored before payments were confirmed by the provider lack it.
    #[serde(default)]
    pub payment_status: PaymentStatus,
    /// When the order expires unpaid (none for orders placed before deadlines).
    #[serde(default)]
    pub pay_by: Option<String>,
    pub placed_at: String,
    pub placed_position: i64,
}

impl Order {
    /// Cancelled and expired orders never became a purchase: they do not count as
    /// co-purchases.
    pub fn counts_for_recommendations(&self) -> bool {
        !matches!(self.status, OrderStatus::Cancelled | OrderStatus::Expired)
    }
}

/// A list of products: every product, or one category's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ListId {
    All,
    Category(Uuid),
}

impl Product {
    /// `in_stock`, `low_stock`, `out_of_stock` or `discontinued`: what list pages and
    /// product documents show, and what makes a list page stale when it changes.
    pub fn stock_status(&self) -> &'static str {
        if self.discontinued {
            "discontinued"
        } else if self.stock <= 0 {
            "out_of_stock"
        } else if self.stock <= LOW_STOCK {
            "low_stock"
        } else {
            "in_stock"
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct World {
    /// Stream id → last applied version.
    pub versions: BTreeMap<String, i64>,
    pub categories: BTreeMap<Uuid, Category>,
    pub products: BTreeMap<Uuid, Product>,
    pub carts: BTreeMap<Uuid, Cart>,
    pub orders: BTreeMap<Uuid, Order>,
}

impl World {
    pub fn version_of(&self, stream: &str) -> i64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    pub fn skip(&mut self, stream: &str, version: i64) {
        self.versions.insert(stream.to_owned(), version);
    }
}

/// Objects with their keys sorted at every depth, so the same attributes give the same
/// bytes whether they came through JSONB or through Kafka.
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let sorted: BTreeMap<String, Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}
