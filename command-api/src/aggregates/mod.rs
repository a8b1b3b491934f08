//! The aggregates, one module each: its lock/load SQL, its pure decider (`decide.rs`:
//! `decide(&State, Command) -> Result<Vec<Event>, DomainError>` and `apply`, tested from a
//! given history) and its write-model persistence, joined by [`crate::pipeline::Aggregate`].
//!
//! Here: [`DomainError`] and its one mapping to HTTP, and [`persist`], which hands each
//! stream's events to the aggregate that owns that kind of stream.

pub mod cart;
pub mod category;
pub mod checkout;
pub mod order;
pub mod product;

use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::StreamKind;

use crate::error::{ApiError, FieldProblem};
use vitrine_runtime::event_store::StreamAppend;

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
                        FieldProblem::new(
                            format!("product:{}", s.product_id),
                            format!("{} requested, {} available", s.requested, s.available),
                        )
                    })
                    .collect(),
                current_version: None,
                insufficient: serde_json::to_value(&short).ok(),
            },
            DomainError::NotFound(what) => ApiError::NotFound(what),
        }
    }
}

/// Updates the write model from the appended events: each aggregate gets the appends of
/// its kind of stream, all at once (checkout updates every product in one statement).
pub async fn persist(conn: &mut PgConnection, appends: &[StreamAppend]) -> Result<(), ApiError> {
    let of = |kind: StreamKind| -> Vec<&StreamAppend> {
        appends.iter().filter(|a| a.stream.kind() == kind).collect()
    };
    category::persist(conn, &of(StreamKind::Category)).await?;
    product::persist(conn, &of(StreamKind::Product)).await?;
    order::persist(conn, &of(StreamKind::Order)).await?;
    cart::persist(conn, &of(StreamKind::Cart)).await?;
    Ok(())
}
