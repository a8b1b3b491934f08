//! Redis is a copy that can be lost; PostgreSQL's read models are the durable ones. This
//! module keeps the copy whole:
//!
//! - **Owed writes.** Every batch records the doc keys it committed in `rm_redis_owed`, in
//!   its own transaction ([`owe`]), and deletes the row once Redis has them ([`settle`]).
//!   When Redis is unreachable the batch still commits and the consumer moves on; the
//!   rows pile up and [`drain_owed`] writes the current documents once Redis answers.
//!   A crash between the commit and the Redis write leaves a row too, so nothing is lost.
//! - **An empty Redis.** The store's id sits beside the read models
//!   ([`store_marker_key`]). A Redis restarted without its data has no marker: every
//!   document of the live version is written back from PostgreSQL ([`refill`]), in
//!   pipelined chunks, hottest documents first ([`warm_rank`]: the category tree, first
//!   list pages, products), then the marker is set again. `projector warm` does the same
//!   with a progress bar (a new Redis, or after a deploy).
//!
//! All writes are fenced by rev, so a repair never replaces a newer document.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::ConnectionLike;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{watch, Notify};
use uuid::Uuid;
use vitrine_contract::read_model::{store_marker_key, RedisKeys};

use crate::store;
use crate::store::documents::DocWrite;

/// A Redis connection made on first use and remade after it broke, so the projector
/// starts, and keeps applying to PostgreSQL, while Redis is unreachable. Commands fail
/// fast (2 s) instead of waiting for Redis to come back.
#[derive(Clone)]
pub struct LazyRedis {
    client: redis::Client,
    conn: std::sync::Arc<tokio::sync::Mutex<Option<redis::aio::MultiplexedConnection>>>,
}

impl LazyRedis {
    pub fn new(client: redis::Client) -> Self {
        Self {
            client,
            conn: Default::default(),
        }
    }

    async fn conn(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    async fn forget_if_broken(&self, error: &redis::RedisError) {
        if error.is_io_error() || error.is_timeout() || error.is_connection_dropped() {
            *self.conn.lock().await = None;
        }
    }
}

impl ConnectionLike for LazyRedis {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let result = conn.req_packed_command(cmd).await;
            if let Err(e) = &result {
                self.forget_if_broken(e).await;
            }
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let result = conn.req_packed_commands(cmd, offset, count).await;
            if let Err(e) = &result {
                self.forget_if_broken(e).await;
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.client.get_connection_info().redis.db
    }
}

/// Documents per refill pipeline.
const REFILL_CHUNK: i64 = 2_000;
/// Owed rows drained per round.
const DRAIN_ROWS: i64 = 200;

fn waker() -> &'static Notify {
    static WAKE: OnceLock<Notify> = OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Asks the repair loop to run now (a Redis write just failed).
pub fn wake() {
    waker().notify_one();
}

/// Records, in the batch's transaction, that `keys` of `version` are owed to Redis.
pub async fn owe(tx: &mut PgConnection, version: i32, keys: &[&str]) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO rm_redis_owed (rm_version, keys) VALUES ($1, $2) RETURNING id")
        .bind(version)
        .bind(keys)
        .fetch_one(tx)
        .await
}

/// The batch's Redis write succeeded: nothing is owed for it any more.
pub async fn settle(pool: &PgPool, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM rm_redis_owed WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// How many batches' Redis writes are owed.
pub async fn owed_count(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM rm_redis_owed")
        .fetch_one(pool)
        .await
}

async fn current_docs(pool: &PgPool, version: i32, keys: &[String]) -> sqlx::Result<Vec<DocWrite>> {
    let rows: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT key, rev, doc FROM rm_docs WHERE rm_version = $1 AND key = ANY($2)")
            .bind(version)
            .bind(keys)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(key, rev, doc)| DocWrite { key, rev, doc })
        .collect())
}

