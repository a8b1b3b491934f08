//! A configuration value that must never reach a log line, and the start-up check that
//! refuses secrets unfit for production (missing, a value shipped in the repository, or
//! shorter than [`MIN_SECRET_BYTES`]) unless the program runs in development mode.

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
/// 256 bits: the HMAC-SHA256 key size; shorter secrets are guessable offline from one token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Values known from the repository, its docs and common placeholders.
const KNOWN: [&str; 6] = [
    DEV_SESSION_SECRET,
    DEV_ADMIN_TOKEN,
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

/// The secret a program runs with. Outside development mode a missing or weak one is an
/// error naming the variable (never its value); in development mode a missing one becomes
/// `dev_default` and a weak one is used, each with a warning.
pub fn require(
    name: &str,
    value: Option<&Secret>,
    dev_default: &str,
    dev_mode: bool,
) -> Result<Secret, String> {
    let problem = match value {
        None => "is not set".to_owned(),
        Some(v) => match weakness(v.expose()) {
            None => return Ok(v.clone()),
            Some(problem) => problem,
        },
    };
    if !dev_mode {
        return Err(format!(
            "{name} {problem}: set it to a random value of at least {MIN_SECRET_BYTES} bytes \
             (e.g. `openssl rand -hex 32`), or start in development mode (VITRINE_DEV_MODE=1 or --dev)"
        ));
    }
    tracing::warn!("development mode: {name} {problem}; never run a public store like this");
    Ok(value.cloned().unwrap_or_else(|| Secret::new(dev_default)))
}

/// [`require`] for an optional secret (e.g. the previous session secret): absent is fine.
pub fn optional(
    name: &str,
    value: Option<&Secret>,
    dev_mode: bool,
) -> Result<Option<Secret>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.expose().is_empty() => Ok(None),
        Some(v) => require(name, Some(v), "", dev_mode).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_default_and_short_secrets_are_refused_outside_development_mode() {
        let strong = Secret::new("0123456789abcdef0123456789abcdef");
        assert_eq!(require("S", Some(&strong), "d", false), Ok(strong.clone()));
        for bad in [
            None,
            Some(Secret::new(DEV_SESSION_SECRET)),
            Some(Secret::new("short")),
        ] {
            let error = require("SESSION_SECRET", bad.as_ref(), "d", false).unwrap_err();
            assert!(error.starts_with("SESSION_SECRET "), "{error}");
            assert!(
                !error.contains(DEV_SESSION_SECRET),
                "the value leaked: {error}"
            );
        }
        assert_eq!(
            require("S", None, DEV_SESSION_SECRET, true),
            Ok(Secret::new(DEV_SESSION_SECRET))
        );
        assert_eq!(optional("P", None, false), Ok(None));
        assert!(optional("P", Some(&Secret::new("short")), false).is_err());
    }
}
