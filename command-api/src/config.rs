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
    pub orders: OrderConfig,
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

/// Payments, payment deadlines and the per-session limits (docs/security.md).
#[derive(Debug, Clone, Args)]
pub struct OrderConfig {
    /// The secret the payment provider signs its callbacks with (at least 32
    /// characters). Required to serve; never printed.
    #[arg(long, env = "PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    pub payment_webhook_secret: Option<Secret>,
    /// How far a callback's signed timestamp may be from this clock, in seconds.
    #[arg(long, env = "PAYMENT_WEBHOOK_TOLERANCE_SECONDS", default_value_t = 300)]
    pub payment_webhook_tolerance_seconds: u64,
    /// An unpaid order expires this long after it was placed and its stock returns:
    /// `30m`, `90s`, `2h`, or plain seconds.
    #[arg(long, env = "ORDER_PAYMENT_TIMEOUT", default_value = "30m", value_parser = parse_duration)]
    pub order_payment_timeout: Duration,
    /// How often each instance looks for orders past their deadline, in milliseconds.
    #[arg(long, env = "ORDER_DEADLINE_POLL_MS", default_value_t = 5000)]
    pub order_deadline_poll_ms: u64,
    /// Unpaid orders one session may hold at once; a checkout beyond it is a 409.
    #[arg(long, env = "MAX_OPEN_ORDERS_PER_SESSION", default_value_t = 3,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub max_open_orders: i64,
    /// Units of one product a cart line (and so an order line) may hold, 1 to 999.
    #[arg(long, env = "MAX_LINE_QUANTITY", default_value_t = 10,
          value_parser = clap::value_parser!(i32).range(1..=999))]
    pub max_line_quantity: i32,
}

impl OrderConfig {
    /// Refuses to serve without a usable webhook secret: payments could not be confirmed,
    /// or anyone who guessed a short one could confirm them.
    pub fn check(&self) -> anyhow::Result<()> {
        match &self.payment_webhook_secret {
            None => anyhow::bail!(
                "PAYMENT_WEBHOOK_SECRET is not set: the payment provider's callbacks could not be verified"
            ),
            Some(s) if s.expose().len() < vitrine_contract::payment::MIN_SECRET_LEN => {
                anyhow::bail!(
                    "PAYMENT_WEBHOOK_SECRET is shorter than {} characters",
                    vitrine_contract::payment::MIN_SECRET_LEN
                )
            }
            Some(_) => Ok(()),
        }
    }
    pub fn deadline_poll(&self) -> Duration {
        Duration::from_millis(self.order_deadline_poll_ms)
    }
    pub fn webhook_tolerance(&self) -> Duration {
        Duration::from_secs(self.payment_webhook_tolerance_seconds)
    }
}

/// `90s`, `30m`, `2h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 30m or 2h"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?}: the unit must be s, m or h")),
    };
    if seconds == 0 {
        return Err("the duration must be at least one second".into());
    }
    Ok(Duration::from_secs(seconds))
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
    /// A librdkafka properties file (`name=value` lines). Any librdkafka property can
    /// also be set as KAFKA_OPTION_<NAME>, dots as underscores (KAFKA_OPTION_SECURITY_PROTOCOL=SASL_SSL
    /// is security.protocol, KAFKA_OPTION_SASL_PASSWORD is sasl.password): TLS, SASL and
    /// the rest; they override the file and the program's own settings. Values are never
    /// printed.
    #[arg(long, env = "KAFKA_PROPERTIES_FILE")]
    pub kafka_properties_file: Option<std::path::PathBuf>,
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
    /// How long an idle leader waits for a wake-up (a commit's notice) before looking at
    /// the outbox anyway.
    #[arg(long, env = "RELAY_POLL_MS", default_value_t = 1000)]
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
        use vitrine_contract::secret::{
            DEV_ADMIN_TOKEN, DEV_PAYMENT_WEBHOOK_SECRET, DEV_SESSION_SECRET,
        };
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
        let admin = secret::require(
            "ADMIN_TOKEN",
            self.admin_token.as_ref(),
            DEV_ADMIN_TOKEN,
            dev,
        );
        let payment = secret::require(
            "PAYMENT_WEBHOOK_SECRET",
            self.orders.payment_webhook_secret.as_ref(),
            DEV_PAYMENT_WEBHOOK_SECRET,
            dev,
        );
        self.session_secret = Some(session.map_err(anyhow::Error::msg)?);
        self.session_secret_previous = previous.map_err(anyhow::Error::msg)?;
        self.admin_token = Some(admin.map_err(anyhow::Error::msg)?);
        self.orders.payment_webhook_secret = Some(payment.map_err(anyhow::Error::msg)?);
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
        config.admin_token = Some(Secret::new("a".repeat(40)));
        config.orders.payment_webhook_secret =
            Some(Secret::new("dev-payment-webhook-secret-not-for-production"));
        let error = config.check_secrets().unwrap_err().to_string();
        assert!(error.starts_with("PAYMENT_WEBHOOK_SECRET "), "{error}");

        let mut dev = Cli::parse_from(["command-api", "--dev"]).config;
        dev.check_secrets()
            .expect("development mode accepts missing secrets");
        assert_eq!(
            dev.admin_token.as_ref().map(Secret::expose),
            Some("dev-admin-token")
        );
        dev.orders
            .check()
            .expect("development mode supplies a usable webhook secret");
    }

    #[test]
    fn durations_take_seconds_minutes_hours_or_a_bare_number() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("1d").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn the_webhook_secret_is_required_long_and_never_printed() {
        let mut orders = Config::defaults().orders;
        orders.payment_webhook_secret = None;
        assert!(orders.check().is_err());
        orders.payment_webhook_secret = Some(Secret::new("short"));
        assert!(orders.check().is_err());
        let long = "x".repeat(32);
        orders.payment_webhook_secret = Some(Secret::new(long.clone()));
        assert!(orders.check().is_ok());
        assert!(!format!("{orders:?}").contains(&long));
    }
}
