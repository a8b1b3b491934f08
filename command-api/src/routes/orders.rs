//! Order transitions: start a payment and cancel (the owning session), ship (admin). The
//! order becomes paid only by the provider's callback ([`super::payments`]).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::routes;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::order::{OrderAggregate, Request};
use crate::auth::{Admin, Shopper};
use crate::error::ApiError;
use crate::extract::{CommandHeaders, PathId};
use crate::openapi::{CommandAnswer, CommandHeaderParams, IdParam};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(pay))
        .routes(routes!(cancel))
        .routes(routes!(ship))
}

#[utoipa::path(
    post,
    path = "/api/v1/orders/{id}/pay/",
    tag = "orders",
    summary = "Start paying an order",
    description = "Starts a payment at the payment provider and answers what the client hands to it: `intent_id`, `client_secret`, `amount_cents`, `currency` (with `status: \"placed\"`, `payment_status: \"pending\"`). The order is NOT paid by this call: it becomes `paid` when the provider's signed callback (`POST /api/v1/payments/webhook/`) confirms the payment. While a payment is pending, calling again answers the same intent. Any request body is ignored.",
    security(("session" = [])),
    params(IdParam, CommandHeaderParams),
    responses(
        (status = 202, description = "the payment is pending at the provider (with `intent_id`, `client_secret`, `amount_cents`, `currency`, `payment_status`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: no such order, or another session's"),
        (status = 409, description = "conflict: the order is not `placed` (paid, shipped, cancelled or expired), or a stale If-Match"),
        (status = 422, description = "rejected: a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn pay(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let secret = crate::payments::secret(&state)?;
    let context = Context::bodyless(Caller::Session(session_id), headers);
    let mut answer = execute::<OrderAggregate>(&state, context, Request::start_payment(id)).await?;
    answer.status = StatusCode::ACCEPTED;
    // Derived on every answer (a replay too), so the client secret is stored nowhere.
    let intent_id = answer.body["intent_id"].as_str().map(str::to_owned);
    if let Some(intent_id) = intent_id {
        let client_secret = vitrine_contract::payment::client_secret(secret, &intent_id);
        answer = answer.with("client_secret", client_secret);
    }
    Ok(answer)
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
        (status = 409, description = "conflict: the order is shipped, expired or already cancelled, or a stale If-Match"),
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
        (status = 409, description = "conflict: the order is not paid (only the provider's confirmed payment makes it paid), or a stale If-Match"),
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
