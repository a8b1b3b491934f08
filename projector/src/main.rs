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
    /// Live version, applied position, lag and dead letters.
    Status,
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
            Ok(())
        }
    }
}
