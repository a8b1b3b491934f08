//! The payment provider's webhook contract: how a callback is signed, what it carries, and
//! a fake provider that signs callbacks exactly like the real one would.
//!
//! The scheme is the one the common providers use (Stripe's `Stripe-Signature`):
//! header `Vitrine-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`
//! with a secret shared by the provider and command-api (`PAYMENT_WEBHOOK_SECRET`).
//! Signing the timestamp with the body lets the receiver refuse an old capture replayed
//! later (the tolerance window); the provider's event `id` lets it refuse a second
//! delivery of one event (command-api stores the ids it has applied). Several `v1=`
//! entries may be sent (a provider rolling its secret signs with both); one match is
//! enough.
//!
//! command-api verifies ([`verify`]); the tests and the load scenario pay through
//! [`FakeProvider`], which is also what a client of the real provider would see.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Vitrine-Signature";

/// How far a callback's timestamp may be from the receiver's clock (either way).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The shortest webhook secret command-api accepts.
pub const MIN_SECRET_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {SIGNATURE_HEADER} header is missing")]
    Missing,
    #[error("the {SIGNATURE_HEADER} header is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance window")]
    Stale,
    #[error("no signature matches the body")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let sig = hex::encode(mac(secret, timestamp, body).finalize().into_bytes());
    format!("t={timestamp},v1={sig}")
}

/// Checks `header` against `body`: well formed, timestamp within `tolerance` of `now`
/// (unix seconds), and one `v1` signature matching (compared in constant time).
pub fn verify(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => timestamp = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            "v1" => signatures.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {} // other schemes (v0, ...) are ignored, as providers document
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, timestamp, body);
    if signatures
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// What a client hands to the provider to pay an intent: derived from the secret and the
/// intent id, so command-api stores none (a real provider returns its own when the intent
/// is created).
pub fn client_secret(secret: &[u8], intent_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"client-secret.");
    mac.update(intent_id.as_bytes());
    let tag = hex::encode(mac.finalize().into_bytes());
    format!("{intent_id}_secret_{}", &tag[..32])
}

/// A new payment intent id (`pi_` and 32 hex digits).
pub fn new_intent_id() -> String {
    format!("pi_{}", Uuid::now_v7().simple())
}

/// The kinds of callback command-api acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WebhookKind {
    #[serde(rename = "payment.succeeded")]
    Succeeded,
    #[serde(rename = "payment.failed")]
    Failed,
}

impl WebhookKind {
    /// The `type` as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookKind::Succeeded => "payment.succeeded",
            WebhookKind::Failed => "payment.failed",
        }
    }
}

/// The payment a callback is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentData {
    pub intent_id: String,
    /// The order the intent was created for (the intent's metadata at a real provider).
    pub order_id: Uuid,
    pub amount_cents: i64,
    pub currency: String,
    /// Why a payment failed (`payment.failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

/// One callback body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEvent {
    /// The provider's event id: a retried delivery carries the same one.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: WebhookKind,
    /// When the provider created the event (unix seconds).
    pub created: i64,
    pub data: PaymentData,
}

/// The payment provider of the tests and the load scenario: it builds callbacks and signs
/// them with the shared secret, exactly as command-api expects from the real one.
#[derive(Clone)]
pub struct FakeProvider {
    secret: Vec<u8>,
}

/// A callback ready to send: body and `Vitrine-Signature` header value.
#[derive(Debug, Clone)]
pub struct SignedCallback {
    pub event: WebhookEvent,
    pub body: Vec<u8>,
    pub signature: String,
}

impl FakeProvider {
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        Self {
            secret: secret.as_ref().to_vec(),
        }
    }

    /// A callback about `intent_id` of `order_id` (a fresh event id), signed now.
    pub fn callback(
        &self,
        kind: WebhookKind,
        order_id: Uuid,
        intent_id: &str,
        amount_cents: i64,
        currency: &str,
    ) -> SignedCallback {
        let event = WebhookEvent {
            id: format!("evt_{}", Uuid::now_v7().simple()),
            kind,
            created: chrono::Utc::now().timestamp(),
            data: PaymentData {
                intent_id: intent_id.to_owned(),
                order_id,
                amount_cents,
                currency: currency.to_owned(),
                failure_reason: (kind == WebhookKind::Failed).then(|| "card_declined".to_owned()),
            },
        };
        self.sign(event, chrono::Utc::now().timestamp())
    }

    /// Signs `event` as sent at `timestamp` (a retry re-signs the same event with a new time).
    pub fn sign(&self, event: WebhookEvent, timestamp: i64) -> SignedCallback {
        let body = serde_json::to_vec(&event).expect("a webhook event serializes");
        let signature = sign(&self.secret, timestamp, &body);
        SignedCallback {
            event,
            body,
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-test-webhook-secret-of-32-bytes!";

    #[test]
    fn a_signed_body_verifies_within_the_window_and_nothing_else_does() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(SECRET, 1_000, body);
        let check =
            |h: &str, body: &[u8], now| verify(SECRET, Some(h), body, now, DEFAULT_TOLERANCE);
        assert_eq!(check(&header, body, 1_000), Ok(()));
        assert_eq!(check(&header, body, 1_299), Ok(()));
        assert_eq!(check(&header, body, 1_301), Err(SignatureError::Stale));
        assert_eq!(check(&header, body, 699), Err(SignatureError::Stale));
        assert_eq!(
            check(&header, br#"{"id":"evt_2"}"#, 1_000),
            Err(SignatureError::Mismatch)
        );
        let other = sign(b"another-secret-another-secret-xx", 1_000, body);
        assert_eq!(check(&other, body, 1_000), Err(SignatureError::Mismatch));
        // A moved timestamp breaks the signature.
        let moved = header.replace("t=1000", "t=1001");
        assert_eq!(check(&moved, body, 1_000), Err(SignatureError::Mismatch));
        assert_eq!(check("v1=00", body, 1_000), Err(SignatureError::Malformed));
        assert_eq!(check("t=1000", body, 1_000), Err(SignatureError::Malformed));
        assert_eq!(
            check("t=x,v1=00", body, 1_000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, None, body, 1_000, DEFAULT_TOLERANCE),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn one_matching_signature_among_several_is_enough() {
        let body = b"{}";
        let good = sign(SECRET, 5, body);
        let sig = good.split_once(",v1=").unwrap().1;
        let header = format!("t=5,v1={},v1={sig},v0=ignored", "ab".repeat(32));
        assert_eq!(
            verify(SECRET, Some(&header), body, 5, DEFAULT_TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn the_fake_provider_signs_callbacks_that_verify_and_parse_back() {
        let provider = FakeProvider::new(SECRET);
        let cb = provider.callback(WebhookKind::Succeeded, Uuid::nil(), "pi_1", 500, "EUR");
        let now = chrono::Utc::now().timestamp();
        assert_eq!(
            verify(
                SECRET,
                Some(&cb.signature),
                &cb.body,
                now,
                DEFAULT_TOLERANCE
            ),
            Ok(())
        );
        let back: WebhookEvent = serde_json::from_slice(&cb.body).unwrap();
        assert_eq!(back, cb.event);
        assert!(String::from_utf8(cb.body)
            .unwrap()
            .contains("\"payment.succeeded\""));
    }
}
