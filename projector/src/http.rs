//! Operations endpoints: `/healthz` (alive), `/readyz` (PostgreSQL reachable and the
//! consumer not stalled; Redis is optional: the projector keeps PostgreSQL moving without
//! it), `/metrics` (Prometheus text).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

use crate::watchdog::Health;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub redis: crate::redis_repair::LazyRedis,
    pub metrics: PrometheusHandle,
    pub health: Arc<Health>,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                vitrine_runtime::telemetry::record_pool(&s.pool);
                s.metrics.render()
            }),
        )
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, String) {
    if let Some(reason) = s.health.stalled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stalled: {reason}"),
        );
    }
    let check = sqlx::query("SELECT 1").execute(&s.pool);
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Ok(_)) => {
            let mut redis = s.redis.clone();
            let ping = redis::cmd("PING");
            match tokio::time::timeout(
                Duration::from_millis(500),
                ping.query_async::<String>(&mut redis),
            )
            .await
            {
                Ok(Ok(_)) => (StatusCode::OK, "ready".into()),
                _ => (
                    StatusCode::OK,
                    "ready (Redis unreachable: applying to PostgreSQL, Redis writes owed)".into(),
                ),
            }
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "PostgreSQL unreachable".into(),
        ),
    }
}
