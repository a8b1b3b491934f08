//! The consumer loop: the partitions this instance owns ([`crate::partitions`]) are
//! assigned directly, each from the offset stored with the read models; a batch is
//! whatever is ready (up to `batch_max`), applied with its offsets in one transaction.
//! A failed batch is retried with backoff, never skipped. Between batches (and every
//! second when idle) ownership is refreshed, and the [`crate::watchdog`] compares the
//! owned partitions with the broker's high watermarks.
//!
//! Idle without busy fetching: after `IDLE_PAUSE` without a message or notice the
//! consumer gives up its assignment (librdkafka stops fetching; the local broker otherwise
//! answers about a hundred empty fetches a second per partition), and assigns again from
//! the stored offsets when the relay's notice ([`wakeup::PUBLISHED_CHANNEL`]) says
//! something was published, or when the watermark check (every `PROJECTOR_WATCH_SECONDS`)
//! finds messages waiting anyway (a lost notice).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use vitrine_contract::RecordedEvent;
use vitrine_runtime::locks::LockTarget;
use vitrine_runtime::wakeup::{self, Listener};

use crate::apply::{apply_live_batch, Incoming, PartitionOffset};
use crate::partitions::{self, Ownership};
use crate::store::progress::DeadLetter;
use crate::watchdog::{Health, Verdict, Watchdog};
use crate::Config;

/// How often ownership is refreshed.
const TICK: Duration = Duration::from_secs(1);
/// How long without a message (or a notice) before fetching stops.
const IDLE_PAUSE: Duration = Duration::from_millis(250);

/// Whether the consumer fetches. Idle, it gives up its assignment (librdkafka then stops
/// fetching); a wake-up assigns again from the stored offsets. Not `pause`/`resume`:
/// librdkafka's fetcher notices a resume only at its next scheduled wake-up, up to a
/// second later, while a new assignment wakes it at once.
struct Fetching {
    idle: bool,
    /// The last message or notice: fetching stops `IDLE_PAUSE` after it.
    active_at: Instant,
}

impl Fetching {
    fn new() -> Self {
        Self {
            idle: false,
            active_at: Instant::now(),
        }
    }
    fn stop(&mut self, consumer: &StreamConsumer) {
        match consumer.unassign() {
            Ok(()) => self.idle = true,
            Err(error) => tracing::debug!(%error, "could not stop fetching"),
        }
    }
    /// A new assignment fetches.
    fn assigned(&mut self) {
        self.idle = false;
        self.active_at = Instant::now();
    }
}

/// A consumer that never joins a group: partitions are assigned by
/// [`crate::partitions`] and offsets kept in PostgreSQL, so the broker's group membership
/// (JoinGroup/SyncGroup) is never involved. librdkafka wants a `group.id` for `assign`
/// all the same; nothing is committed under it.
pub fn consumer(config: &Config) -> anyhow::Result<StreamConsumer> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("group.id", format!("{}.projector", config.kafka_topic))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        // back at work within a second of the broker's return (the default backs off to 10 s)
        .set("reconnect.backoff.max.ms", "1000");
    // The operator's extra properties (TLS, SASL, ...: `KAFKA_OPTION_*`,
    // `KAFKA_PROPERTIES_FILE`) win over the settings above.
    let extra = vitrine_runtime::kafka::client_options(config.kafka_properties_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    for (name, value) in extra {
        client.set(name, value);
    }
    let consumer: StreamConsumer = client.create()?;
    Ok(consumer)
}

