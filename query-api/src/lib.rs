//! query-api: Vitrine's storefront reads, each answered with one lookup.
//!
//! Stateless: everything an instance knows lives in Redis and PostgreSQL (the read models
//! the projector writes), so any number of instances run side by side behind nginx.
//! A read is one `HMGET` on a Redis hit; on a miss one `SELECT` by key on `rm_docs`,
//! then a fenced write-back. Instances follow the live read-model version pointer in the
//! background, and wait for the projector's update notices for `min_version` reads.
//!
//! Layout:
//! - [`config`]: the environment-driven configuration;
//! - [`routes`]: one module per read (product, product list, search, categories,
//!   recommendations, cart, orders) and the operational endpoints;
//! - [`store`]: every Redis command and SQL statement of the request path;
//! - [`lookups`]: per-request counting of those lookups (`X-Lookups`, metrics);
//! - [`http`]: ETag/304, Cache-Control, parameters, the per-route lookup counters (request
//!   counts and latencies are the shared `vitrine_runtime::http::track`);
//! - [`live`]: the live read-model version follower;
//! - [`updates`]: the update-notice subscription feeding `min_version` waits;
//! - [`redis_link`]: the supervised Redis connection (degrades to PostgreSQL);
//! - [`openapi`]: the OpenAPI 3.1 document (this program's, generated from the handlers,
//!   merged with command-api's committed one), `/api/openapi.json` and `/api/docs`;
//! - [`session`]: bearer-token sessions; [`error`]: the error enum, rendered through the
//!   shared `vitrine_runtime::http::Problem`.

pub mod config;
pub mod error;
pub mod http;
pub mod live;
pub mod lookups;
pub mod openapi;
pub mod redis_link;
pub mod routes;
pub mod session;
pub mod store;
pub mod updates;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::postgres::PgPoolOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vitrine_contract::read_model::RedisKeys;
use vitrine_contract::session::SessionSigner;

pub use config::Config;
use live::Live;
use store::Store;
use updates::Updates;

/// What the handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Store,
    pub live: watch::Receiver<Live>,
    pub updates: Arc<Updates>,
    pub signer: SessionSigner,
    pub min_version_wait: Duration,
    pub request_timeout: Duration,
    pub metrics: PrometheusHandle,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The live read-model version and catalog generation (no lookup).
    pub fn live(&self) -> Live {
        self.live.borrow().clone()
    }
}

/// Background tasks of one instance; stopped when dropped.
pub struct Background(Vec<JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Connects (lazily: neither store has to be up), reads the live version once, and
/// starts the version follower, the Redis supervisor and the update subscription.
pub async fn start(config: &Config) -> anyhow::Result<(AppState, Background)> {
    // Reads are single statements (no transaction to SET LOCAL in): the statement
    // timeout is a connection option, honoured on direct connections.
    let options = config
        .database_url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .context("DATABASE_URL")?
        .options([(
            "statement_timeout",
            config.db_statement_timeout_ms.to_string(),
        )]);
    let pool = PgPoolOptions::new()
        .max_connections(config.db_pool_max)
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms))
        .connect_lazy_with(options);
    let redis = redis_link::RedisLink::new(&config.redis_url, config.redis_timeout())
        .context("REDIS_URL")?;
    redis.connect_once().await;

    let (version, catalog_gen) =
        match tokio::time::timeout(Duration::from_secs(2), live::load(&pool)).await {
            Ok(Ok(live)) => live,
            _ => {
                tracing::warn!(
                    "cannot read rm_live yet; assuming read-model version 1 until it answers"
                );
                (1, 0)
            }
        };
    let (live_tx, live_rx) = watch::channel(Live {
        keys: RedisKeys::new(config.redis_prefix.clone(), version),
        catalog_gen,
    });
    let updates = Updates::new();
    let tasks = vec![
        tokio::spawn(live::follow(
            pool.clone(),
            config.redis_prefix.clone(),
            live_tx,
            Duration::from_millis(config.live_poll_ms),
        )),
        tokio::spawn(redis.clone().supervise(Duration::from_millis(500))),
        tokio::spawn(updates.clone().run(redis.clone(), live_rx.clone())),
    ];
    // Every metric exported from the first scrape (docs/metrics.md).
    vitrine_runtime::metric::register(vitrine_runtime::metric::Program::QueryApi);
    let state = AppState(Arc::new(Shared {
        store: Store::new(pool, redis, Duration::from_secs(config.search_ttl_secs)),
        live: live_rx,
        updates,
        signer: SessionSigner::new(
            config
                .session_secret
                .clone()
                .context("SESSION_SECRET is not set (run checks it; tests set it)")?,
        )
        .with_previous(config.session_secret_previous.clone()),
        min_version_wait: config.min_version_wait(),
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        metrics: vitrine_runtime::telemetry::install_metrics(),
    }));
    Ok((state, Background(tasks)))
}

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    routes::router(state.request_timeout).with_state(state)
}

/// Checks the secrets, serves until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.check_secrets()?;
    let (state, background) = start(&config).await?;
    tracing::info!(addr = %listener.local_addr()?, "query-api listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    drop(background);
    tracing::info!("query-api drained and stopped");
    Ok(())
}
