//! The HTTP routes: one module per read model, plus the operational endpoints.

pub mod cart;
pub mod category;
pub mod ops;
pub mod order;
pub mod product;
pub mod product_list;
pub mod recommendation;
pub mod search;

use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use tokio::time::Instant;
use vitrine_contract::read_model::RedisKeys;

use crate::error::ApiError;
use crate::live::Live;
use crate::lookups::Lookups;
use crate::store::Found;
use crate::{http, AppState};

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    // Static segments win over `{id}` in axum's matcher, so `search` is not an id.
    let reads: [(&str, MethodRouter<AppState>); 8] = [
        ("/api/v1/products", get(product_list::list)),
        ("/api/v1/products/search", get(search::search)),
        ("/api/v1/products/{id}", get(product::detail)),
        (
            "/api/v1/products/{id}/recommendations",
            get(recommendation::recommendations),
        ),
        ("/api/v1/categories", get(category::categories)),
        ("/api/v1/cart", get(cart::cart)),
        ("/api/v1/orders", get(order::orders)),
        ("/api/v1/orders/{id}", get(order::order)),
    ];
    // The paths of API.md end in a slash; the slash-less form answers the same.
    for (path, handler) in reads {
        router = router
            .route(&format!("{path}/"), handler.clone())
            .route(path, handler);
    }
    router
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(http::track))
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
