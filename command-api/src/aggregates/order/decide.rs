//! The order state machine:
//!
//! ```text
//! placed ──(provider: payment.succeeded)──► paid ──► shipped
//!   │  └─ payment: none → pending (shopper starts) → failed (provider) → pending …
//!   ├──(shopper cancels)──► cancelled      (paid → cancelled too; stock returns)
//!   └──(pay_by passed)────► expired        (stock returns)
//! ```
//!
//! Only the provider's signed callback pays an order; the shopper's call only starts a
//! payment. A callback must name the order's current payment intent, its amount and
//! currency; a callback whose event id was applied before changes nothing.

use std::collections::BTreeMap;

use uuid::Uuid;
use vitrine_contract::payment::{WebhookEvent, WebhookKind};
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
    Expired,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Placed => "placed",
            Status::Paid => "paid",
            Status::Shipped => "shipped",
            Status::Cancelled => "cancelled",
            Status::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Status {
        match s {
            "placed" => Status::Placed,
            "paid" => Status::Paid,
            "shipped" => Status::Shipped,
            "cancelled" => Status::Cancelled,
            "expired" => Status::Expired,
            _ => Status::New,
        }
    }
}

/// The current payment attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PaymentStatus {
    #[default]
    None,
    Pending,
    Paid,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::None => "none",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> PaymentStatus {
        match s {
            "pending" => PaymentStatus::Pending,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            _ => PaymentStatus::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Order {
    pub id: Uuid,
    pub status: Status,
    /// product id → quantity.
    pub lines: BTreeMap<Uuid, i32>,
    pub total_cents: i64,
    pub currency: String,
    pub payment: PaymentStatus,
    /// The payment intent of the current attempt.
    pub intent_id: Option<String>,
    /// The order stream's version.
    pub version: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// The shopper pays: `intent_id` is the new intent, used unless one is pending.
    StartPayment {
        intent_id: String,
    },
    /// A verified provider callback; `duplicate`: its event id was applied before.
    Callback {
        event: WebhookEvent,
        duplicate: bool,
    },
    /// `stock`: the current level of every product of the order (looked up, locked).
    Cancel {
        stock: BTreeMap<Uuid, i32>,
    },
    Ship,
    /// The payment deadline passed (the deadline loop); `stock` as for `Cancel`.
    Expire {
        stock: BTreeMap<Uuid, i32>,
    },
}

fn illegal(order: &Order, action: &str) -> DomainError {
    DomainError::Conflict(format!(
        "an order that is {} cannot be {action}",
        order.status.as_str()
    ))
}

/// `StockReleased` for every line, from the locked levels in `stock`.
fn release(order: &Order, stock: &BTreeMap<Uuid, i32>) -> Vec<Event> {
    order
        .lines
        .iter()
        .map(|(&product_id, &quantity)| Event::StockReleased {
            product_id,
            order_id: order.id,
            quantity,
            stock: stock
                .get(&product_id)
                .copied()
                .unwrap_or(0)
                .saturating_add(quantity),
        })
        .collect()
}

pub fn decide(order: &Order, command: Command) -> Result<Vec<Event>, DomainError> {
    let order_id = order.id;
    match (order.status, command) {
        (Status::New, _) => Err(DomainError::NotFound("order")),
        (Status::Placed, Command::StartPayment { .. })
            if order.payment == PaymentStatus::Pending =>
        {
            // A retried start gets the pending intent again, not a second one.
            Ok(vec![])
        }
        (Status::Placed, Command::StartPayment { intent_id }) => Ok(vec![Event::PaymentStarted {
            order_id,
            intent_id,
            amount_cents: order.total_cents,
            currency: order.currency.clone(),
        }]),
        (_, Command::StartPayment { .. }) => Err(illegal(order, "paid")),
        (
            _,
            Command::Callback {
                duplicate: true, ..
            },
        ) => Ok(vec![]),
        (status, Command::Callback { event, .. }) => callback(order, status, event),
        (Status::Paid, Command::Ship) => Ok(vec![Event::OrderShipped { order_id }]),
        (_, Command::Ship) => Err(illegal(order, "shipped")),
        (Status::Placed | Status::Paid, Command::Cancel { stock }) => {
            let mut events = vec![Event::OrderCancelled { order_id }];
            events.extend(release(order, &stock));
            Ok(events)
        }
        (_, Command::Cancel { .. }) => Err(illegal(order, "cancelled")),
        (Status::Placed, Command::Expire { stock }) => {
            let mut events = vec![Event::OrderExpired { order_id }];
            events.extend(release(order, &stock));
            Ok(events)
        }
        (_, Command::Expire { .. }) => Err(illegal(order, "expired")),
    }
}

/// A provider callback: it must be about the current intent, for the order's amount.
fn callback(order: &Order, status: Status, event: WebhookEvent) -> Result<Vec<Event>, DomainError> {
    let data = event.data;
    if order.intent_id.as_deref() != Some(data.intent_id.as_str()) {
        return Err(DomainError::invalid(
            "data.intent_id",
            "not the payment this order is waiting for",
        ));
    }
    if data.amount_cents != order.total_cents || data.currency != order.currency {
        return Err(DomainError::invalid(
            "data.amount_cents",
            format!(
                "the order is {} {}, the payment {} {}",
                order.total_cents, order.currency, data.amount_cents, data.currency
            ),
        ));
    }
    let order_id = order.id;
    match (event.kind, status) {
        (WebhookKind::Succeeded, Status::Placed) => Ok(vec![Event::OrderPaid {
            order_id,
            payment_reference: data.intent_id,
        }]),
        // Already paid by this intent: a second report of it changes nothing.
        (WebhookKind::Succeeded, Status::Paid | Status::Shipped) => Ok(vec![]),
        // Money arrived for an order that gave its stock back: refused, so that it
        // shows up at the provider as a failed delivery to refund by hand.
        (WebhookKind::Succeeded, _) => Err(DomainError::Conflict(format!(
            "the order is {}: the payment {} must be refunded",
            status.as_str(),
            data.intent_id
        ))),
        (WebhookKind::Failed, Status::Placed) if order.payment == PaymentStatus::Pending => {
            Ok(vec![Event::PaymentFailed {
                order_id,
                intent_id: data.intent_id,
                reason: data
                    .failure_reason
                    .unwrap_or_else(|| "unspecified".to_owned()),
            }])
        }
        // Failed already, or closed: nothing left to record.
        (WebhookKind::Failed, _) => Ok(vec![]),
    }
}

pub fn apply(mut order: Order, event: &Event) -> Order {
    order.version += 1;
    match event {
        Event::OrderPlaced {
            order_id,
            lines,
            total_cents,
            currency,
            ..
        } => {
            order.id = *order_id;
            order.status = Status::Placed;
            order.lines = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
            order.total_cents = *total_cents;
            order.currency = currency.clone();
        }
        Event::PaymentStarted { intent_id, .. } => {
            order.payment = PaymentStatus::Pending;
            order.intent_id = Some(intent_id.clone());
        }
        Event::PaymentFailed { .. } => order.payment = PaymentStatus::Failed,
        Event::OrderPaid { .. } => {
            order.status = Status::Paid;
            order.payment = PaymentStatus::Paid;
        }
        Event::OrderShipped { .. } => order.status = Status::Shipped,
        Event::OrderCancelled { .. } => order.status = Status::Cancelled,
        Event::OrderExpired { .. } => order.status = Status::Expired,
        _ => order.version -= 1, // not this stream's
    }
    order
}

#[cfg(test)]
mod tests {
    use vitrine_contract::payment::PaymentData;
    use vitrine_contract::OrderLine;

    use super::*;

    const PRICE: i64 = 100;

    fn placed(product: Uuid, quantity: i32) -> (Uuid, Vec<Event>) {
        let order_id = Uuid::now_v7();
        let line = OrderLine {
            product_id: product,
            sku: "S".into(),
            name: "N".into(),
            unit_price_cents: PRICE,
            quantity,
            line_total_cents: PRICE * quantity as i64,
        };
        let events = vec![Event::OrderPlaced {
            order_id,
            session_id: Uuid::now_v7(),
            lines: vec![line],
            total_cents: PRICE * quantity as i64,
            currency: "EUR".into(),
            pay_by: None,
        }];
        (order_id, events)
    }

    fn given(events: &[Event]) -> Order {
        events.iter().fold(Order::default(), apply)
    }

    fn start(intent: &str) -> Command {
        Command::StartPayment {
            intent_id: intent.into(),
        }
    }

    fn callback(kind: WebhookKind, order: Uuid, intent: &str, amount: i64) -> Command {
        Command::Callback {
            event: WebhookEvent {
                id: format!("evt_{}", Uuid::now_v7().simple()),
                kind,
                created: 0,
                data: PaymentData {
                    intent_id: intent.into(),
                    order_id: order,
                    amount_cents: amount,
                    currency: "EUR".into(),
                    failure_reason: None,
                },
            },
            duplicate: false,
        }
    }

    /// A placed order of one unit with a started payment `pi_1`.
    fn pending() -> (Uuid, Vec<Event>) {
        let (id, mut history) = placed(Uuid::now_v7(), 1);
        history.extend(decide(&given(&history), start("pi_1")).unwrap());
        (id, history)
    }

    #[test]
    fn starting_a_payment_records_an_intent_for_the_order_total_and_does_not_pay() {
        let (id, history) = placed(Uuid::now_v7(), 3);
        let events = decide(&given(&history), start("pi_1")).unwrap();
        assert_eq!(
            events,
            vec![Event::PaymentStarted {
                order_id: id,
                intent_id: "pi_1".into(),
                amount_cents: 3 * PRICE,
                currency: "EUR".into(),
            }]
        );
        let after = events.iter().fold(given(&history), apply);
        assert_eq!(after.status, Status::Placed);
        assert_eq!(after.payment, PaymentStatus::Pending);
        assert_eq!(after.version, 2);
    }

    #[test]
    fn starting_again_while_pending_keeps_the_pending_intent() {
        let (_, history) = pending();
        assert_eq!(decide(&given(&history), start("pi_2")), Ok(vec![]));
        assert_eq!(given(&history).intent_id.as_deref(), Some("pi_1"));
    }

    #[test]
    fn the_providers_success_pays_the_order_and_then_it_can_be_shipped() {
        let (id, mut history) = pending();
        let paid = decide(
            &given(&history),
            callback(WebhookKind::Succeeded, id, "pi_1", PRICE),
        )
        .unwrap();
        assert_eq!(
            paid,
            vec![Event::OrderPaid {
                order_id: id,
                payment_reference: "pi_1".into()
            }]
        );
        history.extend(paid);
        let shipped = decide(&given(&history), Command::Ship).unwrap();
        assert_eq!(shipped, vec![Event::OrderShipped { order_id: id }]);
        history.extend(shipped);
        assert_eq!(given(&history).status, Status::Shipped);
    }

    #[test]
    fn a_second_delivery_of_one_callback_changes_nothing() {
        let (id, history) = pending();
        let Command::Callback { event, .. } = callback(WebhookKind::Succeeded, id, "pi_1", PRICE)
        else {
            unreachable!()
        };
        let again = Command::Callback {
            event,
            duplicate: true,
        };
        assert_eq!(decide(&given(&history), again), Ok(vec![]));
    }

    #[test]
    fn a_success_already_applied_under_another_event_id_changes_nothing() {
        let (id, mut history) = pending();
        history.push(Event::OrderPaid {
            order_id: id,
            payment_reference: "pi_1".into(),
        });
        let again = callback(WebhookKind::Succeeded, id, "pi_1", PRICE);
        assert_eq!(decide(&given(&history), again), Ok(vec![]));
    }

    #[test]
    fn a_callback_for_another_intent_or_amount_is_refused() {
        let (id, history) = pending();
        let order = given(&history);
        for (intent, amount, field) in [
            ("pi_other", PRICE, "data.intent_id"),
            ("pi_1", PRICE - 1, "data.amount_cents"),
        ] {
            match decide(&order, callback(WebhookKind::Succeeded, id, intent, amount)) {
                Err(DomainError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected a refusal naming {field}, got {other:?}"),
            }
        }
        // No payment started: nothing to confirm.
        let (id, history) = placed(Uuid::now_v7(), 1);
        assert!(decide(
            &given(&history),
            callback(WebhookKind::Succeeded, id, "pi_1", PRICE)
        )
        .is_err());
    }

    #[test]
    fn a_failed_payment_leaves_the_order_placed_and_a_new_attempt_can_start() {
        let (id, mut history) = pending();
        let failed = decide(
            &given(&history),
            callback(WebhookKind::Failed, id, "pi_1", PRICE),
        )
        .unwrap();
        assert!(matches!(failed[..], [Event::PaymentFailed { .. }]));
        history.extend(failed);
        let order = given(&history);
        assert_eq!(
            (order.status, order.payment),
            (Status::Placed, PaymentStatus::Failed)
        );
        assert!(matches!(
            decide(&order, Command::Ship),
            Err(DomainError::Conflict(_))
        ));
        let retry = decide(&order, start("pi_2")).unwrap();
        assert!(
            matches!(&retry[..], [Event::PaymentStarted { intent_id, .. }] if intent_id == "pi_2")
        );
    }

    #[test]
    fn shipping_an_unpaid_order_is_a_conflict() {
        let (_, history) = pending();
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
    fn an_unpaid_order_past_its_deadline_expires_and_returns_its_stock() {
        let product = Uuid::now_v7();
        let (id, mut history) = placed(product, 2);
        history.extend(decide(&given(&history), start("pi_1")).unwrap());
        let events = decide(
            &given(&history),
            Command::Expire {
                stock: [(product, 0)].into(),
            },
        )
        .unwrap();
        assert_eq!(
            events,
            vec![
                Event::OrderExpired { order_id: id },
                Event::StockReleased {
                    product_id: product,
                    order_id: id,
                    quantity: 2,
                    stock: 2
                },
            ]
        );
        history.extend(events);
        let expired = given(&history);
        assert_eq!(expired.status, Status::Expired);
        // Expiring twice, or paying afterwards, is refused.
        assert!(decide(
            &expired,
            Command::Expire {
                stock: BTreeMap::new()
            }
        )
        .is_err());
        assert!(matches!(
            decide(
                &expired,
                callback(WebhookKind::Succeeded, id, "pi_1", 2 * PRICE)
            ),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn a_paid_or_cancelled_order_never_expires() {
        let (id, mut history) = pending();
        history.push(Event::OrderPaid {
            order_id: id,
            payment_reference: "pi_1".into(),
        });
        let expire = || Command::Expire {
            stock: BTreeMap::new(),
        };
        assert!(matches!(
            decide(&given(&history), expire()),
            Err(DomainError::Conflict(_))
        ));
        let (id, mut history) = placed(Uuid::now_v7(), 1);
        history.push(Event::OrderCancelled { order_id: id });
        assert!(matches!(
            decide(&given(&history), expire()),
            Err(DomainError::Conflict(_))
        ));
    }

    #[test]
    fn shipped_or_cancelled_orders_cannot_move_again() {
        let (id, mut history) = pending();
        history.push(Event::OrderCancelled { order_id: id });
        let cancelled = given(&history);
        assert!(decide(&cancelled, start("pi_2")).is_err());
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
            payment_reference: "pi_1".into(),
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
