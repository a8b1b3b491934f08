//! The session's cart (stream `cart-{session_id}`): add, set a line's quantity, remove a
//! line, clear the cart.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::cart::{CartAggregate, Request};
use crate::auth::Shopper;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::openapi::{CommandAnswer, CommandHeaderParams, IdParam};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(add, clear))
        .routes(routes!(set_quantity, remove))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    pub product_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    pub quantity: i32,
}

#[utoipa::path(
    post,
    path = "/api/v1/cart/",
    tag = "cart",
    summary = "Add a product to the cart",
    security(("session" = [])),
    params(CommandHeaderParams),
    request_body = AddItem,
    responses(
        (status = 200, description = "added (with the cart's `items`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: no such product"),
        (status = 409, description = "conflict: discontinued, not enough stock, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; quantity 1 to `MAX_LINE_QUANTITY` (10 by default), and the line may not grow beyond it"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
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
    let max = state.config.orders.max_line_quantity;
    if !(1..=max).contains(&quantity) {
        return Err(ApiError::field(
            "quantity",
            format!("must be between 1 and {max}"),
        ));
    }
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    let request = Request::Add {
        product_id,
        quantity,
        max,
    };
    execute::<CartAggregate>(&state, context, request).await
}

#[utoipa::path(
    put,
    path = "/api/v1/cart/items/{id}/",
    tag = "cart",
    summary = "Set a line's quantity (the id is the product's)",
    security(("session" = [])),
    params(IdParam, CommandHeaderParams),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "set (0 removes the line; with `items`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: the product is not in the cart"),
        (status = 409, description = "conflict: not enough stock, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; quantity 0 to `MAX_LINE_QUANTITY` (10 by default)"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn set_quantity(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(product_id): PathId,
    headers: CommandHeaders,
    body: JsonBody<SetQuantity>,
) -> Result<CommandOk, ApiError> {
    let quantity = body.value.quantity;
    let max = state.config.orders.max_line_quantity;
    if !(0..=max).contains(&quantity) {
        return Err(ApiError::field(
            "quantity",
            format!("must be between 0 and {max}"),
        ));
    }
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    let request = Request::Set {
        product_id,
        quantity,
        max,
    };
    execute::<CartAggregate>(&state, context, request).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/cart/items/{id}/",
    tag = "cart",
    summary = "Remove a line (the id is the product's)",
    security(("session" = [])),
    params(IdParam, CommandHeaderParams),
    responses(
        (status = 200, description = "removed (with `items`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: the product is not in the cart"),
        (status = 409, description = "conflict: a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
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

#[utoipa::path(
    delete,
    path = "/api/v1/cart/",
    tag = "cart",
    summary = "Clear the cart",
    security(("session" = [])),
    params(CommandHeaderParams),
    responses(
        (status = 200, description = "cleared (`items` is empty; clearing an empty cart records nothing)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 409, description = "conflict: a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn clear(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<CartAggregate>(&state, context, Request::Clear).await
}
