//! The relay: publishes outbox rows to Kafka in position order and deletes them once the
//! broker acknowledged them.
//!
//! One leader at a time across instances: the leader holds a PostgreSQL advisory lock
//! on a DEDICATED connection (the lock lives and dies with that connection, so a crashed
//! leader frees it at once); standbys retry every `RELAY_STANDBY_MS`. The lock key is
//! derived from the database name, because advisory locks are server-wide and several
//! stores (tests) share one server. The lock connection has a statement timeout and
//! server-side TCP keepalives ([`locks::LIVENESS_SETTINGS`]), and every attempt to take
//! the lock and every leader check is bounded client-side ([`LEADER_CHECK_TIMEOUT`]), so a
//! hung backend or a vanished leader loses the lock instead of holding it while nothing
//! is published. A standby keeps its connection between attempts.
//!
//! Wake-ups, not busy polling: after a commit with events, an instance signals its
//! [`OutboxSignal`]; a small task turns the signals into one wake-up at a time: the local
//! relay's directly when this instance leads, else a NOTIFY on
//! [`wakeup::OUTBOX_CHANNEL`] (sent outside the command's transaction: NOTIFY inside it
//! would serialize commits), which the leader listens to. An idle leader still looks every
//! `RELAY_POLL_MS` (default 1 s), so a lost notice only delays. After each published batch
//! the relay notifies [`wakeup::PUBLISHED_CHANNEL`], which wakes the projectors.
//!
//! Delivery is at least once: a crash between the ack and the DELETE republishes a
//! batch, and so can a producer retry (the idempotent producer is off by default, see
//! `KAFKA_IDEMPOTENCE`); the projector skips versions it has (invariant 3).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use sqlx::{PgConnection, PgPool};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use vitrine_runtime::event_store;
use vitrine_runtime::locks::{self, LockTarget};
use vitrine_runtime::wakeup::{self, Listener};

use crate::config::RelayConfig;

/// Advisory-lock class of the relay (first half of the two-key lock; the second is the
/// hash of the database name).
const LOCK_CLASS: i32 = 0x7652_4c59; // "vRLY"
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const LEADER_CHECK: Duration = Duration::from_secs(1);
/// Taking the lock or a leader check that takes longer means the lock's backend hangs or
/// the network is gone: the attempt fails, or leadership is given up (the connection
/// dropped) so that a standby can lead.
const LEADER_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
const NOTICE_SPACING: Duration = Duration::from_millis(5);

pub struct Relay;

/// A running relay task.
pub struct RelayHandle {
    join: JoinHandle<()>,
    signaller: JoinHandle<()>,
    leader: Arc<AtomicBool>,
    signal: OutboxSignal,
}

/// Told by the command pipeline after every commit that appended events; cheap and
/// never blocking (signals arriving while one wake-up is sent merge into the next).
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn committed(&self) {
        self.0.notify_one();
    }
}

impl RelayHandle {
    /// The signal the command pipeline gives after a commit.
    pub fn signal(&self) -> OutboxSignal {
        self.signal.clone()
    }
    /// Whether this relay currently holds the leader lock.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }
    /// Stops the relay at once, as a crash would (its lock connection is dropped).
    pub fn abort(&self) {
        self.join.abort();
    }
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }
}

impl Drop for RelayHandle {
    fn drop(&mut self) {
        self.join.abort();
        self.signaller.abort();
    }
}

impl Relay {
    /// Starts the relay on the pool's database; standby until it wins the lock.
    pub fn spawn(config: RelayConfig, pool: PgPool) -> RelayHandle {
        let leader = Arc::new(AtomicBool::new(false));
        let wake = Arc::new(Notify::new());
        let signal = OutboxSignal::default();
        let signaller = tokio::spawn(signal_commits(
            signal.clone(),
            pool.clone(),
            leader.clone(),
            wake.clone(),
        ));
        let join = tokio::spawn(run(config, pool, leader.clone(), wake));
        RelayHandle {
            join,
            signaller,
            leader,
            signal,
        }
    }
}

/// Turns commit signals into wake-ups of the leader, one at a time.
async fn signal_commits(
    signal: OutboxSignal,
    pool: PgPool,
    leader: Arc<AtomicBool>,
    wake: Arc<Notify>,
) {
    loop {
        signal.0.notified().await;
        if leader.load(Ordering::SeqCst) {
            wake.notify_one();
            continue;
        }
        if let Err(error) = wakeup::notify(&pool, wakeup::OUTBOX_CHANNEL).await {
            // the leader looks by itself within RELAY_POLL_MS
            tracing::debug!(%error, "relay: could not notify the leader");
        }
        // Under load the leader is busy anyway: at most one notice per NOTICE_SPACING,
        // the commits of the meantime merge into the next.
        tokio::time::sleep(NOTICE_SPACING).await;
    }
}

