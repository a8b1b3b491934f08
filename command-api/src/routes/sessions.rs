//! `POST /api/v1/sessions/`: an anonymous shopper session (a signed token, nothing stored).
//!
//! An `Idempotency-Key` is refused here (422): the answer is a bearer token, and a replay
//! by key would hand it to anyone who knows or guesses the key, and keep it at rest in
//! `idempotency_keys`. Nothing is stored, so a retry without a key simply opens another
//! session; the abandoned one costs nothing.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, FieldProblem};
use crate::extract::CommandHeaders;
use crate::openapi::SessionAnswer;
use crate::response::CommandOk;
use crate::AppState;

pub const SESSION_DAYS: i64 = 7;

#[utoipa::path(
    post,
    path = "/api/v1/sessions/",
    tag = "sessions",
    summary = "Open an anonymous session",
    responses(
        (status = 201, description = "a signed token, valid 7 days; nothing is stored, so a retry simply opens another session", body = SessionAnswer),
        (status = 422, description = "rejected: an Idempotency-Key header (refused here: a replay would hand the token to whoever knows the key)"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    if headers.idempotency_key.is_some() {
        return Err(ApiError::Rejected {
            detail: "opening a session takes no Idempotency-Key: it stores nothing, so a retry \
                     without one simply opens another session, and a replayed token would go \
                     to whoever knows the key"
                .into(),
            errors: vec![FieldProblem::new("Idempotency-Key", "not accepted here")],
        });
    }
    let session_id = Uuid::now_v7();
    let expires_at = Utc::now() + Duration::days(SESSION_DAYS);
    Ok(CommandOk {
        status: StatusCode::CREATED,
        body: json!({
            "session_id": session_id,
            "token": state.signer.issue(session_id, expires_at),
            "expires_at": expires_at,
        }),
    })
}
