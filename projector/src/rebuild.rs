//! `projector rebuild`: replays the whole event store into the next read-model version,
//! beside the live one, then switches readers over with no downtime.
//!
//! 1. **History**: one REPEATABLE READ transaction reads `events` as [`History`] does, in
//!    bounded memory: the catalog first, then carts and orders in parts of whole
//!    sessions ([`World::fold`] upcasts old event shapes). Its snapshot `S0` is the
//!    watermark of what the history contained.
//! 2. **Write**, part by part while the next parts fold: each part's entities and
//!    session documents (carts, orders, orders lists), then the catalog's (products,
//!    recommendations from the co-purchases summed over every part, list pages, the
//!    category tree, search rows), all to version N+1 with multi-row statements, Redis
//!    in pipelines.
//! 3. **Catch-up**: rounds of "events committed after the last snapshot and visible in a
//!    new one" (`pg_visible_in_snapshot(tx_id, S_new) AND NOT pg_visible_in_snapshot(tx_id,
//!    S_old)`), applied with the live path ([`apply_batch`]). Positions are handed out
//!    in one order and committed in another, so "position > last seen" would miss an
//!    event whose transaction committed late; transaction-id visibility does not.
//! 4. **Gate**: the new version is compared with a fresh fold of exactly the events in
//!    the last snapshot ([`verify::gate`]); a difference stops the rebuild (a document
//!    absent from Redis is a cold cache entry, not a difference).
//! 5. **Flip** `rm_live` under the flip lock: it waits for live batches still applying to
//!    the old version (they hold the lock shared), and every later batch reads the new
//!    version. One catch-up round after the flip therefore takes in everything committed
//!    before it. query-api instances follow within a second; after a grace period the old
//!    version is dropped.
//!
//! A rebuild that crashes or is stopped leaves the live version untouched; its
//! half-built version stays `building` and the next rebuild removes it first.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use redis::aio::MultiplexedConnection;
use sqlx::PgPool;
use vitrine_contract::read_model::RedisKeys;
use vitrine_contract::StreamId;
use vitrine_runtime::event_store;

use crate::apply::{apply_batch, Incoming};
use crate::history::{self, Beside, Folded, History, Part};
use crate::render;
use crate::render::CoPurchases;
use crate::store;
use crate::store::documents::{DocWrite, SearchRow};
use crate::verify;
use crate::versions;
use crate::world::{ListId, World};

/// How a rebuild runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Events per part of history folded and written at once (bounds memory).
    pub part_events: usize,
    /// After the flip, how long to keep applying new events to the new version (the live
    /// projector follows the flip within about a second).
    pub handoff: Duration,
    /// How long the old version stays readable after the flip before it is dropped;
    /// `None` keeps it (drop it later with `projector drop-version`).
    pub grace: Option<Duration>,
    /// Compare the new version with a fresh fold before flipping.
    pub gate: bool,
    /// Unpooled URL for the rebuild lock (behind PgBouncer).
    pub direct_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            part_events: history::PART_EVENTS,
            handoff: Duration::from_secs(5),
            grace: Some(Duration::from_secs(30)),
            gate: true,
            direct_url: None,
        }
    }
}

/// What a finished rebuild did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub previous: i32,
    pub version: i32,
    pub history_events: u64,
    /// Reading, folding and writing the history (overlapped).
    pub history_secs: f64,
    /// Peak resident memory of this process so far, in bytes (Linux; 0 elsewhere).
    pub peak_rss_bytes: u64,
    pub documents: usize,
    pub caught_up_events: u64,
    pub gate_secs: f64,
    pub total_secs: f64,
    pub dropped_keys: Option<u64>,
}

impl Report {
    /// History events per second into both stores (read, fold and write).
    pub fn history_rate(&self) -> f64 {
        self.history_events as f64 / self.history_secs.max(1e-9)
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "rebuilt version {} (was {}): {} history events folded and written in {:.2} s \
             ({:.0} events/s into both stores), {} documents, {} events caught up, gate {:.2} s, \
             total {:.2} s, peak memory {} MB",
            self.version,
            self.previous,
            self.history_events,
            self.history_secs,
            self.history_rate(),
            self.documents,
            self.caught_up_events,
            self.gate_secs,
            self.total_secs,
            self.peak_rss_bytes / 1_000_000
        )
    }
}

