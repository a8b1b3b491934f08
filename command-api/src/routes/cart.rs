//! The session's cart (stream `cart-{session_id}`): add, set a line's quantity, remove a line.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

use crate::auth::Shopper;
use crate::domain::cart::{self, Cart, Command, ProductInfo};
use crate::error::ApiError;
use crate::event_store::{self, StreamAppend};
use crate::extract::{check_version, CommandHeaders, JsonBody, PathId};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub product_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    pub quantity: i32,
}

/// Creates the cart row on first use, locks it and reads its lines and version.
pub async fn lock(conn: &mut PgConnection, session_id: Uuid) -> Result<(Cart, i64), sqlx::Error> {
    sqlx::query("INSERT INTO carts (session_id, version) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM carts WHERE session_id = $1 FOR UPDATE")
            .bind(session_id)
            .fetch_one(&mut *conn)
            .await?;
    let lines: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT product_id, quantity FROM cart_lines WHERE session_id = $1 ORDER BY product_id",
    )
    .bind(session_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok((
        Cart {
            session_id,
            lines: lines.into_iter().collect(),
        },
        version,
    ))
}

/// A product named by a command (`field` is where its id came from).
async fn product(
    conn: &mut PgConnection,
    id: Uuid,
    in_body: bool,
) -> Result<ProductInfo, ApiError> {
    let discontinued: Option<bool> =
        sqlx::query_scalar("SELECT discontinued FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    match discontinued {
        Some(discontinued) => Ok(ProductInfo { id, discontinued }),
        None if in_body => Err(ApiError::field("product_id", "no such product")),
        None => Err(ApiError::NotFound("product")),
    }
}

async fn execute(
    state: &AppState,
    session_id: Uuid,
    headers: &CommandHeaders,
    hash: &str,
    command: impl FnOnce(ProductInfo) -> Command,
    product_id: Uuid,
    product_in_body: bool,
) -> Result<CommandOk, ApiError> {
    let idem = Idempotency::new(
        session_id.to_string(),
        headers.idempotency_key.clone(),
        hash,
    );
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    let (current, version) = lock(&mut tx, session_id).await?;
    check_version(headers.if_match, version)?;
    let info = product(&mut tx, product_id, product_in_body).await?;
    let events = cart::decide(&current, command(info))?;
    for event in &events {
        match event {
            Event::CartItemAdded { quantity, .. } | Event::CartItemQuantitySet { quantity, .. } => {
                sqlx::query(
                    "INSERT INTO cart_lines (session_id, product_id, quantity) VALUES ($1, $2, $3)
                     ON CONFLICT (session_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity",
                )
                .bind(session_id)
                .bind(product_id)
                .bind(quantity)
                .execute(&mut *tx)
                .await?;
            }
            Event::CartItemRemoved { .. } => {
                sqlx::query("DELETE FROM cart_lines WHERE session_id = $1 AND product_id = $2")
                    .bind(session_id)
                    .bind(product_id)
                    .execute(&mut *tx)
                    .await?;
            }
            _ => {}
        }
    }
    let stream = StreamId::cart(session_id);
    let append = StreamAppend::new(stream.clone(), version, events);
    sqlx::query("UPDATE carts SET version = $2 WHERE session_id = $1")
        .bind(session_id)
        .bind(append.version_after())
        .execute(&mut *tx)
        .await?;
    event_store::append(
        &mut tx,
        std::slice::from_ref(&append),
        &headers.meta(format!("session:{session_id}")),
    )
    .await?;
    let after = append.events.iter().fold(current, cart::apply);
    let items: Vec<_> = after
        .lines
        .iter()
        .map(|(p, q)| json!({ "product_id": p, "quantity": q }))
        .collect();
    let answer = CommandOk::new(StatusCode::OK, session_id, &stream, append.version_after())
        .with("items", items);
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn add(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    headers: CommandHeaders,
    body: JsonBody<AddItem>,
) -> Result<CommandOk, ApiError> {
    let AddItem {
        product_id,
        quantity,
    } = body.value;
    if !(1..=cart::MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::field("quantity", "must be between 1 and 999"));
    }
    let command = move |product| Command::Add { product, quantity };
    execute(
        &state, session_id, &headers, &body.hash, command, product_id, true,
    )
    .await
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn set_quantity(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(product_id): PathId,
    headers: CommandHeaders,
    body: JsonBody<SetQuantity>,
) -> Result<CommandOk, ApiError> {
    let quantity = body.value.quantity;
    if !(0..=cart::MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::field("quantity", "must be between 0 and 999"));
    }
    let command = move |product| Command::Set { product, quantity };
    execute(
        &state, session_id, &headers, &body.hash, command, product_id, false,
    )
    .await
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn remove(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(product_id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let hash = headers.bodyless_hash.clone();
    let command = move |product: ProductInfo| Command::Remove {
        product_id: product.id,
    };
    execute(
        &state, session_id, &headers, &hash, command, product_id, false,
    )
    .await
}
