//! Checkout: the session's cart becomes an order, reserving stock for every line or none.
//! The decider is in [`decide`]; the order and product rows are written by their own
//! aggregates' `persist` from the events.
//!
//! The session's unpaid orders are counted under the cart's row lock, so two checkouts of
//! one session cannot both pass the limit.
//!
//! Locks the cart row, then the products in id order (`FOR NO KEY UPDATE`, which does not
//! block cart lines referencing them), so concurrent checkouts queue instead of
//! deadlocking, and each sees the stock the previous one left. `CHECK (stock >= 0)` is the
//! backstop should a check ever be missed.

pub mod decide;

use std::collections::BTreeMap;

use axum::http::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

pub use decide::{Command, ProductSnapshot};

use crate::aggregates::cart::{self, Cart};
use crate::aggregates::DomainError;
use crate::error::ApiError;
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// `POST /api/v1/checkout/`.
pub struct CheckoutAggregate;

/// The limits a checkout runs under (from the configuration).
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub max_open_orders: i64,
    /// How long the order may stay unpaid.
    pub payment_timeout: std::time::Duration,
}

type ProductRow = (Uuid, String, String, i64, String, i32, bool, i64);

impl Aggregate for CheckoutAggregate {
    type Request = Request;
    type State = Cart;
    type Command = Command;

    async fn load(
        conn: &mut PgConnection,
        caller: &Caller,
        _: &Request,
    ) -> Result<Loaded<Cart>, ApiError> {
        let session_id = caller.session()?;
        let (cart, version) = cart::lock(conn, session_id).await?;
        Ok(Loaded {
            state: cart,
            stream: StreamId::cart(session_id),
            version: Some(version),
        })
    }

    async fn command(
        conn: &mut PgConnection,
        cart: &Cart,
        request: Request,
        versions: &mut Versions,
    ) -> Result<Command, ApiError> {
        let open_orders: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM orders WHERE session_id = $1 AND status = 'placed'",
        )
        .bind(cart.session_id)
        .fetch_one(&mut *conn)
        .await?;
        let ids: Vec<Uuid> = cart.lines.keys().copied().collect();
        let rows: Vec<ProductRow> = sqlx::query_as(
            "SELECT id, sku, name, price_cents, currency, stock, discontinued, version FROM products
             WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(&ids)
        .fetch_all(conn)
        .await?;
        let mut products = BTreeMap::new();
        for (id, sku, name, price_cents, currency, stock, discontinued, version) in rows {
            versions.insert(StreamId::product(id), version);
            products.insert(
                id,
                ProductSnapshot {
                    id,
                    sku,
                    name,
                    price_cents,
                    currency,
                    stock,
                    discontinued,
                },
            );
        }
        let timeout = chrono::Duration::from_std(request.payment_timeout)
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(Command {
            order_id: Uuid::now_v7(),
            products,
            open_orders,
            max_open_orders: request.max_open_orders,
            pay_by: chrono::Utc::now() + timeout,
        })
    }

    fn decide(cart: &Cart, command: Command) -> Result<Vec<Event>, DomainError> {
        decide::decide(cart, command)
    }

    fn apply(cart: Cart, event: &Event) -> Cart {
        cart::decide::apply(cart, event)
    }

    /// 201 naming the new order.
    fn answer(_: &Cart, appends: &[StreamAppend]) -> Result<CommandOk, ApiError> {
        let placed = appends
            .iter()
            .flat_map(|a| &a.events)
            .find_map(|e| match e {
                Event::OrderPlaced {
                    order_id,
                    total_cents,
                    currency,
                    ..
                } => Some((*order_id, *total_cents, currency.clone())),
                _ => None,
            });
        let Some((order_id, total_cents, currency)) = placed else {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "checkout recorded no OrderPlaced"
            )));
        };
        let stream = StreamId::order(order_id);
        let version = version_after(appends, &stream).unwrap_or(1);
        Ok(
            CommandOk::new(StatusCode::CREATED, order_id, &stream, version)
                .with("order_id", order_id.to_string())
                .with("total_cents", total_cents)
                .with("currency", currency)
                .with("status", "placed")
                .with("pay_by", placed_pay_by(appends)),
        )
    }

    fn committed(_: &[StreamAppend]) {
        metrics::counter!(vitrine_runtime::metric::ORDERS_PLACED_TOTAL).increment(1);
    }
}

/// The `pay_by` of the order placed, RFC 3339.
fn placed_pay_by(appends: &[StreamAppend]) -> serde_json::Value {
    appends
        .iter()
        .flat_map(|a| &a.events)
        .find_map(|e| match e {
            Event::OrderPlaced {
                pay_by: Some(due), ..
            } => Some(serde_json::json!(due)),
            _ => None,
        })
        .unwrap_or(serde_json::Value::Null)
}
