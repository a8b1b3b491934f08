//! Orders (stream `order-{id}`): the row lock (another session's order is not found), the
//! product locks a cancel needs, and the write model (`orders`, `order_lines`). The state
//! machine is in [`decide`].

pub mod decide;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, OrderLine, StreamId};

pub use decide::{Command, Order, Status};

use crate::aggregates::DomainError;
use crate::error::ApiError;
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// Pay, cancel, ship.
pub struct OrderAggregate;

/// A transition of order `id`.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: Uuid,
    pub command: Command,
}

impl Request {
    pub fn pay(id: Uuid, payment_reference: String) -> Self {
        let command = Command::Pay { payment_reference };
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
        let row: Option<(Uuid, String, i64)> = sqlx::query_as(
            "SELECT session_id, status, version FROM orders WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
        let (owner, status, version) = row.ok_or(ApiError::NotFound("order"))?;
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
        if let Command::Cancel { stock } = &mut command {
            // Only a legal cancel touches products; lock them in id order like checkout does.
            if matches!(order.status, Status::Placed | Status::Paid) {
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
            }
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
        let version = version_after(appends, &stream).unwrap_or(0);
        Ok(CommandOk::new(StatusCode::OK, after.id, &stream, version)
            .with("status", after.status.as_str()))
    }
}

/// Writes order events to `orders` and `order_lines`.
pub async fn persist(conn: &mut PgConnection, appends: &[&StreamAppend]) -> Result<(), ApiError> {
    for append in appends {
        let id = append.stream.id();
        let (mut status, mut payment) = (None, None);
        for event in &append.events {
            match event {
                Event::OrderPlaced {
                    session_id,
                    lines,
                    total_cents,
                    currency,
                    ..
                } => {
                    let version = append.version_before + 1;
                    insert(
                        conn,
                        id,
                        *session_id,
                        lines,
                        *total_cents,
                        currency,
                        version,
                    )
                    .await?;
                }
                Event::OrderPaid {
                    payment_reference, ..
                } => {
                    status = Some(Status::Paid);
                    payment = Some(payment_reference.clone());
                }
                Event::OrderShipped { .. } => status = Some(Status::Shipped),
                Event::OrderCancelled { .. } => status = Some(Status::Cancelled),
                _ => {}
            }
        }
        if let Some(status) = status {
            sqlx::query(
                "UPDATE orders SET status = $2, version = $3, payment_reference = COALESCE($4, payment_reference) WHERE id = $1",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(append.version_after())
            .bind(payment)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

async fn insert(
    conn: &mut PgConnection,
    order_id: Uuid,
    session_id: Uuid,
    lines: &[OrderLine],
    total_cents: i64,
    currency: &str,
    version: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (id, session_id, status, total_cents, currency, version) VALUES ($1, $2, 'placed', $3, $4, $5)",
    )
    .bind(order_id)
    .bind(session_id)
    .bind(total_cents)
    .bind(currency)
    .bind(version)
    .execute(&mut *conn)
    .await?;
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
