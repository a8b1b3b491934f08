//! Who is calling: the admin (bearer `ADMIN_TOKEN`) or a shopper session (signed token).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;

/// The caller presented the admin token.
pub struct Admin;

/// The caller's session id, from a valid session token.
pub struct Shopper(pub Uuid);

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    vitrine_contract::session::bearer_token(value)
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "send Authorization: Bearer <admin token>",
        ))?;
        if constant_time_eq(token.as_bytes(), state.admin_token.expose().as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("the admin token is not valid"))
        }
    }
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(
            "send Authorization: Bearer <session token>",
        ))?;
        state
            .signer
            .verify(token, Utc::now())
            .map(Shopper)
            .map_err(|_| ApiError::Unauthorized("the session token is not valid"))
    }
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"dev-admin-token", b"dev-admin-token"));
        assert!(!constant_time_eq(b"dev-admin-token", b"dev-admin-tokem"));
        assert!(!constant_time_eq(b"dev", b"dev-admin-token"));
    }
}
