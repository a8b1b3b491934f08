//! Where a version's projection stands: its applied position (`rm_progress`), the
//! catalog generation, the live version, and the dead letters a batch sets aside.

use sqlx::{PgConnection, PgPool};

/// Projection `live`'s progress (the highest applied position) and, when the catalog
/// changed, the catalog generation that keys cached searches.
pub async fn record_progress(
    tx: &mut PgConnection,
    version: i32,
    position: i64,
    catalog_changed: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rm_progress (rm_version, projection, position) VALUES ($1, 'live', $2)
         ON CONFLICT (rm_version, projection) DO UPDATE
         SET position = GREATEST(rm_progress.position, EXCLUDED.position), updated_at = now()",
    )
    .bind(version)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    if catalog_changed {
        sqlx::query("UPDATE rm_live SET catalog_gen = catalog_gen + 1")
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The live read-model version.
pub async fn live_version(pool: &PgPool) -> sqlx::Result<i32> {
    let (v,): (i32,) = sqlx::query_as("SELECT version FROM rm_live")
        .fetch_one(pool)
        .await?;
    Ok(v)
}

/// `(applied position, highest position in the store, dead letters)` of a version.
pub async fn progress(pool: &PgPool, version: i32) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT coalesce((SELECT position FROM rm_progress WHERE rm_version = $1 AND projection = 'live'), 0),
                coalesce((SELECT max(position) FROM events), 0),
                (SELECT count(*) FROM rm_dead_letters WHERE rm_version = $1 AND status = 'open')",
    )
    .bind(version)
    .fetch_one(pool)
    .await
}

/// Seconds since the oldest event after `applied` was recorded (its transaction began),
/// 0 when none waits: the projection's lag in time.
pub async fn oldest_waiting_age(pool: &PgPool, applied: i64) -> sqlx::Result<f64> {
    sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now() - (
             SELECT recorded_at FROM events WHERE position > $1 ORDER BY position LIMIT 1))::float8, 0)",
    )
    .bind(applied)
    .fetch_one(pool)
    .await
}

/// An event the projector could not apply.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub position: i64,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
    pub raw: String,
}

/// Records dead letters once each; answers how many were new.
pub async fn write_dead_letters(
    tx: &mut PgConnection,
    version: i32,
    letters: &[DeadLetter],
) -> sqlx::Result<u64> {
    let mut inserted = 0;
    for l in letters {
        // a letter replayed and failing again is open again, with the new error
        inserted += sqlx::query(
            "INSERT INTO rm_dead_letters (rm_version, position, stream_id, event_type, error, raw)
             VALUES ($6, $1, $2, $3, $4, $5)
             ON CONFLICT (rm_version, position) WHERE position > 0 DO UPDATE
             SET error = EXCLUDED.error, status = 'open', resolved_at = NULL
             WHERE rm_dead_letters.status = 'replayed'",
        )
        .bind(l.position)
        .bind(&l.stream_id)
        .bind(&l.event_type)
        .bind(&l.error)
        .bind(&l.raw)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}
