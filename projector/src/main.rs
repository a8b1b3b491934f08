//! `projector [run|verify|status]`: configuration from the environment, then the library.

use clap::{Parser, Subcommand};
use projector::Config;

#[derive(Parser)]
#[command(
    name = "projector",
    about = "Keeps Vitrine's read models in Redis and PostgreSQL"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume events and keep the read models (the default).
    Run,
    /// Fold the whole event store and compare with both stores; exits 1 on a difference.
    Verify {
        /// Read-model version to check (default: the live one).
        #[arg(long)]
        version: Option<i32>,
    },
    /// Live version, applied position, lag, dead letters, and every read-model version
    /// (a rebuild in progress shows as `building`).
    Status,
    /// Replay the whole event store into the next read-model version, catch up, check
    /// it against a fresh fold, flip readers over, and drop the old version after a grace period.
    Rebuild {
        /// Seconds the old version stays readable after the flip.
        #[arg(long, default_value_t = 30)]
        grace_seconds: u64,
        /// Keep the old version (drop it later with `drop-version`).
        #[arg(long)]
        keep_old: bool,
        /// Seconds to keep applying new events to the new version after the flip, while
        /// the live projector switches over.
        #[arg(long, default_value_t = 5)]
        handoff_seconds: u64,
        /// Events per history page.
        #[arg(long, default_value_t = 20_000)]
        page: i64,
        /// Flip without comparing the new version with a fresh fold first.
        #[arg(long)]
        no_gate: bool,
    },
    /// Remove a retired read-model version from both stores.
    DropVersion { version: i32 },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    vitrine_contract::telemetry::init_tracing();
    let cli = Cli::parse();
    let config = cli.config;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let listener = tokio::net::TcpListener::bind(&config.listen_addr).await?;
            projector::run(
                config,
                listener,
                vitrine_contract::telemetry::shutdown_signal(),
            )
            .await
        }
        Command::Verify { version } => {
            let pool = projector::connect_db(&config).await?;
            let version = match version {
                Some(v) => v,
                None => projector::store::live_version(&pool).await?,
            };
            let diffs =
                projector::verify(&pool, &config.redis_url, &config.redis_prefix, version).await?;
            for d in &diffs {
                println!("{d}");
            }
            println!(
                "read-model version {version}: {} difference(s)",
                diffs.len()
            );
            if !diffs.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Status => {
            let pool = projector::connect_db(&config).await?;
            let version = projector::store::live_version(&pool).await?;
            let (applied, max, dead) = projector::store::progress(&pool, version).await?;
            println!("live version:     {version}");
            println!("applied position: {applied}");
            println!("lag (events):     {}", (max - applied).max(0));
            println!("dead letters:     {dead}");
            println!("versions:");
            for (v, status, started, finished, note) in projector::versions::list(&pool).await? {
                let (applied, _, _) = projector::store::progress(&pool, v).await?;
                println!(
                    "  v{v:<4} {status:<9} position {applied:<10} started {started}  finished {}  {}",
                    finished.unwrap_or_else(|| "-".into()),
                    note.unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Rebuild {
            grace_seconds,
            keep_old,
            handoff_seconds,
            page,
            no_gate,
        } => {
            let pool = projector::connect_db(&config).await?;
            vitrine_contract::migrate(&pool, config.database_direct_url.as_deref()).await?;
            let options = projector::rebuild::Options {
                page,
                handoff: std::time::Duration::from_secs(handoff_seconds),
                grace: (!keep_old).then(|| std::time::Duration::from_secs(grace_seconds)),
                gate: !no_gate,
                direct_url: config.database_direct_url.clone(),
            };
            let report = projector::rebuild::rebuild(
                &pool,
                &config.redis_url,
                &config.redis_prefix,
                &options,
            )
            .await?;
            println!("{report}");
            Ok(())
        }
        Command::DropVersion { version } => {
            let pool = projector::connect_db(&config).await?;
            let mut redis = redis::Client::open(config.redis_url.as_str())?
                .get_multiplexed_async_connection()
                .await?;
            let removed = projector::versions::drop_version(
                &pool,
                &mut redis,
                &config.redis_prefix,
                version,
                "dropped",
            )
            .await?;
            println!("dropped version {version} ({removed} Redis keys)");
            Ok(())
        }
    }
}
