//! `GET /api/v1/products/{id}/recommendations/`: co-purchased products.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

use crate::error::ApiError;
use crate::http::{respond, Caching, Served};
use crate::lookups::Lookups;
use crate::openapi::{IdParam, Recommendations};
use crate::store::Found;
use crate::AppState;

/// `stale-if-error` for this document (0: none; it shows prices or stock).
pub const STALE_IF_ERROR: u32 = 0;

#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/recommendations/",
    tag = "catalog",
    summary = "Products bought together with this one",
    params(IdParam, ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "up to 10 products (empty when none yet)", body = Recommendations, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 404, description = "not-found: the id is not a UUID"),
        (status = 503, description = "unavailable: neither Redis nor PostgreSQL answers (Retry-After: 1)"),
    )
)]
pub async fn recommendations(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let live = app.live();
        let caching = Caching::Public {
            stale_if_error: STALE_IF_ERROR,
        };
        Ok(
            match app
                .store
                .doc(&mut lk, &live.keys, &doc_key::recommendations(id))
                .await?
            {
                Found::Doc { rev, body } => Served::new(body, super::etag(&live, rev), caching),
                // Nothing bought together yet.
                Found::Gone | Found::Absent => {
                    let body = json!({ "product_id": id, "items": [] }).to_string();
                    Served::new(body.into_bytes(), super::etag(&live, 0), caching)
                }
            },
        )
    }
    .await;
    respond(lk, &headers, result)
}
