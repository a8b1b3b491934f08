//! The pure fold: per-stream entities and the last applied version of each stream.
//!
//! Entities hold only what their own stream says (a product keeps its `category_id`, not
//! the category's name); documents join them at render time ([`crate::render`]). That is
//! why documents converge whatever the arrival order across streams. The same `World`
//! serves a whole-history fold (`verify`, a rebuild) and, partially loaded from
//! PostgreSQL, the incremental path.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use vitrine_contract::{Event, OrderLine, StreamId, StreamKind};

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

/// What an applied event makes stale; resolved to doc keys by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Touch {
    /// `product:{id}` and its search row.
    Product(Uuid),
    List(ListId),
    Categories,
    /// Product docs (and search rows) of every product in the category.
    ProductsIn(Uuid),
    Cart(Uuid),
    /// Carts holding the product.
    CartsWith(Uuid),
    Order(Uuid),
    Orders(Uuid),
    Recs(Uuid),
    /// `recs:{id}` and the recs of every product bought together with it.
    RecsAround(Uuid),
}

/// Where an event sits in the store.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
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

/// The list-relevant face of a product: when it changes, list pages must be rebuilt.
fn list_face(p: &Product) -> impl PartialEq {
    (
        p.name.clone(),
        p.slug.clone(),
        p.price_cents,
        p.currency.clone(),
        p.image.clone(),
        crate::render::stock_status(p),
        p.category_id,
    )
}

/// What carts and recommendations show of a product.
fn shown_face(p: &Product) -> impl PartialEq {
    (
        p.name.clone(),
        p.price_cents,
        p.currency.clone(),
        p.image.clone(),
        p.discontinued,
    )
}

impl World {
    pub fn version_of(&self, stream: &str) -> i64 {
        self.versions.get(stream).copied().unwrap_or(0)
    }

    /// Records that `version` of `stream` was applied without changing any entity
    /// (a dead-lettered event still takes its place in the stream).
    pub fn skip(&mut self, stream: &str, version: i64) {
        self.versions.insert(stream.to_owned(), version);
    }

