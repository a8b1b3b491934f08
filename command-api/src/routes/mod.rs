//! The router: one module per resource, each registering its own handlers through
//! [`Documented`] (the path and methods come from each handler's `#[utoipa::path]`, which
//! also documents it; every path answers with and without its trailing slash). Handlers
//! parse input and call [`crate::pipeline::execute`].

pub mod cart;
pub mod categories;
pub mod checkout;
pub mod ops;
pub mod orders;
pub mod payments;
pub mod products;
pub mod sessions;

use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use utoipa_axum::routes;
use vitrine_runtime::openapi::Documented;

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
    let d = payments::routes(d);
    ops::routes(d).split()
}

pub fn app(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
    let timeout = state.config.limits.request_timeout();
    let router = documented()
        .0
        .fallback(|| async { ApiError::NotFound("resource") })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            deadline(timeout, req, next)
        }))
        .layer(middleware::from_fn(vitrine_runtime::http::track));
    vitrine_runtime::http::request_ids(router).with_state(state)
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
