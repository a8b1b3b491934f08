//! Order transitions: pay and cancel (the owning session), ship (admin).

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;
use vitrine_contract::openapi::Documented;

use crate::aggregates::order::{OrderAggregate, Request};
use crate::auth::{Admin, Shopper};
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::openapi::{CommandAnswer, CommandHeaderParams, IdParam};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(pay))
        .routes(routes!(cancel))
        .routes(routes!(ship))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub payment_reference: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/pay/",
    tag = "orders",
    summary = "Pay an order",
    security(("session" = [])),
    params(IdParam, CommandHeaderParams),
    request_body = Payment,
    responses(
        (status = 200, description = "paid (with `status`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: no such order, or another session's"),
        (status = 409, description = "conflict: the order is not `placed`, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; payment_reference 1-200 characters"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn pay(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
    body: JsonBody<Payment>,
) -> Result<CommandOk, ApiError> {
    let payment_reference = body.value.payment_reference.trim().to_owned();
    let mut p = Problems::default();
    p.text("payment_reference", &payment_reference, 200);
    p.into_result()?;
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    execute::<OrderAggregate>(&state, context, Request::pay(id, payment_reference)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/cancel/",
    tag = "orders",
    summary = "Cancel an order",
    security(("session" = [])),
    params(IdParam, CommandHeaderParams),
    responses(
        (status = 200, description = "cancelled (with `status`); the stock is released", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: no such order, or another session's"),
        (status = 409, description = "conflict: the order is shipped or already cancelled, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn cancel(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<OrderAggregate>(&state, context, Request::cancel(id)).await
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/ship/",
    tag = "orders",
    summary = "Ship an order",
    security(("admin" = [])),
    params(IdParam, CommandHeaderParams),
    responses(
        (status = 200, description = "shipped (with `status`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such order"),
        (status = 409, description = "conflict: the order is not paid, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn ship(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Admin, headers);
    execute::<OrderAggregate>(&state, context, Request::ship(id)).await
}
