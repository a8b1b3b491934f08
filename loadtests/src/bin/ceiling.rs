//! The ceiling: the least this design can do per read. An axum server whose
//! `GET /product/{n}` is ONE Redis GET of a value the size of a product document and
//! whose `GET /page/{n}` is one GET of a list-page-sized value. query-api's throughput
//! is reported as a ratio of this server's, measured in the same run with the same
//! client (`ceiling-bench`).
//!
//! It writes its values at start-up under a private prefix and deletes them when it
//! stops (SIGTERM or Ctrl-C).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

#[derive(Parser, Debug)]
#[command(about = "Reference server: one Redis GET per request")]
struct Args {
    /// Address to listen on (port 0 picks a free one; see --port-file).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Writes the bound port here once listening.
    #[arg(long)]
    port_file: Option<PathBuf>,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Product documents to store, and each one's size in bytes.
    #[arg(long, default_value_t = 1000)]
    products: usize,
    #[arg(long, default_value_t = 600)]
    product_bytes: usize,
    /// List pages to store, and each one's size in bytes.
    #[arg(long, default_value_t = 50)]
    pages: usize,
    #[arg(long, default_value_t = 5000)]
    page_bytes: usize,
    /// Key prefix (the process id is appended, so two ceilings never collide).
    #[arg(long, default_value = "vitrine-ceiling:")]
    prefix: String,
}

#[derive(Clone)]
struct AppState {
    redis: MultiplexedConnection,
    prefix: String,
}

/// A JSON document of exactly `size` bytes (at least the skeleton's).
fn document(kind: &str, n: usize, size: usize) -> Vec<u8> {
    let head = format!(r#"{{"kind":"{kind}","n":{n},"pad":""#);
    let tail = r#""}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut doc = Vec::with_capacity(size.max(head.len() + tail.len()));
    doc.extend_from_slice(head.as_bytes());
    doc.extend(std::iter::repeat_n(b'x', pad));
    doc.extend_from_slice(tail.as_bytes());
    doc
}

async fn read(state: &AppState, kind: &str, n: u64) -> impl IntoResponse {
    let mut conn = state.redis.clone();
    let key = format!("{}{kind}:{n}", state.prefix);
    match conn.get::<_, Option<Vec<u8>>>(&key).await {
        Ok(Some(doc)) => Ok(([(header::CONTENT_TYPE, "application/json")], doc)),
        Ok(None) => Err(StatusCode::NOT_FOUND),
        Err(_) => Err(StatusCode::SERVICE_UNAVAILABLE),
    }
}

async fn product(State(state): State<AppState>, Path(n): Path<u64>) -> impl IntoResponse {
    read(&state, "product", n).await
}

async fn page(State(state): State<AppState>, Path(n): Path<u64>) -> impl IntoResponse {
    read(&state, "page", n).await
}

fn keys(prefix: &str, args: &Args) -> Vec<String> {
    (0..args.products)
        .map(|n| format!("{prefix}product:{n}"))
        .chain((0..args.pages).map(|n| format!("{prefix}page:{n}")))
        .collect()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let prefix = format!("{}{}:", args.prefix, std::process::id());
    let client = redis::Client::open(args.redis_url.as_str()).context("REDIS_URL")?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to {}", args.redis_url))?;

    let mut pipe = redis::pipe();
    for n in 0..args.products {
        pipe.set(
            format!("{prefix}product:{n}"),
            document("product", n, args.product_bytes),
        )
        .ignore();
    }
    for n in 0..args.pages {
        pipe.set(
            format!("{prefix}page:{n}"),
            document("page", n, args.page_bytes),
        )
        .ignore();
    }
    pipe.query_async::<()>(&mut conn)
        .await
        .context("writing the ceiling's values")?;

    let app = Router::new()
        .route("/product/{n}", get(product))
        .route("/page/{n}", get(page))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(AppState {
            redis: conn.clone(),
            prefix: prefix.clone(),
        });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    if let Some(path) = &args.port_file {
        std::fs::write(path, addr.port().to_string())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "ceiling: listening on http://{addr} ({} products of {} B, {} pages of {} B under {prefix})",
        args.products, args.product_bytes, args.pages, args.page_bytes
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("serving")?;

    let keys = keys(&prefix, &args);
    for chunk in keys.chunks(500) {
        conn.del::<_, ()>(chunk)
            .await
            .context("deleting the ceiling's values")?;
    }
    println!("ceiling: stopped, {} keys deleted", keys.len());
    Ok(())
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_have_the_requested_size_and_are_json() {
        let doc = document("product", 7, 600);
        assert_eq!(doc.len(), 600);
        assert!(serde_json::from_slice::<serde_json::Value>(&doc).is_ok());
    }
}
