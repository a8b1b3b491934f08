//! The event contract shared by Vitrine's three programs.
//!
//! command-api writes these events, the projector reads them back (from Kafka or from
//! the event store during a rebuild), and query-api reads the documents the projector
//! derives from them. Anything two programs must agree on lives here, nothing else.
//!
//! Layout:
//! - [`event`]: the event enum, stream ids, serde shapes and `schema_version`;
//! - [`upcast`]: old event shapes lifted to the current one when read;
//! - [`envelope`]: a recorded event (position, stream, version, metadata) as stored and published;
//! - [`read_model`]: Redis keys and PostgreSQL names of the read models, shared by projector and query-api;
//! - [`session`]: signed anonymous-session tokens (issued by command-api, checked by query-api);
//! - [`secret`]: a string that never prints, and the start-up check of secrets;
//! - `openapi` (feature `openapi`): the router builder that documents every route, and the
//!   problem+json schema, for command-api and query-api;
//! - [`telemetry`]: tracing, the Prometheus recorder and the shutdown signal every program uses.

pub mod envelope;
pub mod event;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod read_model;
pub mod secret;
pub mod session;
pub mod telemetry;
pub mod upcast;

pub use envelope::{Metadata, RecordedEvent};
pub use event::{Event, OrderLine, StreamId, StreamKind};

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
