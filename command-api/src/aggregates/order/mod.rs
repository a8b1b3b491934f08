//! Orders (stream `order-{id}`): the row lock (another session's order is not found), the
//! product locks a cancel or an expiry needs, the record of provider events already
//! applied (`payment_webhook_events`), and the write model (`orders`, `order_lines`, and
//! the payment deadline in `order_deadlines`, inserted with `OrderPlaced` and deleted by
//! whatever closes the order). The state machine is in [`decide`].

pub mod decide;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::payment::WebhookEvent;
use vitrine_contract::{Event, OrderLine, StreamId};

pub use decide::{Command, Order, PaymentStatus, Status};

use crate::aggregates::DomainError;
use crate::error::ApiError;
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// Start a payment, a provider callback, cancel, ship, expire.
pub struct OrderAggregate;

/// A transition of order `id`.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Uuid,
    pub command: Command,
}

impl Request {
    /// The intent id is made here, once: an `Idempotency-Key` replay answers the first.
    pub fn start_payment(id: Uuid) -> Self {
        let intent_id = vitrine_contract::payment::new_intent_id();
        let command = Command::StartPayment { intent_id };
        Self { id, command }
    }
    /// A verified provider callback (whether it is a duplicate is looked up).
    pub fn callback(event: WebhookEvent) -> Self {
        let id = event.data.order_id;
        let command = Command::Callback {
            event,
            duplicate: false,
        };
        Self { id, command }
    }
    pub fn expire(id: Uuid) -> Self {
        let command = Command::Expire {
            stock: BTreeMap::new(),
        };
        Self { id, command }
    }
    pub fn cancel(id: Uuid) -> Self {
        let command = Command::Cancel {
            stock: BTreeMap::new(),
        };
        Self { id, command }
    }
    pub fn ship(id: Uuid) -> Self {
        let command = Command::Ship;
        Self { id, command }
    }
}

impl Aggregate for OrderAggregate {
    type Request = Request;
    type State = Order;
    type Command = Command;

