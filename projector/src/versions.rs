//! Read-model versions: claim the next one for a rebuild, flip the live pointer, drop a
//! retired one. Every SQL statement about `rm_versions` and `rm_live` lives here.

use redis::aio::ConnectionLike;
use sqlx::{PgConnection, PgPool};
use vitrine_contract::read_model::RedisKeys;
use vitrine_runtime::locks::{self, LockTarget};

use crate::store;

/// Advisory-lock class of the live-version pointer: live batches hold it shared for
/// their transaction, a flip exclusively.
const FLIP_LOCK_CLASS: i32 = 0x666c; // "fl"

/// The live version, for a batch about to be applied in `tx`: read under the flip lock
/// (shared), so a flip cannot commit until this batch has.
pub async fn live_version_for_batch(tx: &mut PgConnection) -> sqlx::Result<i32> {
    sqlx::query("SELECT pg_advisory_xact_lock_shared($1, hashtext(current_database()))")
        .bind(FLIP_LOCK_CLASS)
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar("SELECT version FROM rm_live")
        .fetch_one(&mut *tx)
        .await
}

/// Advisory-lock class held (on a connection of its own) for a rebuild's whole run, so
/// two rebuilds never race; a crashed rebuild's lock goes with its connection.
const REBUILD_LOCK_CLASS: i32 = 0x7262; // "rb"

/// Proof that this process is the only rebuild of the database; dropping it releases the lock.
pub struct RebuildLock {
    _conn: PgConnection,
}

/// Takes the rebuild lock on a dedicated connection (`direct_url`, or the pool's
/// settings when there is no PgBouncer in between).
pub async fn lock_rebuild(pool: &PgPool, direct_url: Option<&str>) -> anyhow::Result<RebuildLock> {
    let target = LockTarget::new(pool, direct_url);
    match locks::try_exclusive(&target, REBUILD_LOCK_CLASS).await? {
        Some(conn) => Ok(RebuildLock { _conn: conn }),
        None => anyhow::bail!("another rebuild is running on this database"),
    }
}

/// Versions a crashed or stopped rebuild left half-built (status `building`).
pub async fn abandoned(pool: &PgPool) -> sqlx::Result<Vec<i32>> {
    sqlx::query_scalar("SELECT version FROM rm_versions WHERE status = 'building' ORDER BY version")
        .fetch_all(pool)
        .await
}

/// Claims the next version number for a rebuild (status `building`).
pub async fn claim_next(pool: &PgPool) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "INSERT INTO rm_versions (version, status)
         SELECT coalesce(max(version), 0) + 1, 'building' FROM rm_versions
         RETURNING version",
    )
    .fetch_one(pool)
    .await
}

pub async fn mark(
    pool: &PgPool,
    version: i32,
    status: &str,
    note: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE rm_versions SET status = $2, note = coalesce($3, note), finished_at = now() WHERE version = $1")
        .bind(version)
        .bind(status)
        .bind(note)
        .execute(pool)
        .await?;
    Ok(())
}

/// Makes `to` the live version if `from` still is; answers false if someone else flipped.
pub async fn flip(pool: &PgPool, from: i32, to: i32) -> sqlx::Result<bool> {
    let mut tx = pool.begin().await?;
    // Waits for live batches still applying to `from`; batches after the commit see `to`.
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext(current_database()))")
        .bind(FLIP_LOCK_CLASS)
        .execute(&mut *tx)
        .await?;
    let flipped =
        sqlx::query("UPDATE rm_live SET version = $2, flipped_at = now() WHERE version = $1")
            .bind(from)
            .bind(to)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
    if flipped {
        sqlx::query(
            "UPDATE rm_versions SET status = CASE WHEN version = $2 THEN 'live' ELSE 'retired' END,
                                    finished_at = now()
             WHERE version IN ($1, $2)",
        )
        .bind(from)
        .bind(to)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(flipped)
}

/// Removes every row and key of `version` in both stores. Refuses the live version.
pub async fn drop_version<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    status: &str,
) -> anyhow::Result<u64> {
    let live: i32 = sqlx::query_scalar("SELECT version FROM rm_live")
        .fetch_one(pool)
        .await?;
    anyhow::ensure!(
        live != version,
        "version {version} is live: flip to another one first"
    );
    let mut tx = pool.begin().await?;
    for statement in [
        "DELETE FROM rm_docs WHERE rm_version = $1",
        "DELETE FROM rm_entities WHERE rm_version = $1",
        "DELETE FROM rm_search WHERE rm_version = $1",
        "DELETE FROM rm_list_pages WHERE rm_version = $1",
        "DELETE FROM rm_progress WHERE rm_version = $1",
    ] {
        sqlx::query(statement)
            .bind(version)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE rm_versions SET status = $2, finished_at = now() WHERE version = $1")
        .bind(version)
        .bind(status)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let keys = RedisKeys::new(prefix, version);
    let mut removed = 0u64;
    for chunk in store::redis_docs::scan_keys(redis, &keys.pattern())
        .await?
        .chunks(1000)
    {
        let n: u64 = redis::cmd("UNLINK").arg(chunk).query_async(redis).await?;
        removed += n;
    }
    Ok(removed)
}

/// One line per version, newest first: `(version, status, started, finished, note)`.
pub async fn list(
    pool: &PgPool,
) -> sqlx::Result<Vec<(i32, String, String, Option<String>, Option<String>)>> {
    sqlx::query_as(
        "SELECT version, status, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS'),
                to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS'), note
         FROM rm_versions ORDER BY version DESC",
    )
    .fetch_all(pool)
    .await
}
