//! `Idempotency-Key`: the first answer to a key is stored in the command's transaction
//! and replayed to retries with the same request hash.
//!
//! The key row is inserted first in the transaction: a concurrent retry's insert waits on
//! that row until the first transaction ends, then finds the stored answer (or, if the
//! first failed and rolled back, goes ahead itself). Rejected commands store nothing.

use std::time::Duration;

use axum::http::StatusCode;
use sqlx::{PgConnection, PgPool};

use crate::error::ApiError;
use crate::response::CommandOk;

/// One request's key, scoped to its caller (`admin` or a session id).
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub scope: String,
    pub key: String,
    pub hash: String,
}

impl Idempotency {
    pub fn new(scope: impl Into<String>, key: Option<String>, hash: &str) -> Option<Self> {
        key.map(|key| Self {
            scope: scope.into(),
            key,
            hash: hash.to_owned(),
        })
    }

    /// Claims the key. `Some(answer)` means a retry: return it and write nothing.
    #[tracing::instrument(skip_all, fields(scope = %self.scope))]
    pub async fn begin(&self, conn: &mut PgConnection) -> Result<Option<CommandOk>, ApiError> {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .bind(&self.hash)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(None);
        }
        let (hash, status, response): (String, Option<i16>, Option<serde_json::Value>) = sqlx::query_as(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .fetch_one(&mut *conn)
        .await?;
        if hash != self.hash {
            return Err(ApiError::field(
                "Idempotency-Key",
                "this key was already used for a different request",
            ));
        }
        match (
            status.and_then(|s| StatusCode::from_u16(s as u16).ok()),
            response,
        ) {
            (Some(status), Some(body)) => {
                metrics::counter!(vitrine_runtime::metric::IDEMPOTENT_REPLAYS_TOTAL).increment(1);
                Ok(Some(CommandOk { status, body }))
            }
            // Committed rows always carry their answer; this is a defect, not input.
            _ => Err(ApiError::Internal(anyhow::anyhow!(
                "idempotency row without an answer"
            ))),
        }
    }

    /// Stores the answer, in the same transaction as the command's writes.
    pub async fn finish(
        &self,
        conn: &mut PgConnection,
        answer: &CommandOk,
    ) -> Result<(), ApiError> {
        sqlx::query(
            "UPDATE idempotency_keys SET status = $3, response = $4 WHERE scope = $1 AND key = $2",
        )
        .bind(&self.scope)
        .bind(&self.key)
        .bind(answer.status.as_u16() as i16)
        .bind(&answer.body)
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// `begin` for an optional key.
pub async fn begin(
    idem: &Option<Idempotency>,
    conn: &mut PgConnection,
) -> Result<Option<CommandOk>, ApiError> {
    match idem {
        Some(i) => i.begin(conn).await,
        None => Ok(None),
    }
}

/// `finish` for an optional key.
pub async fn finish(
    idem: &Option<Idempotency>,
    conn: &mut PgConnection,
    answer: &CommandOk,
) -> Result<(), ApiError> {
    match idem {
        Some(i) => i.finish(conn, answer).await,
        None => Ok(()),
    }
}

/// Forgets keys older than `ttl`: a retry must come within it to be recognized.
#[tracing::instrument(skip_all)]
pub async fn expire(pool: &PgPool, ttl: Duration) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE created_at < now() - make_interval(secs => $1) AND status IS NOT NULL",
    )
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Runs [`expire`] every `every` until the task is dropped. Several instances may run
/// it at once: deleting the same old rows twice is harmless.
pub async fn expire_periodically(pool: PgPool, ttl: Duration, every: Duration) {
    loop {
        match expire(&pool, ttl).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "forgot old idempotency keys"),
            Err(error) => tracing::warn!(%error, "idempotency keys could not be expired"),
        }
        tokio::time::sleep(every).await;
    }
}
