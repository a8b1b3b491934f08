//! Settings for librdkafka beyond the broker list, for the programs that talk to Kafka
//! (command-api's relay, the projector): TLS, SASL, timeouts, anything librdkafka takes.
//!
//! Two sources, applied after the program's own settings, so they can override them:
//! a properties file (`KAFKA_PROPERTIES_FILE`: `name=value` lines, `#` comments, as
//! Kafka's own clients read), then the environment, one variable per property:
//! `KAFKA_OPTION_<NAME>` with the property's dots as underscores, upper case
//! (`KAFKA_OPTION_SECURITY_PROTOCOL=SASL_SSL` is `security.protocol=SASL_SSL`; a literal
//! underscore is written twice: `KAFKA_OPTION_A__B` is `a_b`). The environment wins over
//! the file. Values may be secrets (`sasl.password`): they are never logged; the names are.
//!
//! This crate does not depend on rdkafka (query-api never talks to Kafka): it returns the
//! pairs, and each program sets them on its `ClientConfig`.

use std::path::Path;

/// The prefix of the pass-through variables.
pub const OPTION_PREFIX: &str = "KAFKA_OPTION_";

/// A property name from a variable name (`KAFKA_OPTION_SASL_MECHANISM` ->
/// `sasl.mechanism`); `None` for other variables and the bare prefix.
pub fn property_name(var: &str) -> Option<String> {
    let rest = var.strip_prefix(OPTION_PREFIX)?;
    if rest.is_empty() {
        return None;
    }
    // `__` is a literal underscore; every other `_` is a dot.
    let name = rest
        .to_ascii_lowercase()
        .split("__")
        .map(|part| part.replace('_', "."))
        .collect::<Vec<_>>()
        .join("_");
    Some(name)
}

/// `name=value` lines (Java properties, the subset Kafka clients' files use): blank
/// lines and `#`/`!` comments skipped, whitespace around name and value trimmed, `:` also
/// separates. A line with neither is an error naming its number.
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some(at) = line.find(['=', ':']) else {
            return Err(format!("line {}: expected name=value", i + 1));
        };
        let (name, value) = (line[..at].trim(), line[at + 1..].trim());
        if name.is_empty() {
            return Err(format!("line {}: the name is empty", i + 1));
        }
        out.push((name.to_owned(), value.to_owned()));
    }
    Ok(out)
}

/// The properties from `vars` (the environment, as pairs), in a stable order.
pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vars
        .into_iter()
        .filter_map(|(k, v)| property_name(&k).map(|name| (name, v)))
        .collect();
    out.sort();
    out
}

/// Every extra property for a client: the file's (when given), then the environment's,
/// which win. Logs the names it applies, never the values. The error says which file
/// and line.
pub fn client_options(properties_file: Option<&Path>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    if let Some(path) = properties_file {
        let in_file = |e: String| format!("KAFKA_PROPERTIES_FILE {}: {e}", path.display());
        let text = std::fs::read_to_string(path).map_err(|e| in_file(e.to_string()))?;
        out = parse_properties(&text).map_err(in_file)?;
    }
    out.extend(from_vars(std::env::vars()));
    if !out.is_empty() {
        let names: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        tracing::info!(?names, "kafka: extra client properties");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_become_librdkafka_property_names() {
        assert_eq!(
            property_name("KAFKA_OPTION_SECURITY_PROTOCOL").as_deref(),
            Some("security.protocol")
        );
        assert_eq!(
            property_name("KAFKA_OPTION_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM").as_deref(),
            Some("ssl.endpoint.identification.algorithm")
        );
        assert_eq!(
            property_name("KAFKA_OPTION_A__B_C").as_deref(),
            Some("a_b.c")
        );
        assert_eq!(property_name("KAFKA_OPTION_"), None);
        assert_eq!(property_name("KAFKA_BROKERS"), None);
    }

    #[test]
    fn the_environment_gives_only_the_prefixed_variables_sorted() {
        let vars = [
            ("KAFKA_OPTION_SASL_PASSWORD", "s3cret"),
            ("KAFKA_TOPIC", "t"),
            ("KAFKA_OPTION_SASL_MECHANISM", "SCRAM-SHA-512"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            from_vars(vars),
            vec![
                ("sasl.mechanism".to_owned(), "SCRAM-SHA-512".to_owned()),
                ("sasl.password".to_owned(), "s3cret".to_owned()),
            ]
        );
    }

    #[test]
    fn a_properties_file_reads_like_kafkas_own_clients_read_it() {
        let text = "# TLS to the brokers\nsecurity.protocol=SSL\n\n ssl.ca.location = /etc/ca.pem \n! old comment\nclient.id: vitrine\n";
        assert_eq!(
            parse_properties(text).unwrap(),
            vec![
                ("security.protocol".to_owned(), "SSL".to_owned()),
                ("ssl.ca.location".to_owned(), "/etc/ca.pem".to_owned()),
                ("client.id".to_owned(), "vitrine".to_owned()),
            ]
        );
        assert_eq!(
            parse_properties("ok=1\nbroken line\n").unwrap_err(),
            "line 2: expected name=value"
        );
    }
}
