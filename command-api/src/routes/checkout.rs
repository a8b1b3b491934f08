//! `POST /api/v1/checkout/`: the session's cart becomes an order (see
//! [`crate::aggregates::checkout`]). A retry must not order twice, so the
//! `Idempotency-Key` is required.

use axum::extract::State;
use utoipa_axum::routes;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::checkout::{CheckoutAggregate, Request};
use crate::auth::Shopper;
use crate::error::{ApiError, FieldProblem};
use crate::extract::CommandHeaders;
use crate::openapi::{CommandAnswer, CommandHeaderParams};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(checkout))
}

#[utoipa::path(
    post,
    path = "/api/v1/checkout/",
    tag = "checkout",
    summary = "Turn the cart into an order",
    security(("session" = [])),
    params(CommandHeaderParams),
    responses(
        (status = 201, description = "the order is placed (with `order_id`, `total_cents`, `currency`, `status`, `pay_by`); stock is reserved until `pay_by` (`ORDER_PAYMENT_TIMEOUT`, 30 minutes by default) and the cart emptied", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 200, description = "a replay of the first answer to this Idempotency-Key", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 409, description = "conflict: the session already holds `MAX_OPEN_ORDERS_PER_SESSION` (3 by default) unpaid orders, a product is discontinued or short of stock (with `errors` per product), or a stale If-Match"),
        (status = 422, description = "rejected: the cart is empty, an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; the Idempotency-Key header is required here"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(session_id = %session_id))]
pub async fn checkout(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    if headers.idempotency_key.is_none() {
        return Err(ApiError::Rejected {
            detail: "checkout needs an Idempotency-Key header so that a retry cannot order twice"
                .into(),
            errors: vec![FieldProblem::new("Idempotency-Key", "required")],
        });
    }
    let orders = &state.config.orders;
    let request = Request {
        max_open_orders: orders.max_open_orders,
        payment_timeout: orders.order_payment_timeout,
    };
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<CheckoutAggregate>(&state, context, request).await
}
