//! The HTTP routes: one module per read model, the operational endpoints and the API
//! document. Every handler is registered through [`Documented`], which takes its path from
//! the handler's `#[utoipa::path]` and documents it (see [`crate::openapi`]); every
//! `/api/v1/` path answers with and without its trailing slash.

pub mod cart;
pub mod category;
pub mod ops;
pub mod order;
pub mod product;
pub mod product_list;
pub mod recommendation;
pub mod search;

use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::time::Instant;
use utoipa_axum::routes;
use vitrine_contract::read_model::RedisKeys;
use vitrine_runtime::openapi::Documented;

use crate::error::ApiError;
use crate::live::Live;
use crate::lookups::Lookups;
use crate::store::Found;
use crate::{http, AppState};

/// Every route, and the OpenAPI document of exactly those routes.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // Static segments win over `{id}` in axum's matcher, so `search` is not an id.
    Documented::new(crate::openapi::base())
        .routes(routes!(product_list::list))
        .routes(routes!(search::search))
        .routes(routes!(product::detail))
        .routes(routes!(recommendation::recommendations))
        .routes(routes!(category::categories))
        .routes(routes!(cart::cart))
        .routes(routes!(order::orders))
        .routes(routes!(order::order))
        .routes(routes!(crate::openapi::openapi_json))
        .routes(routes!(crate::openapi::docs))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split()
}

/// Every route, each request bounded by `timeout` (503 past it) and counted.
pub fn router(timeout: std::time::Duration) -> Router<AppState> {
    let router = documented()
        .0
        .fallback(not_found)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                http::deadline(timeout, request, next)
            },
        ))
        .layer(axum::middleware::from_fn(http::record_lookups))
        .layer(axum::middleware::from_fn(vitrine_runtime::http::track));
    vitrine_runtime::http::request_ids(router)
}

async fn not_found() -> Response {
    ApiError::NotFound.into_response()
}

/// `"v{read-model version}-{rev}"`: changes whenever the stored document does.
pub fn etag(live: &Live, rev: i64) -> String {
    format!("v{}-{}", live.version(), rev)
}

impl AppState {
    /// A single-stream document, waiting for `min_version` when one is asked for.
    pub async fn single(
        &self,
        lk: &mut Lookups,
        keys: &RedisKeys,
        doc_key: &str,
        min_version: Option<i64>,
    ) -> Result<Found, ApiError> {
        match min_version {
            None => self.store.doc(lk, keys, doc_key).await,
            Some(min) => {
                let deadline = Instant::now() + self.min_version_wait;
                self.store
                    .doc_at_least(lk, &self.updates, keys, doc_key, min, deadline)
                    .await
            }
        }
    }
}
