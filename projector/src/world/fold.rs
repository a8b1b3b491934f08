//! Events into state, purely: [`World::apply`] folds one event and says which documents
//! it made stale ([`Touch`]); [`World::fold`] takes a recorded event the way the live
//! projector does (duplicates skipped, undecodable events only take their place);
//! [`World::dependencies`] names the entities two batches must not apply at once.

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;
use vitrine_contract::{Event, RecordedEvent, StreamId, StreamKind};

use super::state::{
    canonical, Cart, CartLine, Category, ListId, Order, OrderStatus, PaymentStatus, Product, World,
};

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

/// The list-relevant face of a product: when it changes, list pages must be rebuilt.
fn list_face(p: &Product) -> impl PartialEq {
    (
        p.name.clone(),
        p.slug.clone(),
        p.price_cents,
        p.currency.clone(),
        p.image.clone(),
        p.stock_status(),
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

    pub fn fold(&mut self, rec: &RecordedEvent) {
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
