//! Pure deciders: `decide(&State, Command) -> Result<Vec<Event>, DomainError>` and
//! `apply(State, &Event) -> State`. No I/O: routes look data up first and put it in the command.

pub mod cart;
pub mod checkout;
pub mod order;
pub mod product;

use uuid::Uuid;

use crate::error::{ApiError, FieldError};

/// A product that checkout could not reserve.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shortage {
    pub product_id: Uuid,
    pub requested: i32,
    pub available: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// 422: a field's value is not acceptable in this state.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// 422: the aggregate's state does not allow the command (empty cart).
    #[error("{0}")]
    State(String),
    /// 409: the command conflicts with the current state (illegal transition, discontinued).
    #[error("{0}")]
    Conflict(String),
    /// 409: not enough stock for these products.
    #[error("insufficient stock")]
    InsufficientStock(Vec<Shortage>),
    /// 404: the thing the command is about does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
}

impl DomainError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid { field, message } => ApiError::field(&field, message),
            DomainError::State(detail) => ApiError::rejected(detail, vec![]),
            DomainError::Conflict(detail) => ApiError::conflict(detail),
            DomainError::InsufficientStock(short) => ApiError::Conflict {
                detail: format!("insufficient stock for {} product(s)", short.len()),
                errors: short
                    .iter()
                    .map(|s| {
                        FieldError::new(
                            format!("product:{}", s.product_id),
                            format!("{} requested, {} available", s.requested, s.available),
                        )
                    })
                    .collect(),
                extra: Some(serde_json::json!({ "insufficient": short })),
            },
            DomainError::NotFound(what) => ApiError::NotFound(what),
        }
    }
}
