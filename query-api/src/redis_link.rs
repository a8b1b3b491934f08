//! One supervised, multiplexed Redis connection per instance.
//!
//! Requests never wait for Redis to come back: while the link is down they go straight
//! to PostgreSQL, and a background task reconnects (and reloads the fenced-write script).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, RedisError};
use vitrine_contract::read_model::{ABSENT_SET_LUA, FENCED_SET_LUA};

pub struct RedisLink {
    client: Client,
    conn: RwLock<Option<MultiplexedConnection>>,
    timeout: Duration,
    fenced_set_sha: String,
    absent_set_sha: String,
}

impl RedisLink {
    /// Parses the URL; connecting happens in [`RedisLink::connect_once`] and the supervisor.
    pub fn new(url: &str, timeout: Duration) -> Result<Arc<Self>, RedisError> {
        Ok(Arc::new(Self {
            client: Client::open(url)?,
            conn: RwLock::new(None),
            timeout,
            fenced_set_sha: redis::Script::new(FENCED_SET_LUA).get_hash().to_owned(),
            absent_set_sha: redis::Script::new(ABSENT_SET_LUA).get_hash().to_owned(),
        }))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// SHA1 of `FENCED_SET_LUA`, loaded on every (re)connect so write-backs are one EVALSHA.
    pub fn fenced_set_sha(&self) -> &str {
        &self.fenced_set_sha
    }

    pub fn absent_set_sha(&self) -> &str {
        &self.absent_set_sha
    }

    /// The connection, if Redis is up.
    pub fn conn(&self) -> Option<MultiplexedConnection> {
        self.conn.read().ok().and_then(|c| c.clone())
    }

    pub fn is_up(&self) -> bool {
        self.conn.read().map(|c| c.is_some()).unwrap_or(false)
    }

    /// Called when a command failed for a connection reason: later requests skip Redis
    /// until the supervisor has reconnected.
    pub fn report_failure(&self, error: &RedisError) {
        if error.is_io_error()
            || error.is_timeout()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
        {
            if let Ok(mut c) = self.conn.write() {
                if c.take().is_some() {
                    tracing::warn!(%error, "Redis link down, reading from PostgreSQL");
                }
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn connect(&self) -> Result<MultiplexedConnection, RedisError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout * 2)
            .set_response_timeout(self.timeout);
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        for script in [FENCED_SET_LUA, ABSENT_SET_LUA] {
            let _: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script)
                .query_async(&mut conn)
                .await?;
        }
        Ok(conn)
    }

    /// Tries once to connect; a failure leaves the link down for the supervisor to retry.
    pub async fn connect_once(&self) -> bool {
        match tokio::time::timeout(self.timeout * 4, self.connect()).await {
            Ok(Ok(conn)) => {
                if let Ok(mut c) = self.conn.write() {
                    if c.is_none() {
                        tracing::info!("Redis link up");
                    }
                    *c = Some(conn);
                }
                true
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "Redis connect failed");
                false
            }
            Err(_) => false,
        }
    }

    /// Checks the link every `every`: reconnects a down link, pings an up one.
    pub async fn supervise(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match self.conn() {
                None => {
                    self.connect_once().await;
                }
                Some(mut conn) => {
                    let ping: Result<String, RedisError> =
                        redis::cmd("PING").query_async(&mut conn).await;
                    if let Err(error) = ping {
                        self.report_failure(&error);
                        // A refused or dropped link may not look like an I/O error on every
                        // version of the client: a failed PING always counts as down.
                        if let Ok(mut c) = self.conn.write() {
                            c.take();
                        }
                    }
                }
            }
        }
    }
}
