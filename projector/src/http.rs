//! Operations endpoints: `/healthz` (alive), `/readyz` (PostgreSQL and Redis reachable),
//! `/metrics` (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sqlx::PgPool;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub redis: redis::aio::ConnectionManager,
    pub metrics: PrometheusHandle,
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move {
                vitrine_contract::telemetry::record_pool(&s.pool);
                s.metrics.render()
            }),
        )
        .with_state(state)
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    let check = async {
        sqlx::query("SELECT 1").execute(&s.pool).await.ok()?;
        let mut redis = s.redis.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut redis)
            .await
            .ok()
    };
    match tokio::time::timeout(Duration::from_secs(2), check).await {
        Ok(Some(_)) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "dependencies unreachable"),
    }
}
