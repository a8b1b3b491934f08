//! The live read-model version pointer, followed in the background.
//!
//! A rebuild flips `rm_live.version`; every instance polls it (cheap, one row) and
//! publishes it through a `watch`, so requests read it without a lookup of their own.

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;
use vitrine_contract::read_model::RedisKeys;

/// What every request needs to know about the live read models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// Redis keys (and `rm_version`) of the live version.
    pub keys: RedisKeys,
    /// Changes with every catalog change; keys the cached search results.
    pub catalog_gen: i64,
}

impl Live {
    pub fn version(&self) -> i32 {
        self.keys.version()
    }
}

#[tracing::instrument(skip_all)]
pub async fn load(pool: &PgPool) -> Result<(i32, i64), sqlx::Error> {
    sqlx::query_as("SELECT version, catalog_gen FROM rm_live")
        .fetch_one(pool)
        .await
}

/// Polls `rm_live` every `every` and publishes changes; runs until the receivers are gone.
pub async fn follow(pool: PgPool, prefix: String, tx: watch::Sender<Live>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match load(&pool).await {
            Ok((version, catalog_gen)) => {
                let next = Live {
                    keys: RedisKeys::new(prefix.clone(), version),
                    catalog_gen,
                };
                let changed = tx.send_if_modified(|live| {
                    if *live == next {
                        return false;
                    }
                    if live.version() != version {
                        tracing::info!(
                            from = live.version(),
                            to = version,
                            "read-model version flipped"
                        );
                    }
                    *live = next;
                    true
                });
                let _ = changed;
            }
            Err(error) => tracing::debug!(%error, "cannot read rm_live; keeping the last version"),
        }
        if tx.is_closed() {
            return;
        }
    }
}
