//! What every program sets up the same way: logs, the Prometheus recorder, shutdown.
//!
//! Metric names follow `vitrine_<thing>_<unit>` (see docs/metrics.md).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`). `LOG_FORMAT=json` writes one
/// JSON object per line, with the fields of the spans it happened in (an HTTP request's
/// `request_id`, a projector batch's `correlation_ids`), for a log shipper; otherwise
/// (`text`, the default) the human format, coloured only on a terminal (the deploy
/// scripts write logs to files). Safe to call twice.
pub fn init_tracing() {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format.eq_ignore_ascii_case("json") {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    if !format.is_empty() && !["json", "text"].contains(&format.to_ascii_lowercase().as_str()) {
        tracing::warn!(LOG_FORMAT = %format, "unknown LOG_FORMAT (json or text): writing text");
    }
}

/// Installs the process-wide metrics recorder and returns the handle `/metrics` renders.
/// Latencies are histograms with buckets in seconds. A second call (tests start several
/// apps in one process) returns a handle of a recorder that is not installed globally.
pub fn install_metrics() -> PrometheusHandle {
    let builder = || {
        PrometheusBuilder::new()
            .set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
            .expect("buckets are not empty")
    };
    match builder().install_recorder() {
        Ok(handle) => handle,
        Err(_) => builder().build_recorder().handle(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received, draining");
}

/// Sets `vitrine_db_pool_connections{state="in_use"|"idle"|"max"}` from an sqlx pool;
/// every program calls it when `/metrics` is scraped.
pub fn record_pool(pool: &sqlx::PgPool) {
    let size = f64::from(pool.size());
    let idle = pool.num_idle() as f64;
    metrics::gauge!(crate::metric::DB_POOL_CONNECTIONS, "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!(crate::metric::DB_POOL_CONNECTIONS, "state" => "idle").set(idle);
    metrics::gauge!(crate::metric::DB_POOL_CONNECTIONS, "state" => "max")
        .set(f64::from(pool.options().get_max_connections()));
}
