//! The crate's one error type and its problem+json (RFC 9457) rendering.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such resource")]
    NotFound,
    #[error("invalid {field}: {message}")]
    BadParam {
        field: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A `min_version` wait ran out before the read model caught up.
    #[error("the read model has not reached version {wanted} yet (it is at {have})")]
    NotYet { wanted: i64, have: i64 },
    /// Neither Redis nor PostgreSQL could answer.
    #[error("read models unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(field: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadParam {
            field,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::BadParam { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotYet { .. } | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title, detail) = match &self {
            ApiError::NotFound => ("not-found", "Not Found", self.to_string()),
            ApiError::BadParam { .. } => ("bad-parameter", "Bad Request", self.to_string()),
            ApiError::Unauthorized(_) => ("unauthorized", "Unauthorized", self.to_string()),
            ApiError::NotYet { .. } => ("not-yet", "Read model behind", self.to_string()),
            // 5xx: log the cause, never hand it out.
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "read models unavailable");
                (
                    "unavailable",
                    "Service Unavailable",
                    "the read models are unavailable, retry shortly".to_owned(),
                )
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    "internal",
                    "Internal Server Error",
                    "an internal error occurred".to_owned(),
                )
            }
        };
        let mut body = json!({
            "type": format!("https://vitrine.example/problems/{kind}"),
            "title": title,
            "status": status.as_u16(),
            "detail": detail,
        });
        if let ApiError::BadParam { field, message } = &self {
            body["errors"] = json!([{ "field": field, "message": message }]);
        }
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            ApiError::NotYet { .. } | ApiError::Unavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}