/// Rebuilds every read model into the next version and makes it live.
#[tracing::instrument(skip_all)]
pub async fn rebuild(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    opts: &Options,
) -> anyhow::Result<Report> {
    let _lock = versions::lock_rebuild(pool, opts.direct_url.as_deref()).await?;
    let mut redis = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    for v in versions::abandoned(pool).await? {
        tracing::warn!(
            version = v,
            "removing the half-built version of an earlier rebuild"
        );
        versions::drop_version(pool, &mut redis, prefix, v, "failed").await?;
    }
    let previous = store::progress::live_version(pool).await?;
    let version = versions::claim_next(pool).await?;
    tracing::info!(previous, version, "rebuild started");
    match build(pool, &mut redis, redis_url, prefix, previous, version, opts).await {
        Ok(report) => Ok(report),
        Err(e) => {
            tracing::error!(version, error = %e, "rebuild failed; the live version is untouched");
            let _ = versions::drop_version(pool, &mut redis, prefix, version, "failed").await;
            let _ = versions::mark(pool, version, "failed", Some(&e.to_string())).await;
            Err(e)
        }
    }
}

async fn build(
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
    redis_url: &str,
    prefix: &str,
    previous: i32,
    version: i32,
    opts: &Options,
) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = Report {
        previous,
        version,
        ..Report::default()
    };

    let (mut snapshot, folded, documents) =
        write_history(pool, redis, prefix, version, opts.part_events).await?;
    report.history_events = folded.events;
    report.documents = documents;
    report.history_secs = started.elapsed().as_secs_f64();

    // Catch up in rounds while they shrink. Waiting for a round that finds nothing could
    // wait forever: with writers running, each round takes long enough for new commits
    // to arrive. It is not needed either: after any round the new version holds exactly
    // the events of `snapshot` (what the gate compares), and later ones are applied in
    // the hand-off below and by the live projector.
    let mut previous_round = u64::MAX;
    loop {
        let (n, next) = catch_up(pool, redis, prefix, version, &snapshot).await?;
        report.caught_up_events += n;
        snapshot = next;
        if n == 0 || n >= previous_round {
            break;
        }
        previous_round = n;
    }

    if opts.gate {
        let gate = Instant::now();
        let (differing, first) = verify::gate(
            pool,
            redis_url,
            prefix,
            version,
            &snapshot,
            opts.part_events,
            10,
        )
        .await?;
        report.gate_secs = gate.elapsed().as_secs_f64();
        if differing > 0 {
            for d in &first {
                tracing::error!("{d}");
            }
            anyhow::bail!(
                "gate: version {version} differs from a fresh fold in {differing} document(s); not flipped"
            );
        }
    }

    // What was committed while the gate ran, so readers do not step back in time at the flip.
    let (n, next) = catch_up(pool, redis, prefix, version, &snapshot).await?;
    report.caught_up_events += n;
    snapshot = next;

    anyhow::ensure!(
        versions::flip(pool, previous, version).await?,
        "the live version changed during the rebuild; not flipped"
    );
    tracing::info!(
        from = previous,
        to = version,
        "flipped the live read-model version"
    );

    // The flip waited for every live batch still applying to the old version, so one
    // round now takes in everything committed before it; from here on the live projector
    // writes the new version itself. Further rounds during the hand-off window only keep
    // the new version fresher while the projector's next batches arrive.
    let (n, next) = catch_up(pool, redis, prefix, version, &snapshot).await?;
    report.caught_up_events += n;
    snapshot = next;
    let handoff_end = Instant::now() + opts.handoff;
    while Instant::now() < handoff_end {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (n, next) = catch_up(pool, redis, prefix, version, &snapshot).await?;
        report.caught_up_events += n;
        snapshot = next;
    }
    report.total_secs = started.elapsed().as_secs_f64();
    report.peak_rss_bytes = peak_rss_bytes();

    if let Some(grace) = opts.grace {
        tracing::info!(
            version = previous,
            seconds = grace.as_secs(),
            "old version stays readable for the grace period"
        );
        tokio::time::sleep(grace).await;
        report.dropped_keys =
            Some(versions::drop_version(pool, redis, prefix, previous, "dropped").await?);
    }
    Ok(report)
}

fn progress_bar(total: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}

