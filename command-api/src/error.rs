//! The one error type of command-api, rendered through the shared problem+json answer
//! ([`vitrine_runtime::http::Problem`], RFC 9457).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vitrine_runtime::http::{Kind, Problem};

/// A field (or header) at fault, as listed in a problem body's `errors`.
pub use vitrine_runtime::http::FieldProblem;

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
        errors: Vec<FieldProblem>,
        /// A stale `If-Match`: the stream's current version.
        current_version: Option<i64>,
        /// Short stock: per product, requested and available.
        insufficient: Option<serde_json::Value>,
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
        errors: Vec<FieldProblem>,
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
    pub fn rejected(detail: impl Into<String>, errors: Vec<FieldProblem>) -> Self {
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
            errors: vec![FieldProblem::new(field, message)],
        }
    }

    /// 409 with a detail only.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::conflict_on(detail, Vec::new())
    }

    /// 409 naming the fields at fault.
    pub fn conflict_on(detail: impl Into<String>, errors: Vec<FieldProblem>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            errors,
            current_version: None,
            insufficient: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        self.problem().status_code()
    }

    /// The problem+json answer (a 500 logs its cause here and says only "retry later").
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Malformed(detail) => Problem::new(Kind::MalformedJson, detail.clone()),
            ApiError::BadRequest(detail) => Problem::new(Kind::BadRequest, detail.clone()),
            ApiError::Unauthorized(detail) => {
                Problem::new(Kind::Unauthorized, *detail).www_authenticate("Bearer")
            }
            ApiError::Busy(_) => Problem::new(
                Kind::Busy,
                format!("nothing was recorded; retry after {RETRY_AFTER_SECS} s"),
            )
            .retry_after(RETRY_AFTER_SECS),
            ApiError::Timeout => Problem::new(
                Kind::Timeout,
                format!("nothing was recorded; retry after {RETRY_AFTER_SECS} s"),
            )
            .retry_after(RETRY_AFTER_SECS),
            ApiError::NotFound(what) => Problem::new(Kind::NotFound, format!("no such {what}")),
            ApiError::Conflict {
                detail,
                errors,
                current_version,
                insufficient,
            } => {
                let mut problem =
                    Problem::new(Kind::Conflict, detail.clone()).errors(errors.clone());
                if let Some(version) = current_version {
                    problem = problem.current_version(*version);
                }
                if let Some(lines) = insufficient {
                    problem = problem.insufficient(lines.clone());
                }
                problem
            }
            ApiError::TooLarge => {
                Problem::new(Kind::PayloadTooLarge, "the body is over the size limit")
            }
            ApiError::UnsupportedMediaType => Problem::new(
                Kind::UnsupportedMediaType,
                "send Content-Type: application/json",
            ),
            ApiError::Rejected { detail, errors } => {
                Problem::new(Kind::Rejected, detail.clone()).errors(errors.clone())
            }
            ApiError::Internal(_) => Problem::new(Kind::CouldNotRecord, "please retry later"),
        }
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
            ApiError::Internal(cause) => {
                Problem::hiding(Kind::CouldNotRecord, "please retry later", cause)
            }
            ApiError::Busy(cause) => {
                tracing::warn!(%cause, "busy: answered 503");
                self.problem()
            }
            ApiError::Timeout => {
                tracing::warn!("request timed out: answered 503");
                self.problem()
            }
            _ => self.problem(),
        }
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use axum::http::header;

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