/// Writes every owed document (as PostgreSQL has it now) to Redis and clears the debt;
/// answers how many owed batches were settled. Stops at the first Redis error. Rows are
/// taken `DRAIN_ROWS` at a time: one read of their documents per read-model version, one
/// pipeline, one delete.
pub async fn drain_owed<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
) -> anyhow::Result<u64> {
    let mut settled = 0;
    loop {
        let rows: Vec<(i64, i32, Vec<String>)> =
            sqlx::query_as("SELECT id, rm_version, keys FROM rm_redis_owed ORDER BY id LIMIT $1")
                .bind(DRAIN_ROWS)
                .fetch_all(pool)
                .await?;
        if rows.is_empty() {
            return Ok(settled);
        }
        let mut keys_by_version: BTreeMap<i32, BTreeSet<String>> = BTreeMap::new();
        for (_, version, keys) in &rows {
            keys_by_version
                .entry(*version)
                .or_default()
                .extend(keys.iter().cloned());
        }
        for (version, keys) in keys_by_version {
            let keys: Vec<String> = keys.into_iter().collect();
            let docs = current_docs(pool, version, &keys).await?;
            store::redis_docs::write_redis_docs(redis, &RedisKeys::new(prefix, version), &docs)
                .await?;
        }
        let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
        sqlx::query("DELETE FROM rm_redis_owed WHERE id = ANY($1)")
            .bind(&ids)
            .execute(pool)
            .await?;
        settled += ids.len() as u64;
    }
}

/// How hot a document key is, for warming: what every shopper reads first goes first.
/// 0 the category tree (every page), 1 list pages (first pages first), 2 product pages,
/// 3 recommendations, 4 the rest (carts and orders: each read by one session).
pub fn warm_rank(key: &str) -> (u8, u32) {
    if key == "categories" {
        return (0, 0);
    }
    if let Some(rest) = key.strip_prefix("products:") {
        let page = rest
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(u32::MAX);
        return (1, page);
    }
    if key.starts_with("product:") {
        return (2, 0);
    }
    if key.starts_with("recs:") {
        return (3, 0);
    }
    (4, 0)
}

/// Which documents a warm writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarmScope {
    /// Every document of the version (then the store marker is set).
    All,
    /// The catalog only (categories, list pages, products, recommendations).
    Catalog,
}

/// Writes every document of `version` from PostgreSQL to Redis (fenced: newer documents
/// stay), hottest first ([`warm_rank`]); answers how many documents were sent. Tombstones
/// are written as tombstones.
pub async fn refill<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
) -> anyhow::Result<u64> {
    warm(pool, redis, prefix, version, WarmScope::All, |_, _| {}).await
}

/// [`refill`] with a scope and a progress callback `(sent, total)` after every pipeline.
/// One scan reads the version's keys (not the documents); then the documents are read
/// `REFILL_CHUNK` keys at a time, in rank order, each chunk one pipeline to Redis.
pub async fn warm<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    scope: WarmScope,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let keys = RedisKeys::new(prefix, version);
    let mut all: Vec<String> = sqlx::query_scalar("SELECT key FROM rm_docs WHERE rm_version = $1")
        .bind(version)
        .fetch_all(pool)
        .await?;
    if scope == WarmScope::Catalog {
        all.retain(|k| warm_rank(k).0 < 4);
    }
    all.sort_by(|a, b| warm_rank(a).cmp(&warm_rank(b)).then_with(|| a.cmp(b)));
    let total = all.len() as u64;
    let mut sent = 0u64;
    progress(0, total);
    for chunk in all.chunks(REFILL_CHUNK as usize) {
        let mut docs = current_docs(pool, version, chunk).await?;
        // keep the rank order inside the pipeline too
        let order: std::collections::HashMap<&str, usize> = chunk
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        docs.sort_by_key(|d| order.get(d.key.as_str()).copied().unwrap_or(usize::MAX));
        store::redis_docs::write_redis_docs(redis, &keys, &docs).await?;
        sent += docs.len() as u64;
        progress(sent, total);
    }
    Ok(sent)
}

/// Sets the store marker (NX): Redis holds every document of the live version.
pub async fn mark_whole(
    pool: &PgPool,
    redis: &mut impl ConnectionLike,
    prefix: &str,
) -> anyhow::Result<()> {
    let ours = store_id(pool).await?.to_string();
    set_marker(redis, prefix, &ours).await
}

