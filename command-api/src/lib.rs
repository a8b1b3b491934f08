//! command-api: Vitrine's write side.
//!
//! Each command is validated, checked against the write model and recorded in ONE
//! PostgreSQL transaction: write-model rows, `events` rows, `outbox` rows and the
//! idempotency row. The request path never talks to Kafka: the relay ([`outbox`]) does,
//! one leader at a time.
//!
//! Layout:
//! - [`config`]: the typed configuration (environment, localhost defaults);
//! - [`routes`]: one module per resource (sessions, categories, products, cart, checkout,
//!   orders, ops): parse the input, call [`pipeline::execute`];
//! - [`pipeline`]: the one command pipeline (idempotency, lock, `If-Match`, decide,
//!   write model, append, commit) and the [`pipeline::Aggregate`] trait;
//! - [`aggregates`]: one module per aggregate (category, product, cart, checkout, order):
//!   its lock SQL, its pure decider (`decide.rs`), its write-model persistence;
//! - the `events` table (appending with outbox rows, reading) is
//!   `vitrine_runtime::event_store`, shared with the projector and the tools;
//! - [`idempotency`]: `Idempotency-Key` claims and replays;
//! - [`extract`], [`auth`], [`error`], [`response`]: request parsing, callers, problem+json, answers;
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers (committed as
//!   `docs/openapi/command-api.json` for query-api to serve);
//! - [`outbox`]: the relay (leader election, publish, delete acknowledged rows);
//! - [`payments`]: the payment provider's webhook secret and signature check;
//! - [`deadlines`]: the process manager that expires unpaid orders (durable timers).
//!
//! The tests (`tests/api/`) start this app on a fresh database and topic; the
//! cross-program tests are in the `e2e` crate.

pub mod aggregates;
pub mod auth;
pub mod config;
pub mod deadlines;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod outbox;
pub mod payments;
pub mod pipeline;
pub mod response;
pub mod routes;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use tokio::net::TcpListener;
use vitrine_contract::secret::Secret;
use vitrine_contract::session::SessionSigner;

pub use config::{Config, RelayConfig};
pub use routes::app;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub config: Arc<Config>,
    pub signer: SessionSigner,
    pub admin_token: Secret,
    pub metrics: PrometheusHandle,
    /// Wakes the relay after a commit (a no-op until [`AppState::with_relay`]).
    pub outbox: outbox::OutboxSignal,
}

impl AppState {
    /// The secrets must be set: [`run`] checks them ([`Config::check_secrets`]), tests set them.
    pub fn new(pool: PgPool, config: Config, metrics: PrometheusHandle) -> Self {
        // Every metric exported from the first scrape (docs/metrics.md).
        vitrine_runtime::metric::register(vitrine_runtime::metric::Program::CommandApi);
        let required = "secrets are set (Config::check_secrets, or by the test)";
        let signer = SessionSigner::new(config.session_secret.clone().expect(required))
            .with_previous(config.session_secret_previous.clone());
        Self {
            signer,
            admin_token: config.admin_token.clone().expect(required),
            pool,
            config: Arc::new(config),
            metrics,
            outbox: outbox::OutboxSignal::default(),
        }
    }

    /// Commits wake this relay (of this instance, or through it the leader's).
    pub fn with_relay(mut self, relay: &outbox::RelayHandle) -> Self {
        self.outbox = relay.signal();
        self
    }
}

/// The pool command-api works with. Its statement, lock and idle-in-transaction limits
/// are set per transaction ([`pipeline::begin`]), not here: behind PgBouncer a
/// connection-level setting would not stick (see [`config::Limits`]).
pub async fn connect(config: &Config) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(config.db_pool_max)
        .acquire_timeout(Duration::from_millis(config.limits.db_acquire_timeout_ms))
        .connect(&config.database_url)
        .await?)
}

/// Applies the migrations (sqlx serializes concurrent runs), on the direct connection
/// when one is configured.
pub async fn migrate(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    vitrine_runtime::migrate(pool, config.relay.database_direct_url.as_deref()).await?;
    Ok(())
}

/// Checks the secrets (refusing to start without a usable webhook secret), migrates,
/// starts the relay and the deadline loop and serves until `shutdown` resolves, draining
/// in-flight requests.
pub async fn run(
    mut config: Config,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.check_secrets()?;
    config.orders.check()?;
    let pool = connect(&config).await?;
    migrate(&pool, &config).await?;
    let relay = outbox::Relay::spawn(config.relay.clone(), pool.clone());
    let expiry = tokio::spawn(idempotency::expire_periodically(
        pool.clone(),
        std::time::Duration::from_secs(config.idempotency_ttl_hours * 3600),
        std::time::Duration::from_secs(600),
    ));
    let state = AppState::new(pool, config, vitrine_runtime::telemetry::install_metrics())
        .with_relay(&relay);
    let deadlines = deadlines::spawn(state.clone());
    tracing::info!(addr = %listener.local_addr()?, "command-api listening");
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await?;
    relay.abort();
    expiry.abort();
    deadlines.abort();
    Ok(())
}
