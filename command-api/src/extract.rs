//! Request extractors that turn every kind of bad input into a problem naming the field:
//! the JSON body (400/413/415/422), path ids (404) and the command headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{ApiError, FieldProblem};

/// A JSON body, plus the hash of the request that idempotency compares.
pub struct JsonBody<T> {
    pub value: T,
    pub hash: String,
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| {
                let v = v.trim().to_ascii_lowercase();
                v == "application/json" || (v.starts_with("application/") && v.ends_with("+json"))
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::Malformed("could not read the body".into())
            }
        })?;
        let value = parse_json(&bytes)?;
        Ok(Self {
            value,
            hash: request_hash(&method, &path, &bytes),
        })
    }
}

/// Parses a body, classifying errors: not JSON → 400, JSON of the wrong shape → 422 naming
/// the field, a NUL character in any string or object key → 422 naming where it is.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::Malformed(format!("the body is not valid JSON: {inner}"))
            }
            Category::Data => {
                let message = strip_position(&inner.to_string());
                // A missing field is reported at the enclosing object: name it from the message.
                let field = match (path.as_str(), backticked(&message)) {
                    (".", Some(f)) => f.to_owned(),
                    (".", None) => "body".to_owned(),
                    _ => path,
                };
                ApiError::rejected(
                    format!("{field}: {message}"),
                    vec![FieldProblem::new(field, message)],
                )
            }
        }
    })?;
    de.end().map_err(|e| {
        ApiError::Malformed(format!("trailing characters after the JSON body: {e}"))
    })?;
    Ok(value)
}

/// PostgreSQL stores neither a NUL in `text` nor `\u0000` in `jsonb`, so a NUL anywhere in
/// a body would fail only at the insert (a 500). Checked once here for every body and
/// field, before the body's shape: JSON can carry a NUL only as the escape `\u0000`, so
/// bodies without that text pay one substring scan.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Ok(());
    }
    // Not JSON at all: the shape check below answers 400.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(());
    };
    let mut found = Vec::new();
    nul_paths(&value, String::new(), &mut found);
    if found.is_empty() {
        return Ok(());
    }
    let errors: Vec<FieldProblem> = found
        .into_iter()
        .map(|field| FieldProblem::new(field, NUL_MESSAGE))
        .collect();
    let detail = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    Err(ApiError::rejected(detail, errors))
}

pub const NUL_MESSAGE: &str = "must not contain a NUL character (U+0000)";

/// Where `value` holds a NUL, as paths like `attributes.colour` or `items[2]` (the
/// top-level field alone when the body is an object).
fn nul_paths(value: &serde_json::Value, path: String, found: &mut Vec<String>) {
    use serde_json::Value;
    let name = |p: &str| {
        if p.is_empty() {
            "body".to_owned()
        } else {
            p.to_owned()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => found.push(name(&path)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                nul_paths(item, format!("{}[{i}]", name(&path)), found);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let key_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.contains('\0') {
                    // The key itself is at fault: name the object holding it.
                    found.push(name(&path));
                } else {
                    nul_paths(item, key_path, found);
                }
            }
        }
        _ => {}
    }
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// SHA-256 of method, path and body: "the same request" for `Idempotency-Key`.
pub fn request_hash(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.trim_end_matches('/').as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// A UUID in the path; anything else is an unknown id (404).
pub struct PathId(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("resource"))?;
        Uuid::parse_str(&raw)
            .map(PathId)
            .map_err(|_| ApiError::NotFound("resource"))
    }
}

/// The headers every command reads: correlation id, `Idempotency-Key`, `If-Match`.
#[derive(Debug, Clone)]
pub struct CommandHeaders {
    pub correlation_id: Uuid,
    pub idempotency_key: Option<String>,
    pub if_match: Option<i64>,
    /// Hash of method and path, for commands without a body.
    pub bodyless_hash: String,
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let text = |name: &str| parts.headers.get(name).map(|v| v.to_str().map(str::trim));
        let correlation_id = match text("x-request-id") {
            Some(Ok(v)) => Uuid::parse_str(v).unwrap_or_else(|_| Uuid::now_v7()),
            _ => Uuid::now_v7(),
        };
        let idempotency_key = match text("idempotency-key") {
            None => None,
            Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Some(k.to_owned()),
            Some(_) => {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "must be 1 to 255 visible ASCII characters",
                ))
            }
        };
        let if_match = match text("if-match") {
            None => None,
            Some(Ok(v)) => Some(parse_if_match(v).ok_or_else(|| {
                ApiError::field("If-Match", "must be a stream version in quotes, e.g. \"3\"")
            })?),
            Some(Err(_)) => return Err(ApiError::field("If-Match", "must be ASCII")),
        };
        Ok(Self {
            correlation_id,
            idempotency_key,
            if_match,
            bodyless_hash: request_hash(&parts.method, parts.uri.path(), b""),
        })
    }
}

impl CommandHeaders {
    /// Event metadata for this request, caused by `actor` (`admin` or `session:{id}`).
    pub fn meta(&self, actor: impl Into<String>) -> vitrine_contract::Metadata {
        vitrine_contract::Metadata {
            correlation_id: Some(self.correlation_id),
            causation_id: None,
            actor: actor.into(),
            idempotency_key: self.idempotency_key.clone(),
        }
    }
}

/// `"3"` (or a bare `3`) → 3.
pub fn parse_if_match(v: &str) -> Option<i64> {
    let v = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v);
    v.parse::<i64>().ok().filter(|n| *n >= 0)
}

/// 409 when the client's expected version is not the stream's current one.
pub fn check_version(expected: Option<i64>, current: i64) -> Result<(), ApiError> {
    match expected {
        Some(e) if e != current => Err(ApiError::Conflict {
            detail: format!("the stream is at version {current}, not {e}"),
            errors: vec![FieldProblem::new(
                "If-Match",
                format!("stale: current version is {current}"),
            )],
            current_version: Some(current),
            insufficient: None,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Add {
        product_id: Uuid,
        quantity: i32,
    }

    fn field_of(e: ApiError) -> (StatusCode, String) {
        let status = e.status();
        let body = serde_json::to_value(e.problem()).unwrap();
        (
            status,
            body["errors"][0]["field"].as_str().unwrap_or("").to_owned(),
        )
    }

    #[test]
    fn bad_bodies_are_classified_and_name_their_field() {
        let bad = |s: &str| field_of(parse_json::<Add>(s.as_bytes()).unwrap_err());
        assert_eq!(bad("{"), (StatusCode::BAD_REQUEST, String::new()));
        assert_eq!(bad("not json"), (StatusCode::BAD_REQUEST, String::new()));
        let id = Uuid::nil();
        assert_eq!(
            bad(&format!(r#"{{"product_id":"{id}","quantity":"two"}}"#)),
            (StatusCode::UNPROCESSABLE_ENTITY, "quantity".into())
        );
        assert_eq!(
            bad(&format!(
                r#"{{"product_id":"{id}","quantity":1,"colour":"red"}}"#
            )),
            (StatusCode::UNPROCESSABLE_ENTITY, "colour".into())
        );
        assert_eq!(
            bad(r#"{"quantity":1}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, "product_id".into())
        );
    }

    #[test]
    fn if_match_takes_quoted_or_bare_versions() {
        assert_eq!(parse_if_match("\"3\""), Some(3));
        assert_eq!(parse_if_match("4"), Some(4));
        assert_eq!(parse_if_match("W/\"3\""), None);
        assert!(check_version(Some(2), 3).is_err());
        assert!(check_version(Some(3), 3).is_ok());
        assert!(check_version(None, 3).is_ok());
    }
}
