//! `POST /api/v1/checkout/`: the session's cart becomes an order, reserving stock for
//! every line or none.
//!
//! Locks the cart row, then the products in id order (`FOR NO KEY UPDATE`, which does not
//! block cart lines referencing them), so concurrent checkouts queue instead of
//! deadlocking, and each sees the stock the previous one left. `CHECK (stock >= 0)` is the
//! backstop should a check ever be missed.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

use crate::auth::Shopper;
use crate::domain::checkout::{self, ProductSnapshot};
use crate::error::{ApiError, FieldError};
use crate::event_store::{self, StreamAppend};
use crate::extract::{check_version, CommandHeaders};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::routes::cart;
use crate::AppState;

type ProductRow = (Uuid, String, String, i64, String, i32, bool, i64);

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn checkout(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let Some(key) = headers.idempotency_key.clone() else {
        return Err(ApiError::Rejected {
            detail: "checkout needs an Idempotency-Key header so that a retry cannot order twice"
                .into(),
            errors: vec![FieldError::new("Idempotency-Key", "required")],
        });
    };
    let idem = Some(Idempotency {
        scope: session_id.to_string(),
        key,
        hash: headers.bodyless_hash.clone(),
    });
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    let (cart, cart_version) = cart::lock(&mut tx, session_id).await?;
    check_version(headers.if_match, cart_version)?;
    let ids: Vec<Uuid> = cart.lines.keys().copied().collect();
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT id, sku, name, price_cents, currency, stock, discontinued, version FROM products
         WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut versions = BTreeMap::new();
    let mut products = BTreeMap::new();
    for (id, sku, name, price_cents, currency, stock, discontinued, version) in rows {
        versions.insert(id, version);
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
    let order_id = Uuid::now_v7();
    let events = checkout::decide(&cart, checkout::Command { order_id, products })?;

    let mut appends = Vec::with_capacity(events.len());
    let (mut reserved_ids, mut reserved_qty) = (Vec::new(), Vec::new());
    let mut cart_events = Vec::new();
    let mut total = 0;
    let mut order_currency = String::new();
    for event in events {
        match &event {
            Event::OrderPlaced {
                lines,
                total_cents,
                currency,
                ..
            } => {
                total = *total_cents;
                order_currency = currency.clone();
                insert_order(&mut tx, order_id, session_id, lines, *total_cents, currency).await?;
                appends.push(StreamAppend::new(StreamId::order(order_id), 0, vec![event]));
            }
            Event::StockReserved {
                product_id,
                quantity,
                ..
            } => {
                reserved_ids.push(*product_id);
                reserved_qty.push(*quantity);
                let version = versions.get(product_id).copied().unwrap_or(0);
                appends.push(StreamAppend::new(
                    StreamId::product(*product_id),
                    version,
                    vec![event],
                ));
            }
            _ => cart_events.push(event),
        }
    }
    // One statement for every product; the CHECK constraint refuses a negative stock.
    sqlx::query(
        "UPDATE products p SET stock = p.stock - u.quantity, version = p.version + 1
         FROM UNNEST($1::uuid[], $2::int[]) AS u(id, quantity) WHERE p.id = u.id",
    )
    .bind(&reserved_ids)
    .bind(&reserved_qty)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM cart_lines WHERE session_id = $1")
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
    let cart_append = StreamAppend::new(StreamId::cart(session_id), cart_version, cart_events);
    sqlx::query("UPDATE carts SET version = $2 WHERE session_id = $1")
        .bind(session_id)
        .bind(cart_append.version_after())
        .execute(&mut *tx)
        .await?;
    appends.push(cart_append);
    event_store::append(
        &mut tx,
        &appends,
        &headers.meta(format!("session:{session_id}")),
    )
    .await?;

    let order_stream = StreamId::order(order_id);
    let answer = CommandOk::new(StatusCode::CREATED, order_id, &order_stream, 1)
        .with("order_id", order_id.to_string())
        .with("total_cents", total)
        .with("currency", order_currency)
        .with("status", "placed");
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    metrics::counter!("vitrine_orders_placed_total").increment(1);
    Ok(answer)
}

async fn insert_order(
    conn: &mut sqlx::PgConnection,
    order_id: Uuid,
    session_id: Uuid,
    lines: &[vitrine_contract::OrderLine],
    total_cents: i64,
    currency: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO orders (id, session_id, status, total_cents, currency, version) VALUES ($1, $2, 'placed', $3, $4, 1)",
    )
    .bind(order_id)
    .bind(session_id)
    .bind(total_cents)
    .bind(currency)
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
