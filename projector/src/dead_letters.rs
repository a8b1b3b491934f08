//! Events the projector could not apply, and what an operator does about them: list them
//! (per read-model version, with the error), replay them after a fix, or discard them
//! with a reason that is kept.
//!
//! A dead-lettered event still took its place in its stream (later events were applied
//! after it), so a replay folds the whole stream again from its first event
//! ([`crate::apply::refold_streams`]) in one transaction under the stream's row lock;
//! a letter whose event now applies is marked `replayed`, one that fails again stays
//! `open` with the new error.

use std::collections::BTreeMap;

use redis::aio::ConnectionLike;
use sqlx::PgPool;
use vitrine_contract::StreamId;

use crate::apply::refold_streams;

/// One dead letter as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Letter {
    pub id: i64,
    pub rm_version: i32,
    pub position: i64,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
    pub status: String,
    pub at: String,
    pub reason: Option<String>,
}

/// Letters of `version` (every version when `None`), open ones only unless `all`.
pub async fn list(pool: &PgPool, version: Option<i32>, all: bool) -> sqlx::Result<Vec<Letter>> {
    sqlx::query_as(
        "SELECT id, rm_version, position, stream_id, event_type, error, status,
                to_char(at, 'YYYY-MM-DD HH24:MI:SS') AS at, reason
         FROM rm_dead_letters
         WHERE ($1::int IS NULL OR rm_version = $1) AND ($2 OR status = 'open')
         ORDER BY rm_version, position",
    )
    .bind(version)
    .bind(all)
    .fetch_all(pool)
    .await
}

/// Open letters in the live version (the `vitrine_projector_dead_letters_open` gauge).
pub async fn open_count(pool: &PgPool, version: i32) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM rm_dead_letters WHERE rm_version = $1 AND status = 'open'",
    )
    .bind(version)
    .fetch_one(pool)
    .await
}

/// What a replay did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Letters whose event now applies.
    pub replayed: Vec<i64>,
    /// Letters that failed again (still open) or have no event in the store to replay.
    pub still_open: Vec<i64>,
}

/// Replays the open letters `ids` (every open letter of `version` when empty).
pub async fn replay<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    ids: &[i64],
) -> anyhow::Result<Replayed> {
    let letters: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT id, position, stream_id FROM rm_dead_letters
         WHERE rm_version = $1 AND status = 'open' AND (cardinality($2::int8[]) = 0 OR id = ANY($2))
         ORDER BY position",
    )
    .bind(version)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let mut out = Replayed::default();
    let mut by_stream: BTreeMap<StreamId, Vec<(i64, i64)>> = BTreeMap::new();
    for (id, position, stream_id) in letters {
        // a message that was never a recorded event has nothing in the store to replay
        match (position > 0, stream_id.parse::<StreamId>()) {
            (true, Ok(stream)) => by_stream.entry(stream).or_default().push((id, position)),
            _ => out.still_open.push(id),
        }
    }
    for (stream, letters) in by_stream {
        let report = refold_streams(pool, redis, prefix, version, &[stream]).await?;
        for (id, position) in letters {
            if report.dead_positions.contains(&position) {
                out.still_open.push(id);
            } else {
                sqlx::query(
                    "UPDATE rm_dead_letters SET status = 'replayed', resolved_at = now() WHERE id = $1",
                )
                .bind(id)
                .execute(pool)
                .await?;
                out.replayed.push(id);
            }
        }
    }
    Ok(out)
}

/// Discards open letters `ids` with `reason` (kept with them); answers how many.
pub async fn discard(pool: &PgPool, ids: &[i64], reason: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE rm_dead_letters SET status = 'discarded', resolved_at = now(), reason = $2
         WHERE id = ANY($1) AND status = 'open'",
    )
    .bind(ids)
    .bind(reason)
    .execute(pool)
    .await?
    .rows_affected())
}
