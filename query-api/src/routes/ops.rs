//! `/healthz`, `/readyz` and `/metrics`.
//!
//! `/readyz` answers 200 `{"status":"ok"}` when both stores answer, 200
//! `{"status":"degraded"}` when one of them is down (reads still work: from PostgreSQL
//! without Redis, from Redis hits without PostgreSQL), and 503 when neither answers.

use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;

#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "`{\"status\": \"alive\"}`", body = Object)))]
pub async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({ "status": "alive" }))).into_response()
}

#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "`status` `ok` (both stores answer) or `degraded` (one does), with `postgres`, `redis`, `updates`, `rm_version`, `catalog_gen`", body = Object),
    (status = 503, description = "`status` `unavailable`: neither store answers (plain JSON, not a problem)", content_type = "application/json", body = Object),
))]
#[tracing::instrument(skip_all)]
pub async fn readyz(State(app): State<AppState>) -> Response {
    let probe = Duration::from_millis(500);
    let postgres = matches!(
        tokio::time::timeout(probe, sqlx::query("SELECT 1").execute(app.store.pool())).await,
        Ok(Ok(_))
    );
    let redis = match app.store.redis().conn() {
        Some(mut conn) => matches!(
            tokio::time::timeout(probe, redis::cmd("PING").query_async::<String>(&mut conn)).await,
            Ok(Ok(_))
        ),
        None => false,
    };
    let (status, word) = match (postgres, redis) {
        (true, true) => (StatusCode::OK, "ok"),
        (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        _ => (StatusCode::OK, "degraded"),
    };
    let updown = |up: bool| if up { "up" } else { "down" };
    let live = app.live();
    let body = json!({
        "status": word,
        "postgres": updown(postgres),
        "redis": updown(redis),
        "updates": if app.updates.is_subscribed() { "subscribed" } else { "not subscribed" },
        "rm_version": live.version(),
        "catalog_gen": live.catalog_gen,
    });
    (status, axum::Json(body)).into_response()
}

/// Prometheus metrics (`docs/metrics.md`).
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    vitrine_runtime::telemetry::record_pool(app.store.pool());
    let body = app.metrics.render();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}
