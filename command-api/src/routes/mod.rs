//! The router: one module per resource, each registering its own handlers through
//! [`Documented`] (the path and methods come from each handler's `#[utoipa::path]`, which
//! also documents it; every path answers with and without its trailing slash). Handlers
//! parse input and call [`crate::pipeline::execute`].

pub mod cart;
pub mod categories;
pub mod checkout;
pub mod ops;
pub mod orders;
pub mod products;
pub mod sessions;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa_axum::routes;
use vitrine_contract::openapi::Documented;

use crate::error::ApiError;
use crate::AppState;

/// Every route, and the OpenAPI document of exactly those routes.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let d = Documented::new(crate::openapi::base()).routes(routes!(sessions::create));
    let d = categories::routes(d);
    let d = products::routes(d);
    let d = cart::routes(d);
    let d = checkout::routes(d);
    let d = orders::routes(d);
    ops::routes(d).split()
}

pub fn app(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let timeout = state.config.limits.request_timeout();
    documented()
        .0
        .fallback(|| async { ApiError::NotFound("resource") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            deadline(timeout, req, next)
        }))
        .layer(middleware::from_fn(track))
        .with_state(state)
}

/// Answers 503 problem+json with `Retry-After` when a request runs over `timeout`
/// (tower-http's `TimeoutLayer` answers an empty 408, which is neither a problem nor
/// true: the client was not slow). Dropping the handler drops its transaction, which
/// rolls back: nothing is recorded, unless the commit was already on its way, which a
/// retry with the same `Idempotency-Key` (nginx adds one) replays instead of repeating.
async fn deadline(timeout: std::time::Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::Timeout.into_response(),
    }
}

/// Request count and latency per route (`vitrine_http_*`).
async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await.into_response();
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("vitrine_http_requests_total", &labels).increment(1);
    metrics::histogram!("vitrine_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    res
}