    async fn load(
        conn: &mut PgConnection,
        caller: &Caller,
        request: &Request,
    ) -> Result<Loaded<Order>, ApiError> {
        let id = request.id;
        let row: Option<OrderRow> = sqlx::query_as(
            "SELECT session_id, status, version, total_cents, currency, payment_status, payment_intent
             FROM orders WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let (owner, status, version, total_cents, currency, payment, intent_id) =
            row.ok_or(ApiError::NotFound("order"))?;
        if matches!(caller, Caller::Session(s) if *s != owner) {
            return Err(ApiError::NotFound("order"));
        }
        let lines: Vec<(Uuid, i32)> =
            sqlx::query_as("SELECT product_id, quantity FROM order_lines WHERE order_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        let order = Order {
            id,
            status: Status::parse(&status),
            lines: lines.into_iter().collect(),
            total_cents,
            currency,
            payment: PaymentStatus::parse(&payment),
            intent_id,
            version,
        };
        Ok(Loaded {
            state: order,
            stream: StreamId::order(id),
            version: Some(version),
        })
    }

    async fn command(
        conn: &mut PgConnection,
        order: &Order,
        request: Request,
        versions: &mut Versions,
    ) -> Result<Command, ApiError> {
        let mut command = request.command;
        match &mut command {
            // Only a legal cancel or expiry touches products; lock them in id order like
            // checkout does.
            Command::Cancel { stock } if matches!(order.status, Status::Placed | Status::Paid) => {
                lock_stock(conn, order, stock, versions).await?;
            }
            Command::Expire { stock } if order.status == Status::Placed => {
                lock_stock(conn, order, stock, versions).await?;
            }
            Command::Callback { event, duplicate } => {
                // Under the order's row lock: a concurrent second delivery waits, then
                // finds this row. Rolled back with everything else if refused, so a
                // refused event can be delivered again.
                let recorded = sqlx::query(
                    "INSERT INTO payment_webhook_events (event_id, order_id, kind) VALUES ($1, $2, $3)
                     ON CONFLICT (event_id) DO NOTHING",
                )
                .bind(&event.id)
                .bind(order.id)
                .bind(event.kind.as_str())
                .execute(conn)
                .await?
                .rows_affected();
                *duplicate = recorded == 0;
            }
            _ => {}
        }
        Ok(command)
    }

    fn decide(order: &Order, command: Command) -> Result<Vec<Event>, DomainError> {
        decide::decide(order, command)
    }

    fn apply(order: Order, event: &Event) -> Order {
        decide::apply(order, event)
    }

    fn answer(after: &Order, appends: &[StreamAppend]) -> Result<CommandOk, ApiError> {
        let stream = StreamId::order(after.id);
        let version = version_after(appends, &stream).unwrap_or(after.version);
        let mut answer = CommandOk::new(StatusCode::OK, after.id, &stream, version)
            .with("status", after.status.as_str())
            .with("payment_status", after.payment.as_str());
        if let Some(intent_id) = &after.intent_id {
            answer = answer
                .with("intent_id", intent_id.as_str())
                .with("amount_cents", after.total_cents)
                .with("currency", after.currency.as_str());
        }
        Ok(answer)
    }
}

type OrderRow = (Uuid, String, i64, i64, String, String, Option<String>);

/// Locks the order's products in id order and records their stock levels and versions.
async fn lock_stock(
    conn: &mut PgConnection,
    order: &Order,
    stock: &mut BTreeMap<Uuid, i32>,
    versions: &mut Versions,
) -> Result<(), ApiError> {
    let ids: Vec<Uuid> = order.lines.keys().copied().collect();
    let rows: Vec<(Uuid, i32, i64)> = sqlx::query_as(
        "SELECT id, stock, version FROM products WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    for (product_id, level, version) in rows {
        stock.insert(product_id, level);
        versions.insert(StreamId::product(product_id), version);
    }
    Ok(())
}

/// Writes order events to `orders`, `order_lines` and `order_deadlines`.
pub async fn persist(conn: &mut PgConnection, appends: &[&StreamAppend]) -> Result<(), ApiError> {
    for append in appends {
        let id = append.stream.id();
        let mut changed = false;
        let (mut status, mut payment, mut intent, mut reference) = (None, None, None, None);
        let mut closed = false;
        for event in &append.events {
            match event {
                Event::OrderPlaced {
                    session_id,
                    lines,
                    total_cents,
                    currency,
                    pay_by,
                    ..
                } => {
                    let placed = Placed {
                        session_id: *session_id,
                        lines,
                        total_cents: *total_cents,
                        currency,
                        pay_by: *pay_by,
                        version: append.version_before + 1,
                    };
                    insert(conn, id, placed).await?;
                }
                Event::PaymentStarted { intent_id, .. } => {
                    payment = Some(PaymentStatus::Pending);
                    intent = Some(intent_id.clone());
                }
                Event::PaymentFailed { .. } => payment = Some(PaymentStatus::Failed),
                Event::OrderPaid {
                    payment_reference, ..
                } => {
                    status = Some(Status::Paid);
                    payment = Some(PaymentStatus::Paid);
                    reference = Some(payment_reference.clone());
                    closed = true;
                }
                Event::OrderShipped { .. } => status = Some(Status::Shipped),
                Event::OrderCancelled { .. } => {
                    status = Some(Status::Cancelled);
                    closed = true;
                }
                Event::OrderExpired { .. } => {
                    status = Some(Status::Expired);
                    closed = true;
                }
                _ => continue,
            }
            changed |= !matches!(event, Event::OrderPlaced { .. });
        }
        if changed {
            sqlx::query(
                "UPDATE orders SET status = COALESCE($2, status), version = $3,
                     payment_reference = COALESCE($4, payment_reference),
                     payment_status = COALESCE($5, payment_status),
                     payment_intent = COALESCE($6, payment_intent)
                 WHERE id = $1",
            )
            .bind(id)
            .bind(status.map(Status::as_str))
            .bind(append.version_after())
            .bind(reference)
            .bind(payment.map(PaymentStatus::as_str))
            .bind(intent)
            .execute(&mut *conn)
            .await?;
        }
        if closed {
            // Paid, cancelled or expired: no deadline left to act on.
            sqlx::query("DELETE FROM order_deadlines WHERE order_id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// What `OrderPlaced` writes.
struct Placed<'a> {
    session_id: Uuid,
    lines: &'a [OrderLine],
    total_cents: i64,
    currency: &'a str,
    pay_by: Option<DateTime<Utc>>,
    version: i64,
}

async fn insert(conn: &mut PgConnection, order_id: Uuid, o: Placed<'_>) -> Result<(), sqlx::Error> {
    let Placed {
        session_id,
        lines,
        total_cents,
        currency,
        pay_by,
        version,
    } = o;
    sqlx::query(
        "INSERT INTO orders (id, session_id, status, total_cents, currency, version, pay_by) VALUES ($1, $2, 'placed', $3, $4, $5, $6)",
    )
    .bind(order_id)
    .bind(session_id)
    .bind(total_cents)
    .bind(currency)
    .bind(version)
    .bind(pay_by)
    .execute(&mut *conn)
    .await?;
    if let Some(due_at) = pay_by {
        // The expiry timer, durable and in the same transaction as the order itself.
        sqlx::query("INSERT INTO order_deadlines (order_id, due_at) VALUES ($1, $2)")
            .bind(order_id)
            .bind(due_at)
            .execute(&mut *conn)
            .await?;
    }
    let product_ids: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price_cents).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let totals: Vec<i64> = lines.iter().map(|l| l.line_total_cents).collect();
    sqlx::query(
        "INSERT INTO order_lines (order_id, product_id, sku, name, unit_price_cents, quantity, line_total_cents)
         SELECT $1, * FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::bigint[], $6::int[], $7::bigint[])",
    )
    .bind(order_id)
    .bind(&product_ids)
    .bind(&skus)
    .bind(&names)
    .bind(&prices)
    .bind(&quantities)
    .bind(&totals)
    .execute(conn)
    .await?;
    Ok(())
}
