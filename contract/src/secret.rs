//! A configuration value that must never reach a log line, and what makes one unfit for
//! production ([`weakness`]: empty, a value shipped in the repository, or shorter than
//! [`MIN_SECRET_BYTES`]). The start-up check built on it is `vitrine_runtime::secrets`.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

/// The development value of `SESSION_SECRET`: public, so never accepted outside development mode.
pub const DEV_SESSION_SECRET: &str = "dev-session-secret";
/// The development value of `ADMIN_TOKEN`: public, so never accepted outside development mode.
pub const DEV_ADMIN_TOKEN: &str = "dev-admin-token";
/// The development value of `PAYMENT_WEBHOOK_SECRET`: public, so never accepted outside
/// development mode (long enough for command-api's own length check in development mode).
pub const DEV_PAYMENT_WEBHOOK_SECRET: &str = "dev-payment-webhook-secret-not-for-production";
/// 256 bits: the HMAC-SHA256 key size; shorter secrets are guessable offline from one token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Values known from the repository, its docs and common placeholders.
const KNOWN: [&str; 7] = [
    DEV_SESSION_SECRET,
    DEV_ADMIN_TOKEN,
    DEV_PAYMENT_WEBHOOK_SECRET,
    "test-session-secret",
    "test-admin-token",
    "changeme",
    "secret",
];

/// Why `value` is unfit for production, if it is.
pub fn weakness(value: &str) -> Option<String> {
    if value.trim().is_empty() {
        Some("is empty".to_owned())
    } else if KNOWN.contains(&value) {
        Some("is a value published in the repository".to_owned())
    } else if value.len() < MIN_SECRET_BYTES {
        Some(format!(
            "is {} bytes; at least {MIN_SECRET_BYTES} are needed",
            value.len()
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_empty_and_short_values_are_weak() {
        assert_eq!(weakness("0123456789abcdef0123456789abcdef"), None);
        for weak in [
            "",
            " ",
            DEV_SESSION_SECRET,
            DEV_ADMIN_TOKEN,
            DEV_PAYMENT_WEBHOOK_SECRET,
            "short",
        ] {
            assert!(weakness(weak).is_some(), "{weak:?}");
        }
    }
}
