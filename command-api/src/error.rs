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
    /// 400: a well-formed request about something this store does not have (a payment
    /// callback naming an unknown order).
    #[error("bad request: {0}")]
    BadRequest(String),
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
    /// 500: could not record; logged, never shown.
    #[error("internal: {0}")]
    Internal(#[from] anyhow::Error),
}

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
            ApiError::Malformed(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem+json body.
    pub fn problem(&self) -> serde_json::Value {
        let status = self.status();
        let (kind, title) = match self {
            ApiError::Malformed(_) => ("malformed-json", "Malformed request body"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Missing or invalid credentials"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict { .. } => ("conflict", "Conflict"),
            ApiError::TooLarge => ("payload-too-large", "Request body too large"),
            ApiError::UnsupportedMediaType => {
                ("unsupported-media-type", "Body must be application/json")
            }
            ApiError::Rejected { .. } => ("rejected", "The command was rejected"),
            ApiError::Internal(_) => ("could-not-record", "The command could not be recorded"),
        };
        let (detail, errors) = match self {
            ApiError::Malformed(d) | ApiError::BadRequest(d) => (d.clone(), vec![]),
            ApiError::Unauthorized(d) => ((*d).to_owned(), vec![]),
            ApiError::NotFound(what) => (format!("no such {what}"), vec![]),
            ApiError::Conflict { detail, errors, .. } | ApiError::Rejected { detail, errors } => {
                (detail.clone(), errors.clone())
            }
            ApiError::TooLarge => ("the body is over the size limit".to_owned(), vec![]),
            ApiError::UnsupportedMediaType => {
                ("send Content-Type: application/json".to_owned(), vec![])
            }
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
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = ?e, "could not record");
        }
        let status = self.status();
        let mut res = (status, axum::Json(self.problem())).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}
