//! One batch, end to end, in phases, each in a module of its own:
//!
//! 1. [`group`]: messages by stream, poison into dead letters (pure);
//! 2. in one transaction: the flip lock (live batches), the dependency locks, then
//!    [`fold`]: lock, load and fold the streams, filling gaps from the event store;
//! 3. [`targets`]: what the touches reach, render-locked;
//! 4. [`documents`]: every target rendered once;
//! 5. [`write`]: documents, search rows, dead letters, progress, offsets and the owed
//!    Redis write into PostgreSQL, commit; then Redis in one pipeline.
//!
//! Safe to run again on the same events: an applied event is skipped and renders
//! nothing (what a crash cut short is in `rm_redis_owed`, not in a redelivery).

mod documents;
mod fold;
mod group;
mod targets;
mod write;

use std::time::Instant;

use sqlx::PgPool;
use vitrine_contract::{RecordedEvent, StreamId};

use crate::store;
use crate::store::progress::DeadLetter;
use crate::world::Touch;

/// What arrives from the topic.
#[derive(Debug, Clone)]
pub enum Incoming {
    Event(RecordedEvent),
    /// A message that is not a recorded event at all.
    Poison(DeadLetter),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub applied: u64,
    pub skipped: u64,
    pub dead_letters: u64,
    pub docs: usize,
    pub redis_written: usize,
    /// Documents committed to PostgreSQL whose Redis write failed: owed, and written by
    /// [`crate::redis_repair`] once Redis answers again.
    pub redis_owed: usize,
    /// Highest position seen in the batch (0 if none).
    pub position: i64,
    /// Positions of the events this batch dead-lettered (again, for a replay).
    pub dead_positions: Vec<i64>,
}

/// A batch fails only when PostgreSQL does: Redis writes that fail are owed, not fatal.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
}

/// Where a live batch leaves the topic: the next offset of each partition it read,
/// committed in the batch's own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

fn dead_letter(rec: &RecordedEvent, error: String) -> DeadLetter {
    DeadLetter {
        position: rec.position,
        stream_id: rec.stream_id.clone(),
        event_type: rec.event_type.clone(),
        error,
        raw: String::from_utf8_lossy(&rec.to_json()).into_owned(),
    }
}

/// Which read-model version a batch goes to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Whatever is live when the batch's transaction starts, read under the flip lock.
    Live,
    Version(i32),
}

/// Applies a batch into read-model `version` of both stores (a rebuild's catch-up,
/// tests and benchmarks name the version).
pub async fn apply_batch<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    items: &[Incoming],
) -> Result<BatchReport, ApplyError> {
    apply(
        pool,
        redis,
        prefix,
        Target::Version(version),
        items,
        &[],
        &[],
    )
    .await
}

/// Re-folds `streams` from their first event in read-model `version` (their stored state
/// is set aside inside the batch's transaction): what replaying a dead letter after a fix
/// takes, since a dead-lettered event was skipped over.
pub async fn refold_streams<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    streams: &[StreamId],
) -> Result<BatchReport, ApplyError> {
    apply(
        pool,
        redis,
        prefix,
        Target::Version(version),
        &[],
        streams,
        &[],
    )
    .await
}

/// The live projector's batch: applied into the version that is live when its
/// transaction starts. It holds the flip lock shared until it commits, so a rebuild's
/// flip waits for it, and everything applied to the old version is committed before
/// the flip is (see [`crate::versions::flip`]). `offsets` are recorded in the same
/// transaction, so the batch and where the consumer stands commit together.
pub async fn apply_live_batch<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    items: &[Incoming],
    offsets: &[PartitionOffset],
) -> Result<BatchReport, ApplyError> {
    apply(pool, redis, prefix, Target::Live, items, &[], offsets).await
}