/// The brokers and the operator's extra properties (TLS, SASL, ...: `KAFKA_OPTION_*`,
/// `KAFKA_PROPERTIES_FILE`), which win over the program's own settings.
pub fn client_config(
    config: &RelayConfig,
    own: impl FnOnce(&mut ClientConfig),
) -> anyhow::Result<ClientConfig> {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.kafka_brokers);
    own(&mut client);
    let extra = vitrine_runtime::kafka::client_options(config.kafka_properties_file.as_deref())
        .map_err(anyhow::Error::msg)?;
    for (name, value) in extra {
        client.set(name, value);
    }
    Ok(client)
}

fn producer(config: &RelayConfig) -> anyhow::Result<FutureProducer> {
    Ok(client_config(config, |c| {
        c.set("enable.idempotence", config.kafka_idempotence.to_string())
            // one request in flight per broker keeps a stream's events in order through
            // retries without the idempotent producer
            .set(
                "max.in.flight.requests.per.connection",
                if config.kafka_idempotence { "5" } else { "1" },
            )
            .set("acks", "all")
            // publishing again within a second of the broker's return (the default backs off to 10 s)
            .set("reconnect.backoff.max.ms", "1000")
            .set("linger.ms", config.linger_ms.to_string())
            .set("message.timeout.ms", config.message_timeout_ms.to_string())
            .set("compression.type", "none");
    })?
    .create()?)
}

/// Creates the topic if it is missing ("already exists" is success).
pub async fn ensure_topic(config: &RelayConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client_config(config, |_| {})?.create()?;
    let topic = NewTopic::new(
        &config.kafka_topic,
        config.kafka_partitions,
        TopicReplication::Fixed(config.kafka_replication),
    );
    let opts = AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(5)))
        .request_timeout(Some(Duration::from_secs(5)));
    for result in admin.create_topics([&topic], &opts).await? {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => anyhow::bail!("create topic {t}: {e}"),
        }
    }
    Ok(())
}

async fn run(config: RelayConfig, pool: PgPool, leader: Arc<AtomicBool>, wake: Arc<Notify>) {
    metrics::gauge!(vitrine_runtime::metric::RELAY_IS_LEADER).set(0.0);
    // A standby keeps its connection between attempts (a new backend every second
    // would cost the idle store more than the attempt itself).
    let mut standby: Option<PgConnection> = None;
    loop {
        match try_lead(&pool, config.database_direct_url.as_deref(), &mut standby).await {
            Ok(Some(mut lock_conn)) => {
                tracing::info!(topic = %config.kafka_topic, "relay: leader");
                leader.store(true, Ordering::SeqCst);
                metrics::gauge!(vitrine_runtime::metric::RELAY_IS_LEADER).set(1.0);
                let listener =
                    match LockTarget::new(&pool, config.database_direct_url.as_deref()).options() {
                        Ok(options) => Some(Listener::spawn(
                            options,
                            wakeup::OUTBOX_CHANNEL,
                            wake.clone(),
                        )),
                        Err(error) => {
                            tracing::warn!(%error, "relay: no wake-ups (bad direct URL); polling");
                            None
                        }
                    };
                // Only the leader holds a producer: its polling thread was the busiest
                // thread of an idle standby (docs/performance.md, "Idle").
                let reason = match producer(&config) {
                    Ok(mut producer) => {
                        lead(&config, &pool, &mut lock_conn, &mut producer, &wake).await
                    }
                    Err(e) => anyhow::anyhow!("cannot create the Kafka producer: {e}"),
                };
                drop(listener);
                leader.store(false, Ordering::SeqCst);
                metrics::gauge!(vitrine_runtime::metric::RELAY_IS_LEADER).set(0.0);
                tracing::warn!(error = %reason, "relay: lost leadership");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "relay: cannot reach PostgreSQL for the leader lock")
            }
        }
        tokio::time::sleep(config.standby()).await;
    }
}

