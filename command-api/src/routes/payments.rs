//! `POST /api/v1/payments/webhook/`: the payment provider's signed callback, the only way
//! an order becomes paid.
//!
//! The raw body is checked against `Vitrine-Signature` (HMAC-SHA256 over `"{t}.{body}"`,
//! the timestamp within the tolerance window) before it is parsed; then the callback goes
//! through the one pipeline as a command on the order, which records the provider's event
//! id under the order's lock so that a second delivery changes nothing. A refused callback
//! records nothing.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::routes;
use uuid::Uuid;
use vitrine_contract::payment::WebhookEvent;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::order::{OrderAggregate, Request as OrderRequest};
use crate::error::ApiError;
use crate::extract::{parse_json, request_hash, CommandHeaders};
use crate::openapi::CommandAnswer;
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(webhook))
}

/// The signature header.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct SignatureParams {
    /// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with PAYMENT_WEBHOOK_SECRET>`;
    /// several `v1` entries may be sent (one must match); `t` must be within
    /// `PAYMENT_WEBHOOK_TOLERANCE_SECONDS` (300) of the server's clock.
    #[param(rename = "Vitrine-Signature")]
    vitrine_signature: String,
}

/// A provider callback.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookBody {
    /// The provider's event id, 1 to 255 characters: a retried delivery carries the same one.
    id: String,
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    kind: String,
    /// When the provider created the event (unix seconds).
    created: i64,
    data: WebhookData,
}

/// The payment a callback is about.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct WebhookData {
    /// The intent from `POST /api/v1/orders/{id}/pay/`.
    intent_id: String,
    order_id: Uuid,
    /// Must equal the order's total.
    amount_cents: i64,
    /// Must equal the order's currency.
    currency: String,
    /// `payment.failed` only.
    failure_reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/payments/webhook/",
    tag = "payments",
    summary = "The payment provider's callback",
    description = "Called by the payment provider, not by shoppers. `payment.succeeded` for the order's pending intent, with the order's amount and currency, makes the order `paid`; `payment.failed` records the failure (the shopper may start a new payment). A second delivery of an event id answers 200 and changes nothing. Refused callbacks record nothing.",
    params(SignatureParams, ("Idempotency-Key" = Option<String>, Header, description = "Optional; the event id already makes deliveries idempotent")),
    request_body = WebhookBody,
    responses(
        (status = 200, description = "applied, or already applied (with the order's `status` and `payment_status`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON; bad-request: no such order"),
        (status = 401, description = "unauthorized: the signature is missing, malformed, stale (outside the tolerance window) or does not match"),
        (status = 409, description = "conflict: money for an order that is cancelled or expired (to refund)"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 422, description = "rejected: an invalid or unknown field, an unknown event type, or an intent, amount or currency that is not the order's"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    command_headers: CommandHeaders,
    request: Request,
) -> Result<CommandOk, ApiError> {
    let limit = state.config.body_limit_bytes;
    let body = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|_| ApiError::TooLarge)?;
    crate::payments::verify(&state, &headers, &body)?;
    let event: WebhookEvent = parse_json(&body)?;
    let mut p = Problems::default();
    p.text("id", &event.id, 255);
    p.text("data.intent_id", &event.data.intent_id, 255);
    p.currency("data.currency", &event.data.currency);
    if let Some(reason) = &event.data.failure_reason {
        p.max_len("data.failure_reason", reason, 500);
    }
    // PostgreSQL refuses NUL in text and jsonb: refused here, not at the insert.
    for (field, value) in [
        ("id", Some(&event.id)),
        ("data.intent_id", Some(&event.data.intent_id)),
        ("data.failure_reason", event.data.failure_reason.as_ref()),
    ] {
        if value.is_some_and(|v| v.contains('\0')) {
            p.add(field, "must not contain NUL characters");
        }
    }
    if event.data.amount_cents < 0 {
        p.add("data.amount_cents", "must not be negative");
    }
    p.into_result()?;
    let kind = event.kind.as_str();
    let hash = request_hash(&Method::POST, "/api/v1/payments/webhook", &body);
    let context = Context::new(Caller::System("payment-provider"), command_headers, hash);
    let answer = execute::<OrderAggregate>(&state, context, OrderRequest::callback(event))
        .await
        .map_err(|e| match e {
            // The provider names an order this store never had.
            ApiError::NotFound(_) => ApiError::BadRequest("data.order_id: no such order".into()),
            other => other,
        })?;
    metrics::counter!(vitrine_runtime::metric::PAYMENT_WEBHOOKS_APPLIED_TOTAL, "type" => kind)
        .increment(1);
    Ok(answer)
}
