//! `/healthz`, `/readyz`, `/metrics`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;
use utoipa_axum::routes;
use vitrine_runtime::openapi::Documented;

use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics_text))
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// Ready when PostgreSQL answers. The broker is deliberately not required: writes keep
/// succeeding while it is down (the outbox holds the events), so traffic should keep coming.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "`{\"postgres\": true}`", body = serde_json::Value),
    (status = 503, description = "`{\"postgres\": false}` (plain JSON, not a problem)", content_type = "application/json", body = serde_json::Value),
))]
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

/// Prometheus metrics (`docs/metrics.md`).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    vitrine_runtime::telemetry::record_pool(&state.pool);
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
