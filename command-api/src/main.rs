use clap::Parser;
use command_api::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    vitrine_runtime::telemetry::init_tracing();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            let pool = command_api::connect(&cli.config).await?;
            command_api::migrate(&pool, &cli.config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(&cli.config.listen_addr).await?;
            command_api::run(
                cli.config,
                listener,
                vitrine_runtime::telemetry::shutdown_signal(),
            )
            .await
        }
    }
}
