//! What Vitrine's programs run on, apart from the contract they share.
//!
//! `vitrine-contract` says what an event, a key or a session token is; this crate holds
//! the machinery every program needs to run against PostgreSQL and serve HTTP, written
//! once: the logs and metrics set-up, the migrations, the SQL of the event store, the
//! advisory locks, and the HTTP contract's common parts.
//!
//! Layout:
//! - [`telemetry`]: tracing (text or JSON logs), the Prometheus recorder, the shutdown
//!   signal, pool gauges;
//! - [`metric`]: every metric's name, type and labels, once (`docs/metrics.md`);
//! - [`MIGRATOR`], [`migrate`]: the migrations of `migrations/`, embedded;
//! - [`event_store`]: the `events` table: appending (with outbox rows), reading a stream,
//!   a range of a stream, pages by position, snapshots; its column list and the row →
//!   [`vitrine_contract::RecordedEvent`] mapping are here once;
//! - [`locks`]: session advisory locks on a connection of their own (relay leadership,
//!   the rebuild lock, partition ownership);
//! - [`http`]: the one problem+json answer ([`http::Problem`], built from a
//!   [`http::Kind`]) and the one request-tracking middleware ([`http::track`]);
//! - [`openapi`]: the router builder that documents every route ([`openapi::Documented`]),
//!   the problem+json schema in OpenAPI documents, the operation list tests compare;
//! - [`secrets`]: the start-up check that refuses missing, published or short secrets
//!   outside development mode;
//! - [`kafka`]: librdkafka properties passed through (`KAFKA_OPTION_*`, a properties file);
//! - [`wakeup`]: LISTEN/NOTIFY wake-ups (commits → relay, relay → projectors), so an
//!   idle store does not poll.

pub mod event_store;
pub mod http;
pub mod kafka;
pub mod locks;
pub mod metric;
pub mod openapi;
pub mod secrets;
pub mod telemetry;
pub mod wakeup;

/// The migrations of `migrations/` (event store, write model, read models), embedded.
/// Every program runs them at start-up; sqlx serializes concurrent runs with a lock.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Runs [`MIGRATOR`]. sqlx serializes migrations with a session-level advisory lock,
/// which PgBouncer's transaction pooling would break: behind PgBouncer, pass the direct
/// (unpooled) URL (`DATABASE_DIRECT_URL`) and the migrations run on a connection of
/// their own.
pub async fn migrate(
    pool: &sqlx::PgPool,
    direct_url: Option<&str>,
) -> Result<(), sqlx::migrate::MigrateError> {
    match direct_url {
        Some(url) => {
            // A pool of one (not `&mut PgConnection`, whose `Acquire` bound makes the
            // future non-`Send` for callers that spawn it).
            let direct = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(url)
                .await?;
            let done = MIGRATOR.run(&direct).await;
            direct.close().await;
            done
        }
        None => MIGRATOR.run(pool).await,
    }
}
