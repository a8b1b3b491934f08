//! The program's configuration, read from the environment (12-factor).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use vitrine_contract::secret::Secret;

#[derive(Debug, Clone, Parser)]
#[command(name = "query-api", about = "Vitrine's read API")]
pub struct Config {
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8082")]
    pub listen_addr: SocketAddr,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/vitrine"
    )]
    pub database_url: String,
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 16)]
    pub db_pool_max: u32,
    /// How long a request waits for a PostgreSQL connection before answering 503.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000)]
    pub db_acquire_timeout_ms: u64,
    /// Longest SQL statement, on direct connections (a connection option: PgBouncer,
    /// which drops connection options, leaves it to REQUEST_TIMEOUT_MS).
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
    /// Longest request, end to end (above MIN_VERSION_WAIT_MS, below nginx's 10 s).
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 8000)]
    pub request_timeout_ms: u64,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    #[arg(long, env = "REDIS_PREFIX", default_value = "vitrine:")]
    pub redis_prefix: String,
    /// Per-command Redis timeout: short, so a dead Redis degrades to PostgreSQL quickly.
    #[arg(long, env = "REDIS_TIMEOUT_MS", default_value_t = 250)]
    pub redis_timeout_ms: u64,
    /// Verifies session tokens: command-api's secret; required outside development mode.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<Secret>,
    /// The session secret before a rotation: tokens it signed still verify.
    #[arg(long, env = "SESSION_SECRET_PREVIOUS", hide_env_values = true)]
    pub session_secret_previous: Option<Secret>,
    /// Development mode: a missing session secret takes the published development value
    /// and a short one is accepted, with a warning. Never for a public store.
    #[arg(long = "dev", env = "VITRINE_DEV_MODE", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev_mode: bool,
    /// Bound of a `min_version` wait before answering 503.
    #[arg(long, env = "MIN_VERSION_WAIT_MS", default_value_t = 2000)]
    pub min_version_wait_ms: u64,
    /// How often the live read-model version pointer (`rm_live`) is polled.
    #[arg(long, env = "LIVE_POLL_MS", default_value_t = 250)]
    pub live_poll_ms: u64,
    /// Lifetime of cached search results (a catalog change makes them unreachable sooner).
    #[arg(long, env = "SEARCH_TTL_SECS", default_value_t = 600)]
    pub search_ttl_secs: u64,
}

impl Config {
    /// The defaults, as if no variable were set (tests start from here and set the secret).
    pub fn local() -> Self {
        Config::parse_from(["query-api"])
    }

    /// Refuses a missing, published or short session secret outside development mode (the
    /// error names the variable, never its value); in development mode fills in the
    /// development value with a warning. Afterwards `session_secret` is set.
    pub fn check_secrets(&mut self) -> anyhow::Result<()> {
        use vitrine_contract::secret::DEV_SESSION_SECRET;
        use vitrine_runtime::secrets as secret;
        let dev = self.dev_mode;
        let session = secret::require(
            "SESSION_SECRET",
            self.session_secret.as_ref(),
            DEV_SESSION_SECRET,
            dev,
        );
        let previous = secret::optional(
            "SESSION_SECRET_PREVIOUS",
            self.session_secret_previous.as_ref(),
            dev,
        );
        self.session_secret = Some(session.map_err(anyhow::Error::msg)?);
        self.session_secret_previous = previous.map_err(anyhow::Error::msg)?;
        Ok(())
    }
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
    pub fn min_version_wait(&self) -> Duration {
        Duration::from_millis(self.min_version_wait_ms)
    }
}