/// Writes the store marker unless one is there (NX: of two instances refilling at the
/// same time, one sets it).
async fn set_marker(
    redis: &mut impl ConnectionLike,
    prefix: &str,
    ours: &str,
) -> anyhow::Result<()> {
    let _: () = redis::cmd("SET")
        .arg(store_marker_key(prefix))
        .arg(ours)
        .arg("NX")
        .query_async(redis)
        .await?;
    Ok(())
}

/// The store's id, from PostgreSQL.
pub async fn store_id(pool: &PgPool) -> sqlx::Result<Uuid> {
    sqlx::query_scalar("SELECT store_id FROM store_identity")
        .fetch_one(pool)
        .await
}

/// The store id recorded beside the read models under `prefix` (None: no marker).
pub async fn marker<C: ConnectionLike>(
    redis: &mut C,
    prefix: &str,
) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET")
        .arg(store_marker_key(prefix))
        .query_async(redis)
        .await
}

/// Refuses a Redis namespace that belongs to another store (its marker names another id).
pub async fn check_namespace<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
) -> anyhow::Result<()> {
    let ours = store_id(pool).await?.to_string();
    match marker(redis, prefix).await? {
        Some(theirs) if theirs != ours => anyhow::bail!(
            "the Redis keys under {prefix:?} belong to store {theirs}, but this database is store {ours}: \
             check DATABASE_URL and REDIS_PREFIX (source the store's environment file)"
        ),
        _ => Ok(()),
    }
}

/// One round: refill if the marker is gone, then drain what is owed. Answers
/// (documents refilled, owed batches settled).
pub async fn repair_once<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
) -> anyhow::Result<(u64, u64)> {
    let ours = store_id(pool).await?.to_string();
    repair_round(pool, redis, prefix, &ours).await
}

/// [`repair_once`] for a store whose id (`ours`) is already known.
async fn repair_round<C: ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    ours: &str,
) -> anyhow::Result<(u64, u64)> {
    let mut refilled = 0;
    if marker(redis, prefix).await?.is_none() {
        let live = store::progress::live_version(pool).await?;
        let started = std::time::Instant::now();
        refilled = refill(pool, redis, prefix, live).await?;
        set_marker(redis, prefix, ours).await?;
        tracing::info!(
            version = live,
            documents = refilled,
            ms = started.elapsed().as_millis() as u64,
            "Redis had no read models: refilled from PostgreSQL"
        );
        metrics::counter!(vitrine_runtime::metric::PROJECTOR_REDIS_REFILLS_TOTAL).increment(1);
    }
    let settled = drain_owed(pool, redis, prefix).await?;
    if settled > 0 {
        tracing::info!(batches = settled, "owed Redis writes settled");
    }
    metrics::gauge!(vitrine_runtime::metric::PROJECTOR_REDIS_OWED_BATCHES)
        .set(owed_count(pool).await? as f64);
    Ok((refilled, settled))
}

/// Runs repair rounds every `every` (and at once when a write failed) until shutdown.
pub async fn run(
    pool: PgPool,
    mut redis: LazyRedis,
    prefix: String,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // the store's id never changes: read once, when PostgreSQL first answers
    let mut ours: Option<String> = None;
    loop {
        if ours.is_none() {
            ours = store_id(&pool).await.ok().map(|id| id.to_string());
        }
        if let Some(ours) = &ours {
            if let Err(error) = repair_round(&pool, &mut redis, &prefix, ours).await {
                tracing::debug!(%error, "Redis repair round failed; next round later");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {},
            _ = waker().notified() => {
                // let Redis come back before trying again
                tokio::time::sleep(Duration::from_millis(200)).await;
            },
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warming_sends_the_category_tree_then_first_list_pages_then_products_then_the_rest() {
        let mut keys = vec![
            "order:0190",
            "recs:0190",
            "product:0190",
            "products:all:name:2",
            "products:phones:price:1",
            "cart:0190",
            "products:all:name:1",
            "categories",
        ];
        keys.sort_by(|a, b| warm_rank(a).cmp(&warm_rank(b)).then_with(|| a.cmp(b)));
        assert_eq!(
            keys,
            vec![
                "categories",
                "products:all:name:1",
                "products:phones:price:1",
                "products:all:name:2",
                "product:0190",
                "recs:0190",
                "cart:0190",
                "order:0190",
            ]
        );
    }
}
