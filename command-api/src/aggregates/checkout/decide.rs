//! Checkout: a cart becomes an order, every line reserving stock, all or nothing, within
//! the session's limit of unpaid orders; the order must be paid by `pay_by`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;
use vitrine_contract::{Event, OrderLine};

use crate::aggregates::cart::Cart;
use crate::aggregates::{DomainError, Shortage};

/// A product as checkout found it, locked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSnapshot {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub price_cents: i64,
    pub currency: String,
    pub stock: i32,
    pub discontinued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub order_id: Uuid,
    /// Every product of the cart, by id.
    pub products: BTreeMap<Uuid, ProductSnapshot>,
    /// The session's orders not yet paid, cancelled or expired.
    pub open_orders: i64,
    /// How many of those a session may hold.
    pub max_open_orders: i64,
    /// When the order expires unpaid.
    pub pay_by: DateTime<Utc>,
}

/// `OrderPlaced`, one `StockReserved` per line, then `CartCheckedOut`.
pub fn decide(cart: &Cart, command: Command) -> Result<Vec<Event>, DomainError> {
    if cart.lines.is_empty() {
        return Err(DomainError::State("the cart is empty".into()));
    }
    let Command {
        order_id,
        products,
        open_orders,
        max_open_orders,
        pay_by,
    } = command;
    if open_orders >= max_open_orders {
        return Err(DomainError::Conflict(format!(
            "this session already has {open_orders} unpaid order(s), the most it may hold: pay or cancel one first"
        )));
    }
    let mut lines = Vec::with_capacity(cart.lines.len());
    let mut reserved = Vec::with_capacity(cart.lines.len());
    let mut short = Vec::new();
    let mut currency: Option<&str> = None;
    for (&product_id, &quantity) in &cart.lines {
        let Some(p) = products.get(&product_id) else {
            return Err(DomainError::Conflict(format!(
                "product {product_id} no longer exists"
            )));
        };
        if p.discontinued {
            return Err(DomainError::Conflict(format!(
                "product {product_id} ({}) is discontinued: remove it from the cart",
                p.name
            )));
        }
        match currency {
            Some(c) if c != p.currency => {
                return Err(DomainError::State("the cart mixes currencies".into()));
            }
            _ => currency = Some(&p.currency),
        }
        if p.stock < quantity {
            short.push(Shortage {
                product_id,
                requested: quantity,
                available: p.stock,
            });
            continue;
        }
        lines.push(OrderLine {
            product_id,
            sku: p.sku.clone(),
            name: p.name.clone(),
            unit_price_cents: p.price_cents,
            quantity,
            line_total_cents: p.price_cents * quantity as i64,
        });
        reserved.push(Event::StockReserved {
            product_id,
            order_id,
            quantity,
            stock: p.stock - quantity,
        });
    }
    if !short.is_empty() {
        return Err(DomainError::InsufficientStock(short));
    }
    let total_cents = lines.iter().map(|l| l.line_total_cents).sum();
    let mut events = vec![Event::OrderPlaced {
        order_id,
        session_id: cart.session_id,
        lines,
        total_cents,
        currency: currency.unwrap_or("EUR").to_owned(),
        pay_by: Some(pay_by),
    }];
    events.extend(reserved);
    events.push(Event::CartCheckedOut {
        session_id: cart.session_id,
        order_id,
    });
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(stock: i32, price_cents: i64) -> ProductSnapshot {
        ProductSnapshot {
            id: Uuid::now_v7(),
            sku: "SKU".into(),
            name: "Lamp".into(),
            price_cents,
            currency: "EUR".into(),
            stock,
            discontinued: false,
        }
    }

    fn cart_of(lines: &[(&ProductSnapshot, i32)]) -> Cart {
        Cart {
            session_id: Uuid::now_v7(),
            lines: lines.iter().map(|(p, q)| (p.id, *q)).collect(),
        }
    }

    fn command(products: &[&ProductSnapshot]) -> Command {
        Command {
            order_id: Uuid::now_v7(),
            products: products.iter().map(|p| (p.id, (*p).clone())).collect(),
            open_orders: 0,
            max_open_orders: 3,
            pay_by: Utc::now(),
        }
    }

    #[test]
    fn a_cart_becomes_an_order_reserving_every_line() {
        let (a, b) = (snapshot(5, 250), snapshot(1, 1000));
        let cart = cart_of(&[(&a, 2), (&b, 1)]);
        let events = decide(&cart, command(&[&a, &b])).unwrap();
        assert_eq!(events.len(), 4);
        match &events[0] {
            Event::OrderPlaced {
                total_cents, lines, ..
            } => {
                assert_eq!(*total_cents, 2 * 250 + 1000);
                assert_eq!(lines.len(), 2);
            }
            other => panic!("first event is {other:?}"),
        }
        assert!(events.contains(&Event::StockReserved {
            product_id: a.id,
            order_id: match &events[0] {
                Event::OrderPlaced { order_id, .. } => *order_id,
                _ => unreachable!(),
            },
            quantity: 2,
            stock: 3,
        }));
        assert!(matches!(events[3], Event::CartCheckedOut { .. }));
    }

    #[test]
    fn the_order_carries_its_payment_deadline() {
        let a = snapshot(5, 250);
        let cmd = command(&[&a]);
        let due = cmd.pay_by;
        match &decide(&cart_of(&[(&a, 1)]), cmd).unwrap()[0] {
            Event::OrderPlaced { pay_by, .. } => assert_eq!(*pay_by, Some(due)),
            other => panic!("first event is {other:?}"),
        }
    }

    #[test]
    fn a_session_at_its_limit_of_unpaid_orders_cannot_check_out() {
        let a = snapshot(5, 250);
        let cart = cart_of(&[(&a, 1)]);
        let mut cmd = command(&[&a]);
        cmd.open_orders = 2;
        assert!(decide(&cart, cmd.clone()).is_ok());
        cmd.open_orders = 3;
        assert!(matches!(decide(&cart, cmd), Err(DomainError::Conflict(_))));
    }

    #[test]
    fn short_stock_lists_every_short_product_and_reserves_nothing() {
        let (a, b, c) = (snapshot(1, 1), snapshot(0, 1), snapshot(9, 1));
        let cart = cart_of(&[(&a, 2), (&b, 1), (&c, 1)]);
        match decide(&cart, command(&[&a, &b, &c])) {
            Err(DomainError::InsufficientStock(short)) => {
                let ids: Vec<_> = short.iter().map(|s| s.product_id).collect();
                assert_eq!(ids.len(), 2);
                assert!(ids.contains(&a.id) && ids.contains(&b.id));
            }
            other => panic!("expected a shortage, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_cart_or_a_discontinued_product_cannot_check_out() {
        assert!(matches!(
            decide(&Cart::default(), command(&[])),
            Err(DomainError::State(_))
        ));
        let mut gone = snapshot(5, 1);
        gone.discontinued = true;
        assert!(matches!(
            decide(&cart_of(&[(&gone, 1)]), command(&[&gone])),
            Err(DomainError::Conflict(_))
        ));
    }
}
