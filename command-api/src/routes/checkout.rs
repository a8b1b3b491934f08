//! `POST /api/v1/checkout/`: the session's cart becomes an order (see
//! [`crate::aggregates::checkout`]). A retry must not order twice, so the
//! `Idempotency-Key` is required.

use axum::extract::State;
use axum::routing::post;
use axum::Router;

use super::both;
use crate::aggregates::checkout::CheckoutAggregate;
use crate::auth::Shopper;
use crate::error::{ApiError, FieldError};
use crate::extract::CommandHeaders;
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    both(Router::new(), "/api/v1/checkout/", post(checkout))
}

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
            errors: vec![FieldError::new("Idempotency-Key", "required")],
        });
    }
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<CheckoutAggregate>(&state, context, ()).await
}