    /// Applies one event (the caller checked it is the next version of its stream) and
    /// says which documents it made stale.
    pub fn apply(
        &mut self,
        stream: &str,
        version: i64,
        meta: EventMeta,
        event: &Event,
    ) -> Vec<Touch> {
        self.versions.insert(stream.to_owned(), version);
        let mut touches = Vec::new();
        match event {
            Event::CategoryCreated {
                category_id,
                name,
                slug,
                parent_id,
            } => {
                self.categories.insert(
                    *category_id,
                    Category {
                        id: *category_id,
                        name: name.clone(),
                        slug: slug.clone(),
                        parent_id: *parent_id,
                    },
                );
                touches.extend([
                    Touch::Categories,
                    Touch::ProductsIn(*category_id),
                    Touch::List(ListId::Category(*category_id)),
                    Touch::List(ListId::All),
                ]);
            }
            Event::CategoryRenamed { category_id, name } => {
                if let Some(c) = self.categories.get_mut(category_id) {
                    c.name = name.clone();
                }
                touches.extend([
                    Touch::Categories,
                    Touch::ProductsIn(*category_id),
                    Touch::List(ListId::Category(*category_id)),
                ]);
            }
            Event::ProductCreated {
                product_id,
                sku,
                slug,
                name,
                description,
                price_cents,
                currency,
                category_id,
                stock,
                image,
                attributes,
            } => {
                self.products.insert(
                    *product_id,
                    Product {
                        id: *product_id,
                        sku: sku.clone(),
                        slug: slug.clone(),
                        name: name.clone(),
                        description: description.clone(),
                        price_cents: *price_cents,
                        currency: currency.clone(),
                        category_id: *category_id,
                        stock: *stock,
                        image: image.clone(),
                        attributes: canonical(attributes.clone()),
                        discontinued: false,
                        created_position: meta.position,
                    },
                );
                touches.extend([
                    Touch::Product(*product_id),
                    Touch::List(ListId::All),
                    Touch::List(ListId::Category(*category_id)),
                    Touch::CartsWith(*product_id),
                    Touch::RecsAround(*product_id),
                ]);
            }
            Event::ProductUpdated { product_id, .. }
            | Event::ProductDiscontinued { product_id }
            | Event::StockAdjusted { product_id, .. }
            | Event::StockReserved { product_id, .. }
            | Event::StockReleased { product_id, .. } => {
                touches.push(Touch::Product(*product_id));
                let Some(p) = self.products.get_mut(product_id) else {
                    return touches;
                };
                let before = p.clone();
                match event {
                    Event::ProductUpdated {
                        name,
                        description,
                        price_cents,
                        currency,
                        category_id,
                        image,
                        attributes,
                        ..
                    } => {
                        if let Some(v) = name {
                            p.name = v.clone();
                        }
                        if let Some(v) = description {
                            p.description = v.clone();
                        }
                        if let Some(v) = price_cents {
                            p.price_cents = *v;
                        }
                        if let Some(v) = currency {
                            p.currency = v.clone();
                        }
                        if let Some(v) = category_id {
                            p.category_id = *v;
                        }
                        if let Some(v) = image {
                            p.image = Some(v.clone());
                        }
                        if let Some(v) = attributes {
                            p.attributes = canonical(v.clone());
                        }
                    }
                    Event::ProductDiscontinued { .. } => p.discontinued = true,
                    Event::StockAdjusted { stock, .. }
                    | Event::StockReserved { stock, .. }
                    | Event::StockReleased { stock, .. } => p.stock = *stock,
                    _ => {}
                }
                if list_face(&before) != list_face(p) || before.discontinued != p.discontinued {
                    touches.extend([
                        Touch::List(ListId::All),
                        Touch::List(ListId::Category(before.category_id)),
                        Touch::List(ListId::Category(p.category_id)),
                    ]);
                }
                if shown_face(&before) != shown_face(p) {
                    touches.extend([
                        Touch::CartsWith(*product_id),
                        Touch::RecsAround(*product_id),
                    ]);
                }
            }
            Event::CartItemAdded {
                session_id,
                product_id,
                quantity,
                ..
            }
            | Event::CartItemQuantitySet {
                session_id,
                product_id,
                quantity,
            } => {
                let cart = self.cart_mut(*session_id);
                match cart.lines.iter_mut().find(|l| l.product_id == *product_id) {
                    Some(_) if *quantity <= 0 => cart.lines.retain(|l| l.product_id != *product_id),
                    Some(line) => line.quantity = *quantity,
                    None if *quantity > 0 => cart.lines.push(CartLine {
                        product_id: *product_id,
                        quantity: *quantity,
                    }),
                    None => {}
                }
                touches.push(Touch::Cart(*session_id));
            }
            Event::CartItemRemoved {
                session_id,
                product_id,
            } => {
                self.cart_mut(*session_id)
                    .lines
                    .retain(|l| l.product_id != *product_id);
                touches.push(Touch::Cart(*session_id));
            }
            Event::CartCheckedOut { session_id, .. } => {
                self.cart_mut(*session_id).lines.clear();
                touches.push(Touch::Cart(*session_id));
            }
            Event::OrderPlaced {
                order_id,
                session_id,
                lines,
                total_cents,
                currency,
                pay_by,
            } => {
                self.orders.insert(
                    *order_id,
                    Order {
                        id: *order_id,
                        session_id: *session_id,
                        status: OrderStatus::Placed,
                        lines: lines.clone(),
                        total_cents: *total_cents,
                        currency: currency.clone(),
                        payment_reference: None,
                        payment_status: PaymentStatus::None,
                        pay_by: pay_by.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                        placed_at: meta
                            .recorded_at
                            .to_rfc3339_opts(SecondsFormat::Micros, true),
                        placed_position: meta.position,
                    },
                );
                touches.extend([Touch::Order(*order_id), Touch::Orders(*session_id)]);
                touches.extend(lines.iter().map(|l| Touch::Recs(l.product_id)));
            }
            Event::OrderPaid {
                order_id,
                payment_reference,
            } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.status = OrderStatus::Paid;
                    o.payment_status = PaymentStatus::Paid;
                    o.payment_reference = Some(payment_reference.clone());
                    touches.extend([Touch::Order(*order_id), Touch::Orders(o.session_id)]);
                }
            }
            Event::OrderShipped { order_id } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.status = OrderStatus::Shipped;
                    touches.extend([Touch::Order(*order_id), Touch::Orders(o.session_id)]);
                }
            }
            Event::PaymentStarted { order_id, .. } | Event::PaymentFailed { order_id, .. } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.payment_status = match event {
                        Event::PaymentStarted { .. } => PaymentStatus::Pending,
                        _ => PaymentStatus::Failed,
                    };
                    touches.extend([Touch::Order(*order_id), Touch::Orders(o.session_id)]);
                }
            }
            Event::OrderCancelled { order_id } | Event::OrderExpired { order_id } => {
                if let Some(o) = self.orders.get_mut(order_id) {
                    o.status = match event {
                        Event::OrderCancelled { .. } => OrderStatus::Cancelled,
                        _ => OrderStatus::Expired,
                    };
                    touches.extend([Touch::Order(*order_id), Touch::Orders(o.session_id)]);
                    touches.extend(o.lines.iter().map(|l| Touch::Recs(l.product_id)));
                }
            }
        }
        touches
    }

    /// The entities whose documents an event's documents read, or whose documents read
    /// it: its own product or category, and the products and categories it names. Two
    /// batches naming one of them are serialized ([`crate::store::lock_dependencies`]),
    /// because otherwise each could miss the other's uncommitted half (a product created
    /// while a cart adds it: the product's batch finds no cart holding it, the cart's
    /// batch finds no product, and the cart shows no line).
    pub fn dependencies(event: &Event) -> Vec<Uuid> {
        match event {
            Event::CategoryCreated { category_id, .. }
            | Event::CategoryRenamed { category_id, .. } => {
                vec![*category_id]
            }
            Event::ProductCreated {
                product_id,
                category_id,
                ..
            } => vec![*product_id, *category_id],
            Event::ProductUpdated {
                product_id,
                category_id,
                ..
            } => std::iter::once(*product_id).chain(*category_id).collect(),
            Event::ProductDiscontinued { product_id }
            | Event::StockAdjusted { product_id, .. }
            | Event::StockReserved { product_id, .. }
            | Event::StockReleased { product_id, .. }
            | Event::CartItemAdded { product_id, .. }
            | Event::CartItemQuantitySet { product_id, .. }
            | Event::CartItemRemoved { product_id, .. } => vec![*product_id],
            Event::OrderPlaced { lines, .. } => lines.iter().map(|l| l.product_id).collect(),
            Event::CartCheckedOut { .. }
            | Event::PaymentStarted { .. }
            | Event::PaymentFailed { .. }
            | Event::OrderPaid { .. }
            | Event::OrderShipped { .. }
            | Event::OrderCancelled { .. }
            | Event::OrderExpired { .. } => vec![],
        }
    }

    fn cart_mut(&mut self, session_id: Uuid) -> &mut Cart {
        self.carts.entry(session_id).or_insert_with(|| Cart {
            session_id,
            lines: Vec::new(),
        })
    }

    /// The entity of a stream as stored in `rm_entities.state`.
    pub fn entity_json(&self, stream: &StreamId) -> Option<Value> {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => self
                .categories
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Product => self
                .products
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Cart => self
                .carts
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Order => self
                .orders
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
        }
    }

    /// Sets a stream's entity and version aside, so it is folded again from its first
    /// event (a dead letter replayed after a fix).
    pub fn forget(&mut self, stream: &StreamId) {
        let id = stream.id();
        self.versions.insert(stream.to_string(), 0);
        match stream.kind() {
            StreamKind::Category => {
                self.categories.remove(&id);
            }
            StreamKind::Product => {
                self.products.remove(&id);
            }
            StreamKind::Cart => {
                self.carts.remove(&id);
            }
            StreamKind::Order => {
                self.orders.remove(&id);
            }
        }
    }

    /// Loads an entity read from `rm_entities.state`.
    pub fn insert_entity_json(
        &mut self,
        stream: &StreamId,
        state: Value,
    ) -> Result<(), serde_json::Error> {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => {
                self.categories.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Product => {
                self.products.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Cart => {
                self.carts.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Order => {
                self.orders.insert(id, serde_json::from_value(state)?);
            }
        }
        Ok(())
    }

    /// Lookup columns of `rm_entities`: (category_id, session_id, product_ids).
    pub fn entity_index(&self, stream: &StreamId) -> (Option<Uuid>, Option<Uuid>, Vec<Uuid>) {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => (None, None, vec![]),
            StreamKind::Product => (self.products.get(&id).map(|p| p.category_id), None, vec![]),
            StreamKind::Cart => (
                None,
                None,
                self.carts
                    .get(&id)
                    .map(|c| c.lines.iter().map(|l| l.product_id).collect())
                    .unwrap_or_default(),
            ),
            StreamKind::Order => match self.orders.get(&id) {
                Some(o) => (
                    None,
                    Some(o.session_id),
                    o.lines.iter().map(|l| l.product_id).collect(),
                ),
                None => (None, None, vec![]),
            },
        }
    }

    /// Folds one recorded event the way the live projector does: duplicates and older
    /// versions are skipped, undecodable events only take their place in the stream.
    /// Expects each stream's events in version order (position order does that).
    pub fn fold(&mut self, rec: &vitrine_contract::RecordedEvent) {
        if rec.version <= self.version_of(&rec.stream_id) {
            return;
        }
        let meta = EventMeta {
            position: rec.position,
            recorded_at: rec.recorded_at,
        };
        match rec.decode() {
            Ok(event) if event.stream().to_string() == rec.stream_id => {
                self.apply(&rec.stream_id, rec.version, meta, &event);
            }
            _ => self.skip(&rec.stream_id, rec.version),
        }
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
