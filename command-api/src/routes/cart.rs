//! The session's cart (stream `cart-{session_id}`): add, set a line's quantity, remove a
//! line, clear the cart.

use axum::extract::State;
use axum::routing::{delete, post, put};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use super::both;
use crate::aggregates::cart::{CartAggregate, Request, MAX_QUANTITY};
use crate::auth::Shopper;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    let r = both(Router::new(), "/api/v1/cart/", post(add).delete(clear));
    both(
        r,
        "/api/v1/cart/items/{id}/",
        put(set_quantity).merge(delete(remove)),
    )
}

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
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::field("quantity", "must be between 1 and 999"));
    }
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    let request = Request::Add {
        product_id,
        quantity,
    };
    execute::<CartAggregate>(&state, context, request).await
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
    if !(0..=MAX_QUANTITY).contains(&quantity) {
        return Err(ApiError::field("quantity", "must be between 0 and 999"));
    }
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    let request = Request::Set {
        product_id,
        quantity,
    };
    execute::<CartAggregate>(&state, context, request).await
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn remove(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(product_id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<CartAggregate>(&state, context, Request::Remove { product_id }).await
}

#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn clear(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<CartAggregate>(&state, context, Request::Clear).await
}
