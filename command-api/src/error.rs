//! The one error type of command-api and its `application/problem+json` rendering (RFC 9457).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

/// A field (or header) at fault, as listed in a problem body's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body is not JSON at all.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 401: no token or a bad one.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 404: unknown id (or not the caller's).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: stale version, short stock, illegal transition, duplicate.
    #[error("conflict: {detail}")]
    Conflict {
        detail: String,
        errors: Vec<FieldError>,
        extra: Option<serde_json::Value>,
    },
    /// 413: body over the limit.
    #[error("request body too large")]
    TooLarge,
    /// 415: body is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: invalid field or state.
    #[error("rejected: {detail}")]
    Rejected {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// 503 with `Retry-After`: the database could not take the command in time (no pool
    /// connection, a lock wait or a statement over its timeout, a deadlock); nothing was
    /// recorded and a retry is expected to succeed. Logged as a warning.
    #[error("busy: {0}")]
    Busy(String),
    /// 503 with `Retry-After`: the request ran over `REQUEST_TIMEOUT_MS`; its transaction
    /// was rolled back, nothing was recorded.
    #[error("the request timed out")]
    Timeout,
    /// 500: could not record; logged, never shown.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

/// Seconds a client should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 1;

impl ApiError {
    pub fn rejected(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self::Rejected {
            detail: detail.into(),
            errors,
        }
    }

    /// 422 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Rejected {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError::new(field, message)],
        }
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            errors: Vec::new(),
            extra: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Busy(_) | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem+json body.
    pub fn problem(&self) -> serde_json::Value {
        let status = self.status();
        let (kind, title) = match self {
            ApiError::Malformed(_) => ("malformed-json", "Malformed request body"),
            ApiError::Unauthorized(_) => ("unauthorized", "Missing or invalid credentials"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict { .. } => ("conflict", "Conflict"),
            ApiError::TooLarge => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType => {
                ("unsupported-media-type", "Body must be application/json")
            }
            ApiError::Rejected { .. } => ("rejected", "The command was rejected"),
            ApiError::Busy(_) => ("busy", "Busy: retry shortly"),
            ApiError::Timeout => ("timeout", "The request took too long: retry shortly"),
            ApiError::Internal(_) => ("could-not-record", "The command could not be recorded"),
        };
        let (detail, errors) = match self {
            ApiError::Malformed(d) => (d.clone(), vec![]),
            ApiError::Unauthorized(d) => ((*d).to_owned(), vec![]),
            ApiError::NotFound(what) => (format!("no such {what}"), vec![]),
            ApiError::Conflict { detail, errors, .. } | ApiError::Rejected { detail, errors } => {
                (detail.clone(), errors.clone())
            }
            ApiError::TooLarge => ("the body is over the size limit".to_owned(), vec![]),
            ApiError::UnsupportedMediaType => {
                ("send Content-Type: application/json".to_owned(), vec![])
            }
            ApiError::Busy(_) | ApiError::Timeout => (
                format!("nothing was recorded; retry after {RETRY_AFTER_SECS} s"),
                vec![],
            ),
            ApiError::Internal(_) => ("please retry later".to_owned(), vec![]),
        };
        let mut body = json!({
            "type": format!("https://vitrine.example/problems/{kind}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
            "errors": errors,
        });
        if let (
            ApiError::Conflict {
                extra: Some(extra), ..
            },
            Some(obj),
        ) = (self, body.as_object_mut())
        {
            if let Some(extra) = extra.as_object() {
                for (k, v) in extra {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        body
    }
}

impl From<sqlx::Error> for ApiError {
    /// Overload and contention are 503 (retry), anything else a 500.
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::PoolTimedOut => {
                return ApiError::Busy("no database connection free".into())
            }
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            _ => None,
        };
        match code.as_deref() {
            // lock_not_available (lock_timeout), query_canceled (statement_timeout),
            // deadlock_detected, serialization_failure.
            Some(code @ ("55P03" | "57014" | "40P01" | "40001")) => {
                ApiError::Busy(format!("PostgreSQL {code}: {e}"))
            }
            _ => ApiError::Internal(e.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = ?e, "could not record"),
            ApiError::Busy(cause) => tracing::warn!(%cause, "busy: answered 503"),
            ApiError::Timeout => tracing::warn!("request timed out: answered 503"),
            _ => {}
        }
        let status = self.status();
        let mut res = (status, axum::Json(self.problem())).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RETRY_AFTER_SECS),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_pool_is_a_503_with_retry_after_not_a_500() {
        let error = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        let res = error.into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
