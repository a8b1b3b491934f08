//! The projector: consumes the events the relay publishes and keeps every read model
//! in Redis (hot) and PostgreSQL (durable), idempotently and order-safe.
//!
//! Layout:
//! - [`world`]: the pure side: `world::state` (entities, the `World`), `world::fold`
//!   (events into state, what an event touches, what it depends on), `world::stored`
//!   (entities ↔ `rm_entities` rows);
//! - [`render`]: pure renderers from a world to document bytes, shared by every path
//!   (depends on `world`, never the other way);
//! - [`apply`]: one batch through both stores, in phases (`group`, `fold`, `targets`, `documents`, `write`);
//! - [`store`]: every SQL statement and Redis command of a batch, one module per thing
//!   stored (`entities`, `dependents`, `locks`, `documents`, `redis_docs`, `progress`);
//!   the events themselves are read through `vitrine_runtime::event_store`;
//! - [`consumer`]: the Kafka consumer loop (offsets committed with the batch, retry with backoff);
//! - [`partitions`]: which instance owns which partition (advisory locks), stored offsets;
//! - [`watchdog`]: stall detection ("messages waiting, no progress") and `/readyz` health;
//! - [`redis_repair`]: owed Redis writes after an outage, refilling an empty Redis, the store marker;
//! - [`dead_letters`]: listing, replaying and discarding events the projector could not apply;
//! - [`history`]: the whole event store folded in bounded memory (the catalog, then whole
//!   sessions part by part), for `rebuild` and `verify`;
//! - [`verify`]: a fresh whole-history fold compared with both stores;
//! - [`rebuild`]: history replayed into the next read-model version, catch-up, gate, flip;
//! - [`versions`]: claiming, flipping and dropping read-model versions;
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`.

pub mod apply;
pub mod consumer;
pub mod dead_letters;
pub mod history;
pub mod http;
pub mod partitions;
pub mod rebuild;
pub mod redis_repair;
pub mod render;
pub mod store;
pub mod verify;
pub mod versions;
pub mod watchdog;
pub mod world;

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use apply::{apply_batch, BatchReport, Incoming};
pub use verify::{verify, Difference};

/// The projector's configuration, from the environment.
#[derive(Debug, Clone, clap::Parser)]
pub struct Config {
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/vitrine"
    )]
    pub database_url: String,
    /// Unpooled URL for session-scoped work (migrations, the rebuild lock); PgBouncer's
    /// transaction pooling would break both. Defaults to DATABASE_URL.
    #[arg(long, env = "DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 8)]
    pub db_pool_max: u32,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    #[arg(long, env = "REDIS_PREFIX", default_value = "vitrine:")]
    pub redis_prefix: String,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[arg(long, env = "KAFKA_TOPIC", default_value = "vitrine.events")]
    pub kafka_topic: String,
    /// A librdkafka properties file (`name=value` lines). Any librdkafka property can
    /// also be set as KAFKA_OPTION_<NAME>, dots as underscores (KAFKA_OPTION_SECURITY_PROTOCOL=SASL_SSL
    /// is security.protocol, KAFKA_OPTION_SASL_PASSWORD is sasl.password): TLS, SASL and
    /// the rest; they override the file and the program's own settings. Values are never
    /// printed.
    #[arg(long, env = "KAFKA_PROPERTIES_FILE")]
    pub kafka_properties_file: Option<std::path::PathBuf>,
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8090")]
    pub listen_addr: String,
    /// Most messages applied in one batch.
    #[arg(long, env = "PROJECTOR_BATCH_MAX", default_value_t = 2000)]
    pub batch_max: usize,
    /// Seconds with messages waiting in an owned partition and no progress before the
    /// projector counts as stalled (it seeks again; after twice as long it exits).
    #[arg(long, env = "PROJECTOR_STALL_SECONDS", default_value_t = 30)]
    pub stall_seconds: u64,
    /// Seconds between looks at the broker's high watermarks: the lag gauge, the stall
    /// watchdog, and the resume of an idle (paused) consumer whose wake-up notice was lost.
    #[arg(long, env = "PROJECTOR_WATCH_SECONDS", default_value_t = 5)]
    pub watch_seconds: u64,
    /// Seconds between Redis repair rounds (owed writes, refill of an empty Redis).
    #[arg(long, env = "PROJECTOR_REPAIR_SECONDS", default_value_t = 2)]
    pub repair_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        <Config as clap::Parser>::parse_from(["projector"])
    }
}

pub async fn connect_db(config: &Config) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(config.db_pool_max)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&config.database_url)
        .await?)
}

/// Exports the live version's position and lag every second. (Batches read the live
/// version themselves, under the flip lock: see [`apply::apply_live_batch`].)
async fn follow_live(pool: PgPool, mut shutdown: watch::Receiver<bool>) {
    let mut current = 0;
    loop {
        if let Ok(v) = store::progress::live_version(&pool).await {
            if std::mem::replace(&mut current, v) != v {
                tracing::info!(version = v, "following read-model version");
            }
            if let Ok((applied, max, dead)) = store::progress::progress(&pool, v).await {
                metrics::gauge!(vitrine_runtime::metric::PROJECTOR_POSITION).set(applied as f64);
                metrics::gauge!(vitrine_runtime::metric::PROJECTOR_LAG_EVENTS)
                    .set((max - applied).max(0) as f64);
                metrics::gauge!(vitrine_runtime::metric::PROJECTOR_DEAD_LETTERS_OPEN)
                    .set(dead as f64);
                if let Ok(age) = store::progress::oldest_waiting_age(&pool, applied).await {
                    metrics::gauge!(vitrine_runtime::metric::PROJECTOR_LAG_SECONDS)
                        .set(age.max(0.0));
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {},
            _ = shutdown.changed() => return,
        }
    }
}

/// Runs the projector until `shutdown` resolves: migrations, the HTTP endpoints on
/// `listener`, and the consumer loop (which finishes and commits its batch in hand).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = vitrine_runtime::telemetry::install_metrics();
    // Every metric exported from the first scrape (docs/metrics.md).
    vitrine_runtime::metric::register(vitrine_runtime::metric::Program::Projector);
    let pool = connect_db(&config).await?;
    vitrine_runtime::migrate(&pool, config.database_direct_url.as_deref()).await?;
    let redis_client = redis::Client::open(config.redis_url.as_str())?;
    // Redis may be down at start: the projector keeps PostgreSQL moving and repairs
    // Redis when it answers, so it does not wait for it here.
    let redis = redis_repair::LazyRedis::new(redis_client.clone());
    if let Ok(mut conn) = redis_client.get_multiplexed_async_connection().await {
        redis_repair::check_namespace(&pool, &mut conn, &config.redis_prefix).await?;
    }
    let health = std::sync::Arc::new(watchdog::Health::default());

    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let follower = tokio::spawn(follow_live(pool.clone(), stop_rx.clone()));
    let repair = tokio::spawn(redis_repair::run(
        pool.clone(),
        redis.clone(),
        config.redis_prefix.clone(),
        Duration::from_secs(config.repair_seconds.max(1)),
        stop_rx.clone(),
    ));
    let state = http::AppState {
        pool: pool.clone(),
        redis: redis.clone(),
        metrics,
        health: health.clone(),
    };
    let mut http_stop = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, http::app(state))
            .with_graceful_shutdown(async move {
                let _ = http_stop.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(topic = %config.kafka_topic, "projector running");
    let consumed = consumer::consume(&config, pool, redis, health, stop_rx).await;
    if consumed.is_err() {
        // the consumer gave up: stop the rest too, so the process exits
        follower.abort();
        repair.abort();
        server.abort();
        return consumed;
    }
    let _ = follower.await;
    let _ = repair.await;
    server.await??;
    consumed
}
