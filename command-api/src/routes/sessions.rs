//! `POST /api/v1/sessions/`: an anonymous shopper session (a signed token, nothing stored).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::CommandHeaders;
use crate::idempotency::{self, Idempotency};
use crate::openapi::{CommandHeaderParams, SessionAnswer};
use crate::response::CommandOk;
use crate::AppState;

pub const SESSION_DAYS: i64 = 7;

#[utoipa::path(
    post,
    path = "/api/v1/sessions/",
    tag = "sessions",
    summary = "Open an anonymous session",
    params(CommandHeaderParams),
    responses(
        (status = 201, description = "a signed token, valid 7 days; nothing is stored (unless an Idempotency-Key asks for replays)", body = SessionAnswer),
        (status = 422, description = "rejected: a reused Idempotency-Key or a malformed header"),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let idem = Idempotency::new("anonymous", headers.idempotency_key, &headers.bodyless_hash);
    let issue = || {
        let session_id = Uuid::now_v7();
        let expires_at = Utc::now() + Duration::days(SESSION_DAYS);
        CommandOk {
            status: StatusCode::CREATED,
            body: json!({
                "session_id": session_id,
                "token": state.signer.issue(session_id, expires_at),
                "expires_at": expires_at,
            }),
        }
    };
    if idem.is_none() {
        return Ok(issue());
    }
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    let answer = issue();
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
}