/// The correlation ids of a batch's events (one per command that caused them), for its
/// span: a command's `x-request-id` is its events' correlation id, so an operator finds
/// the projector's lines of a request by it. At most 8, then "…".
pub(crate) fn correlation_ids(items: &[Incoming]) -> String {
    let mut ids: Vec<String> = Vec::new();
    for item in items {
        if let Incoming::Event(e) = item {
            if let Some(id) = e.metadata.correlation_id {
                let id = id.to_string();
                if !ids.contains(&id) {
                    if ids.len() == 8 {
                        ids.push("…".to_owned());
                        break;
                    }
                    ids.push(id);
                }
            }
        }
    }
    ids.join(",")
}

#[tracing::instrument(skip_all, fields(events = items.len(), ?target, correlation_ids = %correlation_ids(items)))]
async fn apply<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    target: Target,
    items: &[Incoming],
    refold: &[StreamId],
    offsets: &[PartitionOffset],
) -> Result<BatchReport, ApplyError> {
    let started = Instant::now();
    let grouped = group::group(items);
    let position = grouped.position;

    let mut tx = pool.begin().await?;
    let version = match target {
        Target::Version(v) => v,
        Target::Live => crate::versions::live_version_for_batch(&mut tx).await?,
    };
    store::locks::lock_dependencies(&mut tx, &grouped.dependencies()).await?;
    let mut letters = grouped.letters;
    let folded = fold::fold(&mut tx, version, grouped.by_stream, refold).await?;
    letters.extend(folded.letters);

    // Cached search results hold list items and match on name, description and category:
    // only a change to those retires them. A stock change that keeps the stock status
    // (most checkouts) leaves every list page, and so every search result, as it was.
    let catalog_changed = folded.search_text_changed
        || folded
            .touches
            .iter()
            .any(|t| matches!(t, Touch::List(_) | Touch::Categories | Touch::ProductsIn(_)));
    let targets = targets::resolve(&mut tx, version, &folded.touches).await?;
    let rendered = documents::render_targets(&mut tx, version, &targets).await?;
    let written = write::to_postgres(
        &mut tx,
        version,
        rendered,
        &letters,
        position,
        catalog_changed,
        offsets,
    )
    .await?;
    tx.commit().await?;

    let mut report = BatchReport {
        applied: folded.applied,
        skipped: folded.skipped,
        dead_letters: letters.len() as u64,
        dead_positions: letters.iter().map(|l| l.position).collect(),
        docs: written.docs.len(),
        position,
        ..BatchReport::default()
    };
    write::to_redis(pool, redis, prefix, version, &written, &mut report).await;

    metrics::counter!(vitrine_runtime::metric::PROJECTOR_APPLIED_EVENTS_TOTAL)
        .increment(report.applied);
    metrics::counter!(vitrine_runtime::metric::PROJECTOR_DEAD_LETTERS_TOTAL)
        .increment(written.new_letters);
    metrics::counter!(vitrine_runtime::metric::PROJECTOR_DOCS_WRITTEN_TOTAL)
        .increment(report.docs as u64);
    metrics::histogram!(vitrine_runtime::metric::PROJECTOR_BATCH_DURATION_SECONDS)
        .record(started.elapsed().as_secs_f64());
    if matches!(target, Target::Live) {
        // Write -> readable: each event from its recording to both stores written.
        let now = chrono::Utc::now();
        for item in items {
            if let Incoming::Event(e) = item {
                let delay =
                    (now - e.recorded_at).num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6;
                metrics::histogram!(vitrine_runtime::metric::PROJECTOR_EVENT_DELAY_SECONDS)
                    .record(delay.max(0.0));
                tracing::debug!(
                    position = e.position,
                    stream_id = %e.stream_id,
                    event_type = %e.event_type,
                    correlation_id = %e.metadata.correlation_id.map(|c| c.to_string()).unwrap_or_default(),
                    delay_seconds = delay,
                    "event readable"
                );
            }
        }
    }
    if report.position > 0 {
        metrics::gauge!(vitrine_runtime::metric::PROJECTOR_POSITION).set(report.position as f64);
    }
    Ok(report)
}