/// What a message becomes: a recorded event, or a poison message kept for the record.
fn incoming(key: Option<&[u8]>, payload: Option<&[u8]>, offset: i64) -> Incoming {
    let payload = payload.unwrap_or_default();
    match RecordedEvent::from_json(payload) {
        Ok(rec) => Incoming::Event(rec),
        Err(e) => {
            // best effort: where the event sits, from whatever of it parses
            let loose: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            Incoming::Poison(DeadLetter {
                position: loose
                    .get("position")
                    .and_then(|p| p.as_i64())
                    .unwrap_or(-offset),
                stream_id: key
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default(),
                event_type: loose
                    .get("event_type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_owned(),
                error: format!("not a recorded event: {e}"),
                raw: String::from_utf8_lossy(payload).into_owned(),
            })
        }
    }
}

/// The topic's partition count, waiting (bounded by shutdown) until the topic exists.
async fn partition_count(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<i32> {
    loop {
        let c = consumer.clone();
        let t = topic.to_owned();
        let found = tokio::task::spawn_blocking(move || {
            c.fetch_metadata(Some(&t), Duration::from_secs(5))
                .ok()
                .and_then(|m| m.topics().first().map(|t| t.partitions().len() as i32))
        })
        .await
        .ok()
        .flatten()
        .filter(|n| *n > 0);
        if found.is_some() {
            return found;
        }
        tracing::warn!(%topic, "topic not found yet; waiting for it");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = shutdown.changed() => return None,
        }
    }
}

/// High watermarks of `partitions`, from the broker (blocking calls, off the runtime).
async fn high_watermarks(
    consumer: &Arc<StreamConsumer>,
    topic: &str,
    partitions: &BTreeSet<i32>,
) -> BTreeMap<i32, i64> {
    let c = consumer.clone();
    let t = topic.to_owned();
    let list: Vec<i32> = partitions.iter().copied().collect();
    tokio::task::spawn_blocking(move || {
        list.into_iter()
            .filter_map(|p| {
                c.fetch_watermarks(&t, p, Duration::from_secs(2))
                    .ok()
                    .map(|(_, high)| (p, high))
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Assigns the owned partitions, each from its stored offset; answers where each starts.
async fn assign(
    consumer: &StreamConsumer,
    pool: &PgPool,
    topic: &str,
    owned: &BTreeSet<i32>,
) -> anyhow::Result<Vec<(i32, i64)>> {
    let stored = partitions::stored_offsets(pool, topic, owned).await?;
    let mut tpl = TopicPartitionList::new();
    let mut starts = Vec::new();
    for p in owned {
        match stored.get(p) {
            Some(next) => {
                tpl.add_partition_offset(topic, *p, Offset::Offset(*next))?;
                starts.push((*p, *next));
            }
            None => {
                tpl.add_partition_offset(topic, *p, Offset::Beginning)?;
                starts.push((*p, 0));
            }
        }
    }
    consumer.assign(&tpl)?;
    tracing::info!(partitions = ?owned, ?starts, "assigned");
    Ok(starts)
}

/// Runs until `shutdown` turns true; the batch in hand is finished and committed first.
/// Answers an error when the watchdog gives up (stalled even after seeking again), so
/// the process exits and its supervisor starts a fresh one.
pub async fn consume(
    config: &Config,
    pool: PgPool,
    mut redis: crate::redis_repair::LazyRedis,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer = Arc::new(consumer(config)?);
    let topic = config.kafka_topic.as_str();
    let Some(count) = partition_count(&consumer, topic, &mut shutdown).await else {
        return Ok(());
    };
    let mut ownership = Ownership::new(
        LockTarget::new(&pool, config.database_direct_url.as_deref()),
        topic,
        count,
    );
    let mut watchdog = Watchdog::new(Duration::from_secs(config.stall_seconds));
    let published = std::sync::Arc::new(Notify::new());
    let listener = match LockTarget::new(&pool, config.database_direct_url.as_deref()).options() {
        Ok(options) => Some(Listener::spawn(
            options,
            wakeup::PUBLISHED_CHANNEL,
            published.clone(),
        )),
        Err(error) => {
            tracing::warn!(%error, "no wake-ups (bad direct URL): fetching never pauses");
            None
        }
    };
    let mut fetching = Fetching::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_watch = Instant::now();
    let mut reassign = false;
    let (mut errors_seen, mut last_error_log) = (0u64, Instant::now() - Duration::from_secs(60));
    let result = loop {
        if *shutdown.borrow() {
            break Ok(());
        }
        // wait for the first message, then take whatever else is ready
        let idle_at = tokio::time::Instant::from_std(fetching.active_at + IDLE_PAUSE);
        let can_idle = !fetching.idle && listener.is_some() && !ownership.owned().is_empty();
        let first = tokio::select! {
            m = consumer.recv() => Some(m),
            _ = tick.tick() => None,
            _ = published.notified() => {
                if !fetching.idle {
                    fetching.active_at = Instant::now();
                    continue;
                }
                reassign = true;
                None
            }
            _ = tokio::time::sleep_until(idle_at), if can_idle => {
                fetching.stop(&consumer);
                continue;
            }
            _ = shutdown.changed() => break Ok(()),
        };
        let Some(first) = first else {
            if ownership.rebalance().await || reassign {
                reassign = false;
                match assign(&consumer, &pool, topic, ownership.owned()).await {
                    Ok(starts) => {
                        fetching.assigned();
                        watchdog.assigned(starts)
                    }
                    Err(error) => {
                        tracing::warn!(%error, "could not assign partitions; retrying");
                        reassign = true;
                        continue;
                    }
                }
            }
            if last_watch.elapsed() >= Duration::from_secs(config.watch_seconds) {
                last_watch = Instant::now();
                let high = high_watermarks(&consumer, topic, ownership.owned()).await;
                let lag = watchdog.lag(&high);
                metrics::gauge!(vitrine_runtime::metric::PROJECTOR_LAG_MESSAGES).set(lag as f64);
                if lag > 0 && fetching.idle {
                    tracing::debug!(lag, "messages waiting while idle (a notice was lost)");
                    reassign = true;
                }
                match watchdog.check(&high, Instant::now()) {
                    Verdict::Healthy => health.set_stalled(None),
                    Verdict::Stalled { reason, seek } => {
                        if seek {
                            tracing::error!(%reason, "projector stalled: seeking every partition again");
                            metrics::counter!(vitrine_runtime::metric::PROJECTOR_STALLS_TOTAL)
                                .increment(1);
                            reassign = true;
                        }
                        health.set_stalled(Some(reason));
                    }
                    Verdict::GiveUp { reason } => {
                        health.set_stalled(Some(reason.clone()));
                        break Err(anyhow::anyhow!(
                            "projector stalled and seeking again did not help ({reason}); exiting for the supervisor to restart it"
                        ));
                    }
                }
            }
            continue;
        };
        let mut items = Vec::new();
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        let owned = ownership.owned().clone();
        fn take(
            m: rdkafka::message::BorrowedMessage<'_>,
            owned: &BTreeSet<i32>,
            items: &mut Vec<Incoming>,
            offsets: &mut BTreeMap<i32, i64>,
        ) {
            // a message of a partition given away meanwhile is the new owner's
            if owned.contains(&m.partition()) {
                items.push(incoming(m.key(), m.payload(), m.offset()));
                offsets.insert(m.partition(), m.offset() + 1);
            }
        }
        match first {
            Ok(m) => {
                fetching.active_at = Instant::now();
                take(m, &owned, &mut items, &mut offsets)
            }
            Err(e) => {
                // librdkafka reconnects by itself; its errors are reports, queued in
                // line with the messages. Read them at once (pausing here let a broker
                // outage's backlog of reports hold the messages back for minutes), and
                // log a few, not every one.
                errors_seen += 1;
                if last_error_log.elapsed() >= Duration::from_secs(5) {
                    tracing::warn!(error = %e, reports = errors_seen, "consumer error");
                    last_error_log = Instant::now();
                    errors_seen = 0;
                }
                continue;
            }
        }
        while items.len() < config.batch_max {
            match tokio::time::timeout(Duration::from_millis(2), consumer.recv()).await {
                Ok(Ok(m)) => take(m, &owned, &mut items, &mut offsets),
                _ => break,
            }
        }
        if items.is_empty() {
            continue;
        }
        let batch_offsets: Vec<PartitionOffset> = offsets
            .iter()
            .map(|(p, next)| PartitionOffset {
                topic: topic.to_owned(),
                partition: *p,
                next_offset: *next,
            })
            .collect();

        let mut backoff = Duration::from_millis(100);
        loop {
            match apply_live_batch(
                &pool,
                &mut redis,
                &config.redis_prefix,
                &items,
                &batch_offsets,
            )
            .await
            {
                Ok(report) => {
                    tracing::debug!(?report, "batch applied");
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        correlation_ids = %crate::apply::correlation_ids(&items),
                        "batch failed; retrying"
                    );
                    metrics::counter!(vitrine_runtime::metric::PROJECTOR_BATCH_FAILURES_TOTAL)
                        .increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {},
                        _ = shutdown.changed() => {
                            // not applied: the stored offsets still point before it
                            ownership.leave().await;
                            return Ok(());
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        fetching.active_at = Instant::now();
        for (p, next) in &offsets {
            watchdog.progressed(*p, *next);
        }
    };
    ownership.leave().await;
    result
}