/// A dedicated connection holding the lock, or `None` while another relay leads (the
/// connection is kept in `standby` for the next attempt).
async fn try_lead(
    pool: &PgPool,
    direct_url: Option<&str>,
    standby: &mut Option<PgConnection>,
) -> Result<Option<PgConnection>, sqlx::Error> {
    // A session-level lock: it must live on a real server connection, never a pooled one.
    let target = LockTarget::new(pool, direct_url).with_settings(&locks::LIVENESS_SETTINGS)?;
    let attempt = locks::try_exclusive_keeping(&target, LOCK_CLASS, standby);
    match tokio::time::timeout(LEADER_CHECK_TIMEOUT, attempt).await {
        Ok(result) => result,
        // The standby connection (if any) went with the abandoned attempt.
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Leads until the lock connection fails; returns why.
async fn lead(
    config: &RelayConfig,
    pool: &PgPool,
    lock_conn: &mut PgConnection,
    producer: &mut FutureProducer,
    wake: &Notify,
) -> anyhow::Error {
    let mut topic_ready = false;
    let mut backoff = Duration::from_millis(50);
    let mut last_check = Instant::now();
    loop {
        if last_check.elapsed() >= LEADER_CHECK {
            last_check = Instant::now();
            if let Err(e) = check_leader(pool, lock_conn).await {
                return e;
            }
        }
        if !topic_ready {
            match ensure_topic(config).await {
                Ok(()) => topic_ready = true,
                Err(e) => {
                    tracing::warn!(error = %e, ?backoff, "relay: broker unreachable, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        match relay_batch(config, pool, producer).await {
            Ok(0) => {
                // idle: until a commit wakes us or the poll is due, checking the lock
                let poll_at = Instant::now() + config.poll();
                loop {
                    let until = (last_check + LEADER_CHECK).min(poll_at);
                    tokio::select! {
                        _ = wake.notified() => break,
                        _ = tokio::time::sleep_until(tokio::time::Instant::from_std(until)) => {}
                    }
                    if Instant::now() >= poll_at {
                        break;
                    }
                    last_check = Instant::now();
                    if let Err(e) = check_leader(pool, lock_conn).await {
                        return e;
                    }
                }
            }
            Ok(_) => backoff = Duration::from_millis(50),
            Err(e) => {
                tracing::warn!(error = %e, ?backoff, "relay: batch not fully published, retrying");
                // An idempotent producer can fail fatally (e.g. after timeouts the broker
                // cannot reconcile); only a new producer recovers from that.
                if let Some((code, reason)) = producer.client().fatal_error() {
                    tracing::warn!(?code, %reason, "relay: producer failed fatally, recreating it");
                    match self::producer(config) {
                        Ok(p) => *producer = p,
                        Err(e) => {
                            tracing::error!(error = %e, "relay: cannot recreate the producer")
                        }
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The lock connection still answers within [`LEADER_CHECK_TIMEOUT`] (else leadership is
/// lost); the outbox depth gauge.
async fn check_leader(pool: &PgPool, lock_conn: &mut PgConnection) -> anyhow::Result<()> {
    let check = sqlx::query("SELECT 1").execute(&mut *lock_conn);
    match tokio::time::timeout(LEADER_CHECK_TIMEOUT, check).await {
        Ok(result) => {
            result?;
        }
        Err(_) => anyhow::bail!(
            "the leader lock's connection did not answer within {LEADER_CHECK_TIMEOUT:?}"
        ),
    }
    if let Ok(depth) = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
        .fetch_one(pool)
        .await
    {
        metrics::gauge!(vitrine_runtime::metric::OUTBOX_DEPTH_EVENTS).set(depth as f64);
    }
    Ok(())
}

/// Publishes one batch; deletes exactly the acknowledged rows. `Ok(n)` = all n published.
#[tracing::instrument(skip_all)]
async fn relay_batch(
    config: &RelayConfig,
    pool: &PgPool,
    producer: &FutureProducer,
) -> anyhow::Result<usize> {
    let batch = event_store::read_outbox(pool, config.batch).await?;
    if batch.is_empty() {
        return Ok(0);
    }
    // Enqueue all in position order first (one partition per stream keeps per-stream
    // order), then wait for every acknowledgement.
    let mut pending = Vec::with_capacity(batch.len());
    let mut failures = 0usize;
    for event in &batch {
        let payload = event.to_json();
        let record = FutureRecord::to(&config.kafka_topic)
            .key(event.stream_id.as_str())
            .payload(&payload);
        match producer.send_result(record) {
            Ok(delivery) => pending.push((event.position, delivery)),
            Err((e, _)) => {
                failures += 1;
                tracing::debug!(error = %e, position = event.position, "relay: not enqueued");
            }
        }
    }
    let (positions, futures): (Vec<i64>, Vec<_>) = pending.into_iter().unzip();
    let results = join_all(futures).await;
    let acked: Vec<i64> = positions
        .into_iter()
        .zip(results)
        .filter_map(|(pos, r)| matches!(r, Ok(Ok(_))).then_some(pos))
        .collect();
    failures += batch.len() - failures - acked.len();
    if !acked.is_empty() {
        // one statement: delete, and wake the projectors
        sqlx::query(
            "WITH published AS (DELETE FROM outbox WHERE position = ANY($1))
             SELECT pg_notify($2, '')",
        )
        .bind(&acked)
        .bind(wakeup::PUBLISHED_CHANNEL)
        .execute(pool)
        .await?;
        metrics::counter!(vitrine_runtime::metric::RELAY_PUBLISHED_EVENTS_TOTAL)
            .increment(acked.len() as u64);
        if let Some(last) = acked.iter().max() {
            metrics::gauge!(vitrine_runtime::metric::RELAY_LAST_PUBLISHED_POSITION)
                .set(*last as f64);
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} events were not acknowledged", batch.len());
    }
    Ok(batch.len())
}
