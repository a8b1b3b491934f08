//! The router: one module per resource, each registering its own paths, every path with
//! and without its trailing slash. Handlers parse input and call
//! [`crate::pipeline::execute`].

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
use axum::routing::{post, MethodRouter};
use axum::Router;

use crate::error::ApiError;
use crate::AppState;

/// Registers `path` (which ends in `/`) and the same path without the slash.
pub(super) fn both(
    router: Router<AppState>,
    path: &str,
    route: MethodRouter<AppState>,
) -> Router<AppState> {
    router
        .route(path, route.clone())
        .route(path.trim_end_matches('/'), route)
}

pub fn app(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let mut r = Router::new();
    r = both(r, "/api/v1/sessions/", post(sessions::create));
    r = r
        .merge(categories::routes())
        .merge(products::routes())
        .merge(cart::routes())
        .merge(checkout::routes())
        .merge(orders::routes());
    r.merge(ops::router())
        .fallback(|| async { ApiError::NotFound("resource") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(track))
        .with_state(state)
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
