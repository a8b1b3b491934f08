//! Phase 5: everything the batch produced, written. Into PostgreSQL in the batch's
//! transaction: the documents (fresh revs, fenced), search rows, dead letters, progress,
//! the partition offsets, and the Redis write owed. After the commit: Redis in one
//! pipeline, and the debt settled, or left for [`crate::redis_repair`] when Redis fails.

use redis::aio::ConnectionLike;
use sqlx::{PgConnection, PgPool};
use vitrine_contract::read_model::RedisKeys;

use super::documents::Rendered;
use super::{BatchReport, PartitionOffset};
use crate::redis_repair;
use crate::store;
use crate::store::documents::DocWrite;
use crate::store::progress::DeadLetter;

/// What went into PostgreSQL, for the Redis write.
pub struct Written {
    pub docs: Vec<DocWrite>,
    /// The `rm_redis_owed` row of this batch, when it wrote documents.
    pub owed: Option<i64>,
    pub new_letters: u64,
}

pub async fn to_postgres(
    tx: &mut PgConnection,
    version: i32,
    rendered: Rendered,
    letters: &[DeadLetter],
    position: i64,
    catalog_changed: bool,
    offsets: &[PartitionOffset],
) -> sqlx::Result<Written> {
    let revs = store::documents::next_revs(&mut *tx, rendered.docs.len()).await?;
    let docs: Vec<DocWrite> = rendered
        .docs
        .into_iter()
        .zip(revs)
        .map(|((key, doc), rev)| DocWrite { key, rev, doc })
        .collect();
    if !docs.is_empty() {
        store::documents::write_pg_docs(&mut *tx, version, &docs).await?;
    }
    store::documents::write_search(
        &mut *tx,
        version,
        &rendered.search_upserts,
        &rendered.search_deletes,
    )
    .await?;
    let new_letters = store::progress::write_dead_letters(&mut *tx, version, letters).await?;
    if position > 0 {
        store::progress::record_progress(&mut *tx, version, position, catalog_changed).await?;
    }
    crate::partitions::record_offsets(&mut *tx, offsets).await?;
    // The Redis write can fail or be cut short by a crash: owe it first, in this
    // transaction, and settle the debt once Redis has the documents.
    let owed = if docs.is_empty() {
        None
    } else {
        let keys: Vec<&str> = docs.iter().map(|w| w.key.as_str()).collect();
        Some(redis_repair::owe(&mut *tx, version, &keys).await?)
    };
    Ok(Written {
        docs,
        owed,
        new_letters,
    })
}

pub async fn to_redis<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    written: &Written,
    report: &mut BatchReport,
) {
    let Some(owed) = written.owed else {
        return;
    };
    match store::redis_docs::write_redis_docs(
        redis,
        &RedisKeys::new(prefix, version),
        &written.docs,
    )
    .await
    {
        Ok(count) => {
            report.redis_written = count;
            if let Err(error) = redis_repair::settle(pool, owed).await {
                // harmless: the drain writes the same documents again, fenced
                tracing::warn!(%error, "could not settle an owed Redis write");
            }
        }
        Err(error) => {
            tracing::warn!(%error, docs = written.docs.len(), "Redis write failed; owed until Redis answers");
            metrics::counter!(vitrine_runtime::metric::PROJECTOR_REDIS_WRITE_FAILURES_TOTAL)
                .increment(1);
            report.redis_owed = written.docs.len();
            redis_repair::wake();
        }
    }
}
