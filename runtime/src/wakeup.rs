//! Wake-ups between the programs through PostgreSQL's LISTEN/NOTIFY, so that an idle
//! store does no busy polling (docs/performance.md, "Idle").
//!
//! Two channels, both scoped to the store's database (PostgreSQL channels are per
//! database, so tests sharing one server do not hear each other):
//! - [`OUTBOX_CHANNEL`]: command-api instances say "new outbox rows" after a commit; the
//!   relay leader listens.
//! - [`PUBLISHED_CHANNEL`]: the relay says "published up to here" after the broker
//!   acknowledged a batch; projectors listen and resume fetching.
//!
//! A notice is only a hint: the listener still looks by itself now and then, so a lost
//! notice (a reconnect, a crash between commit and notify) delays, never loses, work.
//! NOTIFY is never sent inside a command's transaction: PostgreSQL serializes the commits
//! of transactions that notify, which would cap write throughput.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// "New rows in the outbox" (command-api → relay).
pub const OUTBOX_CHANNEL: &str = "vitrine_outbox";
/// "The relay published a batch" (relay → projectors).
pub const PUBLISHED_CHANNEL: &str = "vitrine_published";

/// A listener task: wakes its [`Notify`] on every notice of its channel, and once after
/// each (re)connection, because notices sent while it was away are lost.
pub struct Listener {
    join: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.join.abort();
    }
}

impl Listener {
    /// Listens on `channel` over a connection of its own, made with `options` (a direct
    /// connection: PgBouncer's transaction pooling cannot carry LISTEN), and wakes `wake`.
    pub fn spawn(options: PgConnectOptions, channel: &'static str, wake: Arc<Notify>) -> Self {
        let join = tokio::spawn(listen(options, channel, wake));
        Listener { join }
    }
}

async fn listen(options: PgConnectOptions, channel: &'static str, wake: Arc<Notify>) {
    let mut logged = false;
    loop {
        match connect(&options, channel).await {
            Ok(mut listener) => {
                logged = false;
                wake.notify_one();
                loop {
                    match listener.try_recv().await {
                        // reconnected (eagerly, with the channel listened again): notices
                        // may have been missed meanwhile
                        Ok(Some(_)) | Ok(None) => wake.notify_one(),
                        Err(error) => {
                            tracing::warn!(%error, channel, "wake-up listener lost; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(error) if !logged => {
                tracing::warn!(%error, channel, "wake-up listener cannot connect; retrying");
                logged = true;
            }
            Err(_) => {}
        }
        // the listener's users poll slowly meanwhile
        tokio::time::sleep(Duration::from_secs(1)).await;
        wake.notify_one();
    }
}

async fn connect(options: &PgConnectOptions, channel: &str) -> Result<PgListener, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.clone())
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Sends a notice on `channel` (outside any transaction of the caller's).
pub async fn notify(pool: &sqlx::PgPool, channel: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(channel)
        .execute(pool)
        .await
        .map(|_| ())
}
