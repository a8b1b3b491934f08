//! The order state machine: placed → paid → shipped; placed/paid → cancelled (stock returns).

use std::collections::BTreeMap;

use uuid::Uuid;
use vitrine_contract::Event;

use crate::aggregates::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    #[default]
    New,
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Placed => "placed",
            Status::Paid => "paid",
            Status::Shipped => "shipped",
            Status::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Status {
        match s {
            "placed" => Status::Placed,
            "paid" => Status::Paid,
            "shipped" => Status::Shipped,
            "cancelled" => Status::Cancelled,
            _ => Status::New,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Order {
    pub id: Uuid,
    pub status: Status,
    /// product id → quantity.
    pub lines: BTreeMap<Uuid, i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Pay {
        payment_reference: String,
    },
    /// `stock`: the current level of every product of the order (looked up, locked).
    Cancel {
        stock: BTreeMap<Uuid, i32>,
    },
    Ship,
}

fn illegal(order: &Order, action: &str) -> DomainError {
    DomainError::Conflict(format!(
        "an order that is {} cannot be {action}",
        order.status.as_str()
    ))
}

pub fn decide(order: &Order, command: Command) -> Result<Vec<Event>, DomainError> {
    let order_id = order.id;
    match (order.status, command) {
        (Status::New, _) => Err(DomainError::NotFound("order")),
        (Status::Placed, Command::Pay { payment_reference }) => Ok(vec![Event::OrderPaid {
            order_id,
            payment_reference,
        }]),
        (_, Command::Pay { .. }) => Err(illegal(order, "paid")),
        (Status::Paid, Command::Ship) => Ok(vec![Event::OrderShipped { order_id }]),
        (_, Command::Ship) => Err(illegal(order, "shipped")),
        (Status::Placed | Status::Paid, Command::Cancel { stock }) => {
            let mut events = vec![Event::OrderCancelled { order_id }];
            for (&product_id, &quantity) in &order.lines {
                let level = stock.get(&product_id).copied().unwrap_or(0);
                events.push(Event::StockReleased {
                    product_id,
                    order_id,
                    quantity,
                    stock: level.saturating_add(quantity),
                });
            }
            Ok(events)
        }
        (_, Command::Cancel { .. }) => Err(illegal(order, "cancelled")),
    }
}

pub fn apply(mut order: Order, event: &Event) -> Order {
    match event {
        Event::OrderPlaced {
            order_id, lines, ..
        } => {
            order.id = *order_id;
            order.status = Status::Placed;
            order.lines = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
        }
        Event::OrderPaid { .. } => order.status = Status::Paid,
        Event::OrderShipped { .. } => order.status = Status::Shipped,
        Event::OrderCancelled { .. } => order.status = Status::Cancelled,
        _ => {}
    }
    order
}

#[cfg(test)]
mod tests {
    use vitrine_contract::OrderLine;

    use super::*;

    fn placed(product: Uuid, quantity: i32) -> (Uuid, Vec<Event>) {
        let order_id = Uuid::now_v7();
        let line = OrderLine {
            product_id: product,
            sku: "S".into(),
            name: "N".into(),
            unit_price_cents: 100,
            quantity,
            line_total_cents: 100 * quantity as i64,
        };
        let events = vec![Event::OrderPlaced {
            order_id,
            session_id: Uuid::now_v7(),
            lines: vec![line],
            total_cents: 100 * quantity as i64,
            currency: "EUR".into(),
        }];
        (order_id, events)
    }

    fn given(events: &[Event]) -> Order {
        events.iter().fold(Order::default(), apply)
    }

    #[test]
    fn a_placed_order_can_be_paid_then_shipped() {
        let (id, mut history) = placed(Uuid::now_v7(), 1);
        let paid = decide(
            &given(&history),
            Command::Pay {
                payment_reference: "pay-1".into(),
            },
        )
        .unwrap();
        assert_eq!(
            paid,
            vec![Event::OrderPaid {
                order_id: id,
                payment_reference: "pay-1".into()
            }]
        );
        history.extend(paid);
        let shipped = decide(&given(&history), Command::Ship).unwrap();
        assert_eq!(shipped, vec![Event::OrderShipped { order_id: id }]);
        history.extend(shipped);
        assert_eq!(given(&history).status, Status::Shipped);
    }

    #[test]
    fn shipping_an_unpaid_order_is_a_conflict() {
        let (_, history) = placed(Uuid::now_v7(), 1);
        assert!(matches!(
            decide(&given(&history), Command::Ship),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn cancelling_returns_every_unit_to_stock() {
        let product = Uuid::now_v7();
        let (id, history) = placed(product, 3);
        let events = decide(
            &given(&history),
            Command::Cancel {
                stock: [(product, 2)].into(),
            },
        )
        .unwrap();
        assert_eq!(
            events,
            vec![
                Event::OrderCancelled { order_id: id },
                Event::StockReleased {
                    product_id: product,
                    order_id: id,
                    quantity: 3,
                    stock: 5
                },
            ]
        );
    }

    #[test]
    fn shipped_or_cancelled_orders_cannot_move_again() {
        let (id, mut history) = placed(Uuid::now_v7(), 1);
        history.push(Event::OrderCancelled { order_id: id });
        let cancelled = given(&history);
        assert!(decide(
            &cancelled,
            Command::Pay {
                payment_reference: "x".into()
            }
        )
        .is_err());
        assert!(decide(
            &cancelled,
            Command::Cancel {
                stock: BTreeMap::new()
            }
        )
        .is_err());
        history.pop();
        history.push(Event::OrderPaid {
            order_id: id,
            payment_reference: "x".into(),
        });
        history.push(Event::OrderShipped { order_id: id });
        let shipped = given(&history);
        assert!(matches!(
            decide(
                &shipped,
                Command::Cancel {
                    stock: BTreeMap::new()
                }
            ),
            Err(DomainError::Conflict(_))
        ));
    }
}
