//! The crate's one error type, rendered through the shared problem+json answer
//! ([`vitrine_runtime::http::Problem`], RFC 9457).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vitrine_runtime::http::{FieldProblem, Kind, Problem};

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
        self.kind().status()
    }

    fn kind(&self) -> Kind {
        match self {
            ApiError::NotFound => Kind::NotFound,
            ApiError::BadParam { .. } => Kind::BadParameter,
            ApiError::Unauthorized(_) => Kind::Unauthorized,
            ApiError::NotYet { .. } => Kind::NotYet,
            ApiError::Unavailable(_) => Kind::Unavailable,
            ApiError::Internal(_) => Kind::Internal,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.kind();
        match &self {
            ApiError::BadParam { field, message } => Problem::new(kind, self.to_string())
                .errors(vec![FieldProblem::new(*field, message.clone())]),
            ApiError::Unauthorized(_) => {
                Problem::new(kind, self.to_string()).www_authenticate("Bearer")
            }
            ApiError::NotYet { .. } => Problem::new(kind, self.to_string()).retry_after(1),
            // 5xx: the cause is logged, never handed out.
            ApiError::Unavailable(cause) => Problem::hiding(
                kind,
                "the read models are unavailable, retry shortly",
                cause,
            )
            .retry_after(1),
            ApiError::Internal(cause) => Problem::hiding(kind, "an internal error occurred", cause),
            ApiError::NotFound => Problem::new(kind, self.to_string()),
        }
        .into_response()
    }
}