/// Reads, folds and writes the whole history into `version` part by part (see the
/// module documentation); answers the snapshot read, what was read and how many
/// documents were written.
async fn write_history(
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
    prefix: &str,
    version: i32,
    part_events: usize,
) -> anyhow::Result<(String, Folded, usize)> {
    let mut history = History::read(pool, None, part_events).await?;
    let snapshot = history.snapshot.clone();
    let bar = progress_bar(history.total);
    let total = history.total;
    let mut done = 0u64;
    let mut next_log = total / 10;
    let mut progress = |events: u64| {
        done += events;
        match &bar {
            Some(bar) => bar.set_position(done),
            None if done >= next_log && total > 0 => {
                tracing::info!(events = done, total, "history folded and written so far");
                next_log += (total / 10).max(1);
            }
            None => {}
        }
    };

    let mut catalog = match history.parts.recv().await {
        Some(Part::Catalog { world, events }) => {
            progress(events);
            world
        }
        _ => anyhow::bail!("the history ended before its catalog"),
    };
    let mut co = CoPurchases::default();
    let mut documents = 0;
    while let Some(part) = history.parts.recv().await {
        let Part::Sessions { world, events } = part else {
            anyhow::bail!("a second catalog in one history");
        };
        co.add(&world);
        let beside = Beside::new(&mut catalog, world);
        let streams: Vec<StreamId> = beside
            .streams()
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        let docs = render::session_docs(beside.world);
        documents += write_part(pool, redis, prefix, version, beside.world, &streams, docs).await?;
        beside.back();
        progress(events);
    }
    let folded = history.finish().await?;

    let streams: Vec<StreamId> = catalog
        .versions
        .keys()
        .filter_map(|s| s.parse().ok())
        .collect();
    let docs = render::catalog_docs(&catalog, &mut co);
    documents += write_part(pool, redis, prefix, version, &catalog, &streams, docs).await?;
    let search: Vec<SearchRow> = catalog
        .products
        .keys()
        .filter_map(|id| {
            render::search_row(&catalog, *id)
                .map(|(item, name, description, category)| (*id, item, name, description, category))
        })
        .collect();
    let lists: Vec<(String, u32)> = std::iter::once(ListId::All)
        .chain(catalog.categories.keys().map(|c| ListId::Category(*c)))
        .filter_map(|list| render::list_pages(&catalog, list).map(|(slug, pages, _)| (slug, pages)))
        .collect();
    let mut tx = pool.begin().await?;
    for chunk in search.chunks(WRITE_CHUNK) {
        store::documents::write_search(&mut tx, version, chunk, &[]).await?;
    }
    for (slug, pages) in &lists {
        store::documents::set_list_page_count(&mut tx, version, slug, *pages).await?;
    }
    store::progress::record_progress(&mut tx, version, folded.last_position, false).await?;
    tx.commit().await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok((snapshot, folded, documents))
}

/// Rows per statement and keys per Redis pipeline when writing history.
const WRITE_CHUNK: usize = 5_000;

/// Writes the entities of `streams` (their state in `world`) and `docs` into `version`
/// of both stores; answers the number of documents.
async fn write_part(
    pool: &PgPool,
    redis: &MultiplexedConnection,
    prefix: &str,
    version: i32,
    world: &World,
    streams: &[StreamId],
    docs: BTreeMap<String, String>,
) -> anyhow::Result<usize> {
    let revs = {
        let mut conn = pool.acquire().await?;
        store::documents::next_revs(&mut conn, docs.len()).await?
    };
    let writes: Vec<DocWrite> = docs
        .into_iter()
        .zip(revs)
        .map(|((key, doc), rev)| DocWrite {
            key,
            rev,
            doc: Some(doc),
        })
        .collect();

    let postgres = async {
        for chunk in streams.chunks(WRITE_CHUNK) {
            let mut tx = pool.begin().await?;
            store::entities::save_entities(&mut tx, version, world, chunk).await?;
            tx.commit().await?;
        }
        for chunk in writes.chunks(WRITE_CHUNK) {
            let mut tx = pool.begin().await?;
            store::documents::write_pg_docs(&mut tx, version, chunk).await?;
            tx.commit().await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    let keys = RedisKeys::new(prefix, version);
    let mut redis_conn = redis.clone();
    let hot = async {
        for chunk in writes.chunks(WRITE_CHUNK) {
            store::redis_docs::write_redis_docs(&mut redis_conn, &keys, chunk).await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::try_join!(postgres, hot)?;
    Ok(writes.len())
}

/// This process's peak resident memory (`VmHWM` in `/proc/self/status`), in bytes; 0
/// where there is no such file.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Applies the events committed after `since` (a snapshot) and visible now; answers how
/// many and the new snapshot.
async fn catch_up(
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
    prefix: &str,
    version: i32,
    since: &str,
) -> anyhow::Result<(u64, String)> {
    let now: String = sqlx::query_scalar("SELECT pg_current_snapshot()::text")
        .fetch_one(pool)
        .await?;
    let recs = event_store::read_committed_between(pool, since, &now).await?;
    for chunk in recs.chunks(2_000) {
        let items: Vec<Incoming> = chunk.iter().cloned().map(Incoming::Event).collect();
        apply_batch(pool, redis, prefix, version, &items).await?;
    }
    Ok((recs.len() as u64, now))
}
