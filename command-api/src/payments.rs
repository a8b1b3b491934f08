//! Payments at the provider: the shared webhook secret and the check of a callback's
//! signature (the scheme is [`vitrine_contract::payment`]). The route is
//! [`crate::routes::payments`]; the order's side is the order aggregate's decider.

use axum::http::HeaderMap;
use vitrine_contract::payment::{self, SignatureError, SIGNATURE_HEADER};

use crate::error::ApiError;
use crate::AppState;

/// The webhook secret's bytes. `run` refuses to start without one, so a missing secret
/// here is a defect of the embedding program (a 500), never "anyone may sign".
pub fn secret(app: &AppState) -> Result<&[u8], ApiError> {
    app.config
        .orders
        .payment_webhook_secret
        .as_ref()
        .map(|s| s.expose().as_bytes())
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("PAYMENT_WEBHOOK_SECRET is not configured"))
        })
}

/// Checks the `Vitrine-Signature` of `body` against the secret and this clock: 401 when
/// it is missing, malformed, stale or does not match.
pub fn verify(app: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let secret = secret(app)?;
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let tolerance = app.config.orders.webhook_tolerance();
    payment::verify(secret, header, body, now, tolerance).map_err(|e| {
        metrics::counter!(vitrine_runtime::metric::PAYMENT_WEBHOOKS_REFUSED_TOTAL, "reason" => reason(e))
            .increment(1);
        ApiError::Unauthorized(match e {
            SignatureError::Missing => "the Vitrine-Signature header is missing",
            SignatureError::Malformed => {
                "the Vitrine-Signature header is not `t=<unix seconds>,v1=<hex>`"
            }
            SignatureError::Stale => {
                "the signature's timestamp is outside the tolerance window (replayed or a skewed clock)"
            }
            SignatureError::Mismatch => "the signature does not match the body",
        })
    })
}

fn reason(e: SignatureError) -> &'static str {
    match e {
        SignatureError::Missing => "missing",
        SignatureError::Malformed => "malformed",
        SignatureError::Stale => "stale",
        SignatureError::Mismatch => "mismatch",
    }
}
