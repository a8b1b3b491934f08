//! The start-up check of secrets: outside development mode a missing or weak secret
//! ([`vitrine_contract::secret::weakness`]) stops the program with one line naming the
//! variable, never its value; in development mode the published development value is
//! used instead, with a warning (docs/security.md, Secrets).

use vitrine_contract::secret::{weakness, Secret, MIN_SECRET_BYTES};

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
    use vitrine_contract::secret::DEV_SESSION_SECRET;

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
