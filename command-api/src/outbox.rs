//! The relay: publishes outbox rows to Kafka in position order and deletes them once the
//! broker acknowledged them.
//!
//! One leader at a time across instances: the leader holds a PostgreSQL advisory lock
//! on a DEDICATED connection (the lock lives and dies with that connection, so a crashed
//! leader frees it at once); standbys retry every `RELAY_STANDBY_MS`. The lock key is
//! derived from the database name, because advisory locks are server-wide and several
//! stores (tests) share one server. The lock connection has a statement timeout, a
//! client-side bound on each leader check and server-side TCP keepalives, so a hung
//! backend or a vanished leader loses the lock instead of holding it while nothing is
//! published. Polling, not LISTEN/NOTIFY: NOTIFY serializes commits.
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
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::task::JoinHandle;
use vitrine_contract::RecordedEvent;

use crate::config::RelayConfig;

/// Advisory-lock class of the relay (first half of the two-key lock; the second is the
/// hash of the database name).
const LOCK_CLASS: i32 = 0x7652_4c59; // "vRLY"
const MAX_BACKOFF: Duration = Duration::from_secs(2);
const LEADER_CHECK: Duration = Duration::from_secs(1);
/// A leader check that takes longer means the lock's backend hangs or the network is
/// gone: leadership is given up (the connection dropped) so that a standby can lead.
const LEADER_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Settings of the lock connection (a direct one: PgBouncer would drop them). The
/// server-side keepalives make PostgreSQL notice a leader that vanished from the network
/// within about 10 + 3 × 5 s and end its session, which frees the lock; the statement
/// timeout bounds the leader check on a hung backend.
const LOCK_CONNECTION_SETTINGS: [(&str, &str); 4] = [
    ("statement_timeout", "2000"),
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
];

pub struct Relay;

/// A running relay task.
pub struct RelayHandle {
    join: JoinHandle<()>,
    leader: Arc<AtomicBool>,
}

impl RelayHandle {
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
    }
}

impl Relay {
    /// Starts the relay on the pool's database; standby until it wins the lock.
    pub fn spawn(config: RelayConfig, pool: PgPool) -> RelayHandle {
        let leader = Arc::new(AtomicBool::new(false));
        let join = tokio::spawn(run(config, pool, leader.clone()));
        RelayHandle { join, leader }
    }
}

fn producer(config: &RelayConfig) -> Result<FutureProducer, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("enable.idempotence", config.kafka_idempotence.to_string())
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
        .set("compression.type", "none")
        .create()
}

/// Creates the topic if it is missing ("already exists" is success).
pub async fn ensure_topic(config: &RelayConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka_brokers)
        .create()?;
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

async fn run(config: RelayConfig, pool: PgPool, leader: Arc<AtomicBool>) {
    let mut producer = match producer(&config) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "relay: cannot create the Kafka producer; not relaying");
            return;
        }
    };
    metrics::gauge!("vitrine_relay_is_leader").set(0.0);
    loop {
        match try_lead(&pool, config.database_direct_url.as_deref()).await {
            Ok(Some(mut lock_conn)) => {
                tracing::info!(topic = %config.kafka_topic, "relay: leader");
                leader.store(true, Ordering::SeqCst);
                metrics::gauge!("vitrine_relay_is_leader").set(1.0);
                let reason = lead(&config, &pool, &mut lock_conn, &mut producer).await;
                leader.store(false, Ordering::SeqCst);
                metrics::gauge!("vitrine_relay_is_leader").set(0.0);
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

/// A dedicated connection holding the lock, or `None` while another relay leads.
async fn try_lead(
    pool: &PgPool,
    direct_url: Option<&str>,
) -> Result<Option<PgConnection>, sqlx::Error> {
    // A session-level lock: it must live on a real server connection, never a pooled one.
    let options = match direct_url {
        Some(url) => url.parse::<PgConnectOptions>()?,
        None => (*pool.connect_options()).clone(),
    }
    .options(LOCK_CONNECTION_SETTINGS);
    let mut conn = tokio::time::timeout(LEADER_CHECK_TIMEOUT, PgConnection::connect_with(&options))
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)??;
    let won: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext(current_database()))")
            .bind(LOCK_CLASS)
            .fetch_one(&mut conn)
            .await?;
    if won {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

/// Leads until the lock connection fails; returns why.
async fn lead(
    config: &RelayConfig,
    pool: &PgPool,
    lock_conn: &mut PgConnection,
    producer: &mut FutureProducer,
) -> anyhow::Error {
    let mut topic_ready = false;
    let mut backoff = Duration::from_millis(50);
    let mut last_check = Instant::now();
    loop {
        if last_check.elapsed() >= LEADER_CHECK {
            last_check = Instant::now();
            let check = sqlx::query("SELECT 1").execute(&mut *lock_conn);
            match tokio::time::timeout(LEADER_CHECK_TIMEOUT, check).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return e.into(),
                Err(_) => {
                    return anyhow::anyhow!(
                    "the leader lock's connection did not answer within {LEADER_CHECK_TIMEOUT:?}"
                )
                }
            }
            if let Ok(depth) = sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox")
                .fetch_one(pool)
                .await
            {
                metrics::gauge!("vitrine_outbox_depth_events").set(depth as f64);
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
            Ok(0) => tokio::time::sleep(config.poll()).await,
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

/// Publishes one batch; deletes exactly the acknowledged rows. `Ok(n)` = all n published.
#[tracing::instrument(skip_all)]
async fn relay_batch(
    config: &RelayConfig,
    pool: &PgPool,
    producer: &FutureProducer,
) -> anyhow::Result<usize> {
    let batch: Vec<RecordedEvent> = sqlx::query_as(
        "SELECT position, e.stream_id, version, event_type, schema_version, payload, metadata, recorded_at
         FROM outbox JOIN events e USING (position) ORDER BY position LIMIT $1",
    )
    .bind(config.batch)
    .fetch_all(pool)
    .await?;
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
        sqlx::query("DELETE FROM outbox WHERE position = ANY($1)")
            .bind(&acked)
            .execute(pool)
            .await?;
        metrics::counter!("vitrine_relay_published_events_total").increment(acked.len() as u64);
        if let Some(last) = acked.iter().max() {
            metrics::gauge!("vitrine_relay_last_published_position").set(*last as f64);
        }
    }
    if failures > 0 {
        anyhow::bail!("{failures} of {} events were not acknowledged", batch.len());
    }
    Ok(batch.len())
}
