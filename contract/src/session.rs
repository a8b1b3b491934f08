//! Signed anonymous-session tokens: `{session id}.{expiry unix seconds}.{HMAC-SHA256 hex}`.
//!
//! command-api issues them; query-api verifies them with the same secret and no lookup.
//! Rotation: tokens are signed with the current secret and verified with it or, when one
//! is configured, the previous one (`SESSION_SECRET_PREVIOUS`), so changing the secret
//! logs nobody out; drop the previous one once its tokens have expired (7 days).

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::secret::Secret;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the session has expired")]
    Expired,
}

#[derive(Clone, Debug)]
pub struct SessionSigner {
    secret: Secret,
    /// Verifies tokens signed before a rotation; never signs.
    previous: Option<Secret>,
}

impl SessionSigner {
    pub fn new(secret: Secret) -> Self {
        Self {
            secret,
            previous: None,
        }
    }

    /// Also accepts tokens signed with `previous` (a rotated-out secret).
    pub fn with_previous(mut self, previous: Option<Secret>) -> Self {
        self.previous = previous;
        self
    }

    fn mac(secret: &Secret, body: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(body.as_bytes());
        mac
    }

    pub fn issue(&self, session_id: Uuid, expires_at: DateTime<Utc>) -> String {
        let body = format!("{session_id}.{}", expires_at.timestamp());
        let sig = hex::encode(Self::mac(&self.secret, &body).finalize().into_bytes());
        format!("{body}.{sig}")
    }

    /// The session id of a valid, unexpired token.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Uuid, TokenError> {
        let (body, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (id, expiry) = body.split_once('.').ok_or(TokenError::Malformed)?;
        let session_id = Uuid::parse_str(id).map_err(|_| TokenError::Malformed)?;
        let expiry: i64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
        let sig = hex::decode(sig).map_err(|_| TokenError::Malformed)?;
        let signed_by = |secret: &Secret| Self::mac(secret, body).verify_slice(&sig).is_ok();
        if !signed_by(&self.secret) && !self.previous.as_ref().is_some_and(signed_by) {
            return Err(TokenError::BadSignature);
        }
        let expires_at = Utc
            .timestamp_opt(expiry, 0)
            .single()
            .ok_or(TokenError::Malformed)?;
        if expires_at <= now {
            return Err(TokenError::Expired);
        }
        Ok(session_id)
    }
}

/// The token of an `Authorization: Bearer <token>` header value. The scheme is matched
/// without regard to case (RFC 9110 §11.1), the token trimmed; any other scheme is `None`.
/// Both APIs parse the header with this, so they cannot drift apart.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_with_its_secret() {
        let signer = SessionSigner::new(Secret::new("s3cret"));
        let id = Uuid::now_v7();
        let now = Utc::now();
        let token = signer.issue(id, now + Duration::hours(1));
        assert_eq!(signer.verify(&token, now), Ok(id));
        assert_eq!(
            signer.verify(&token, now + Duration::hours(2)),
            Err(TokenError::Expired)
        );
        let other = SessionSigner::new(Secret::new("other"));
        assert_eq!(other.verify(&token, now), Err(TokenError::BadSignature));
        let forged = token.replacen(&id.to_string(), &Uuid::now_v7().to_string(), 1);
        assert_eq!(signer.verify(&forged, now), Err(TokenError::BadSignature));
        assert_eq!(signer.verify("nonsense", now), Err(TokenError::Malformed));
    }

    #[test]
    fn after_a_rotation_tokens_of_the_previous_secret_still_verify() {
        let (old, new) = (Secret::new("old secret"), Secret::new("new secret"));
        let now = Utc::now();
        let id = Uuid::now_v7();
        let token = SessionSigner::new(old.clone()).issue(id, now + Duration::hours(1));
        let rotated = SessionSigner::new(new.clone()).with_previous(Some(old));
        assert_eq!(rotated.verify(&token, now), Ok(id));
        // New tokens are signed with the new secret only.
        let fresh = rotated.issue(id, now + Duration::hours(1));
        assert_eq!(SessionSigner::new(new).verify(&fresh, now), Ok(id));
        let forged = SessionSigner::new(Secret::new("neither")).issue(id, now + Duration::hours(1));
        assert_eq!(rotated.verify(&forged, now), Err(TokenError::BadSignature));
    }
}
