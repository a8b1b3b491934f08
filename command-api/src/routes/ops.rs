//! `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// Ready when PostgreSQL answers. The broker is deliberately not required: writes keep
/// succeeding while it is down (the outbox holds the events), so traffic should keep coming.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        sqlx::query("SELECT 1").execute(&state.pool),
    )
    .await
    .map(|r| r.is_ok())
    .unwrap_or(false);
    let status = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(json!({ "postgres": db })))
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    vitrine_contract::telemetry::record_pool(&state.pool);
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
