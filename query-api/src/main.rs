//! The `query-api` binary: configuration, logs, listener; everything else is the library.

use clap::Parser;
use query_api::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    vitrine_runtime::telemetry::init_tracing();
    let listener = tokio::net::TcpListener::bind(config.listen_addr).await?;
    query_api::run(
        config,
        listener,
        vitrine_runtime::telemetry::shutdown_signal(),
    )
    .await
}
