//! Session advisory locks held on a connection of their own.
//!
//! A session-level lock must live on a real server connection: PgBouncer's transaction
//! pooling would hand a pooled connection to someone else between statements. So the
//! lock connection is opened from the direct URL (`DATABASE_DIRECT_URL`) when there is
//! one, from the pool's settings otherwise, and the lock lives exactly as long as that
//! connection: a killed holder's lock goes with its backend.
//!
//! Locks are server-wide and tests share one server, so every lock here is keyed by
//! `(class, hashtext(current_database()))` unless the caller adds its own second key.

use sqlx::{Connection, PgConnection, PgPool};

/// Settings for a lock connection that must not outlive its holder's health (a direct
/// connection: PgBouncer would drop them). The server-side TCP keepalives make PostgreSQL
/// notice a holder that vanished from the network within about 10 + 3 × 5 s and end its
/// session, which frees the lock; the statement timeout bounds a check on a hung backend.
/// (sqlx exposes no client-side keepalive: callers bound their own waits.)
pub const LIVENESS_SETTINGS: [(&str, &str); 4] = [
    ("statement_timeout", "2000"),
    ("tcp_keepalives_idle", "10"),
    ("tcp_keepalives_interval", "5"),
    ("tcp_keepalives_count", "3"),
];

/// How a program reaches PostgreSQL for a lock connection.
#[derive(Clone)]
pub enum LockTarget {
    Url(String),
    Options(Box<sqlx::postgres::PgConnectOptions>),
}

impl LockTarget {
    /// The direct URL when configured, else the pool's own settings.
    pub fn new(pool: &PgPool, direct_url: Option<&str>) -> Self {
        match direct_url {
            Some(url) => LockTarget::Url(url.to_owned()),
            None => LockTarget::Options(Box::new((*pool.connect_options()).clone())),
        }
    }

    /// The options of a connection of its own (for a listener, say).
    pub fn options(&self) -> sqlx::Result<sqlx::postgres::PgConnectOptions> {
        match self {
            LockTarget::Url(url) => url.parse(),
            LockTarget::Options(options) => Ok((**options).clone()),
        }
    }

    /// The same target with these server settings on every connection it opens (e.g.
    /// [`LIVENESS_SETTINGS`]).
    pub fn with_settings(&self, settings: &[(&str, &str)]) -> sqlx::Result<Self> {
        let options = self.options()?.options(settings.iter().copied());
        Ok(LockTarget::Options(Box::new(options)))
    }

    /// A fresh connection of its own (never a pooled one).
    pub async fn connect(&self) -> sqlx::Result<PgConnection> {
        match self {
            LockTarget::Url(url) => PgConnection::connect(url).await,
            LockTarget::Options(options) => PgConnection::connect_with(options).await,
        }
    }
}

/// Takes the database-wide lock of `class` on a connection of its own: the connection
/// (whose drop or close releases the lock), or `None` while someone else holds it.
pub async fn try_exclusive(target: &LockTarget, class: i32) -> sqlx::Result<Option<PgConnection>> {
    let mut standby = None;
    let won = try_exclusive_keeping(target, class, &mut standby).await?;
    if let Some(conn) = standby {
        let _ = conn.close().await;
    }
    Ok(won)
}

/// [`try_exclusive`] for a caller that retries: a lost attempt keeps its connection in
/// `standby` for the next one (a new backend every attempt would cost an idle store more
/// than the attempt itself).
pub async fn try_exclusive_keeping(
    target: &LockTarget,
    class: i32,
    standby: &mut Option<PgConnection>,
) -> sqlx::Result<Option<PgConnection>> {
    let mut conn = match standby.take() {
        Some(conn) => conn,
        None => target.connect().await?,
    };
    let won: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext(current_database()))")
            .bind(class)
            .fetch_one(&mut conn)
            .await?;
    if won {
        Ok(Some(conn))
    } else {
        *standby = Some(conn);
        Ok(None)
    }
}
