//! command-api's configuration, from the environment (12-factor) with localhost defaults.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use vitrine_contract::secret::Secret;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "command-api",
    about = "Vitrine's write side: commands, event store, outbox relay"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply migrations, serve HTTP and run the outbox relay (the default).
    Serve,
    /// Apply migrations and exit.
    Migrate,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/vitrine"
    )]
    pub database_url: String,
    #[arg(long, env = "DB_POOL_MAX", default_value_t = 16)]
    pub db_pool_max: u32,
    #[command(flatten)]
    pub limits: Limits,
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8081")]
    pub listen_addr: String,
    /// Signs session tokens (HMAC-SHA256): at least 32 random bytes; required outside
    /// development mode.
    #[arg(long, env = "SESSION_SECRET", hide_env_values = true)]
    pub session_secret: Option<Secret>,
    /// The session secret before a rotation: tokens it signed still verify (drop it once
    /// they have expired, 7 days after the rotation).
    #[arg(long, env = "SESSION_SECRET_PREVIOUS", hide_env_values = true)]
    pub session_secret_previous: Option<Secret>,
    /// The admin's bearer token: at least 32 random bytes; required outside development mode.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,
    /// Development mode: missing secrets take the published development values and
    /// short ones are accepted, each with a warning. Never for a public store.
    #[arg(long = "dev", env = "VITRINE_DEV_MODE", value_parser = clap::builder::BoolishValueParser::new())]
    pub dev_mode: bool,
    /// Largest accepted request body.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 64 * 1024)]
    pub body_limit_bytes: usize,
    /// How long an `Idempotency-Key` is remembered (retries must come within it).
    #[arg(long, env = "IDEMPOTENCY_TTL_HOURS", default_value_t = 24)]
    pub idempotency_ttl_hours: u64,
    #[command(flatten)]
    pub relay: RelayConfig,
}

/// How long a command may wait or run before it is answered 503 (`Retry-After`) with
/// nothing recorded. The database limits are set per transaction (`SET LOCAL`), which
/// works behind PgBouncer's transaction pooling, where connection options are dropped
/// and a session `SET` would leak to other programs' transactions (docs/security.md).
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Longest wait for a pool connection.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000)]
    pub db_acquire_timeout_ms: u64,
    /// Longest wait for a row lock (another command on the same stream).
    #[arg(long, env = "DB_LOCK_TIMEOUT_MS", default_value_t = 3000)]
    pub db_lock_timeout_ms: u64,
    /// Longest single statement.
    #[arg(long, env = "DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
    /// Longest pause inside an open transaction: a stuck request cannot hold its locks.
    #[arg(
        long,
        env = "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub db_idle_in_transaction_timeout_ms: u64,
    /// Longest request, end to end (below nginx's 10 s `proxy_read_timeout`).
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 8000)]
    pub request_timeout_ms: u64,
}

impl Limits {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// What the outbox relay needs; broker-specific settings stay here (production runs Apache Kafka).
#[derive(Debug, Clone, Args)]
pub struct RelayConfig {
    /// Unpooled URL for session-scoped work: the relay's leader lock and migrations
    /// (PgBouncer's transaction pooling would break both). Defaults to DATABASE_URL.
    #[arg(long, env = "DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    #[arg(long, env = "KAFKA_TOPIC", default_value = "vitrine.events")]
    pub kafka_topic: String,
    #[arg(long, env = "KAFKA_PARTITIONS", default_value_t = 6)]
    pub kafka_partitions: i32,
    #[arg(long, env = "KAFKA_REPLICATION", default_value_t = 1)]
    pub kafka_replication: i32,
    /// How long the producer retries one message before the relay backs off and resends.
    #[arg(long, env = "RELAY_MESSAGE_TIMEOUT_MS", default_value_t = 10_000)]
    pub message_timeout_ms: u64,
    #[arg(long, env = "RELAY_LINGER_MS", default_value_t = 2)]
    pub linger_ms: u64,
    #[arg(long, env = "RELAY_BATCH", default_value_t = 1000)]
    pub batch: i64,
    /// Idle poll interval of the leader.
    #[arg(long, env = "RELAY_POLL_MS", default_value_t = 10)]
    pub poll_ms: u64,
    /// How often a standby tries to become leader.
    #[arg(long, env = "RELAY_STANDBY_MS", default_value_t = 1000)]
    pub standby_ms: u64,
    /// Kafka's idempotent producer. Off by default: tansu 0.6 (the local broker, ADR 2)
    /// panics in its storage task on the first idempotent produce after a broker restart
    /// and stops serving. Without it a retried send may be stored twice; the projector
    /// skips stream versions it has, so a duplicate changes nothing. Turn it on with
    /// Apache Kafka.
    #[arg(long, env = "KAFKA_IDEMPOTENCE", default_value_t = false)]
    pub kafka_idempotence: bool,
}

impl RelayConfig {
    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
    pub fn standby(&self) -> Duration {
        Duration::from_millis(self.standby_ms)
    }
}

impl Config {
    /// The defaults, as if no variable were set (tests override fields; there are no
    /// secrets: tests set them).
    pub fn defaults() -> Self {
        Cli::parse_from(["command-api"]).config
    }

    /// Refuses missing, published or short secrets outside development mode (the error
    /// names the variable, never its value); in development mode fills in the
    /// development values with a warning. Afterwards every required secret is set.
    pub fn check_secrets(&mut self) -> anyhow::Result<()> {
        use vitrine_contract::secret::{self, DEV_ADMIN_TOKEN, DEV_SESSION_SECRET};
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
        let admin = secret::require(
            "ADMIN_TOKEN",
            self.admin_token.as_ref(),
            DEV_ADMIN_TOKEN,
            dev,
        );
        self.session_secret = Some(session.map_err(anyhow::Error::msg)?);
        self.session_secret_previous = previous.map_err(anyhow::Error::msg)?;
        self.admin_token = Some(admin.map_err(anyhow::Error::msg)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_refuses_default_secrets_outside_development_mode() {
        let mut config = Config::defaults();
        (config.session_secret, config.admin_token, config.dev_mode) = (None, None, false);
        assert!(config.check_secrets().is_err(), "no secrets at all");
        config.session_secret = Some(Secret::new("dev-session-secret"));
        config.admin_token = Some(Secret::new("x".repeat(40)));
        let error = config.check_secrets().unwrap_err().to_string();
        assert!(error.starts_with("SESSION_SECRET "), "{error}");
        config.session_secret = Some(Secret::new("s".repeat(40)));
        config.admin_token = Some(Secret::new("too-short"));
        let error = config.check_secrets().unwrap_err().to_string();
        assert!(
            error.starts_with("ADMIN_TOKEN ") && !error.contains("too-short"),
            "{error}"
        );

        let mut dev = Cli::parse_from(["command-api", "--dev"]).config;
        dev.check_secrets()
            .expect("development mode accepts missing secrets");
        assert_eq!(
            dev.admin_token.as_ref().map(Secret::expose),
            Some("dev-admin-token")
        );
    }
}
