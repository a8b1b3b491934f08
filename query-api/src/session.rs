//! The shopper's session, from `Authorization: Bearer <token>`, verified without a lookup.

use axum::http::{header, HeaderMap};
use uuid::Uuid;
use vitrine_contract::session::SessionSigner;

use crate::error::ApiError;

pub fn session_id(signer: &SessionSigner, headers: &HeaderMap) -> Result<Uuid, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("a session token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(vitrine_contract::session::bearer_token)
        .ok_or(ApiError::Unauthorized(
            "send the session token as `Authorization: Bearer <token>`",
        ))?;
    signer
        .verify(token, chrono::Utc::now())
        .map_err(|_| ApiError::Unauthorized("the session token is invalid or expired"))
}
