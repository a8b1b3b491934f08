//! `GET /api/v1/products/{id}/`: the product document.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

use crate::error::ApiError;
use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::openapi::{IdParam, MinVersion, ProductDoc};
use crate::store::Found;
use crate::AppState;

/// `stale-if-error` for this document (0: none; it shows prices or stock).
pub const STALE_IF_ERROR: u32 = 0;

#[utoipa::path(
    get,
    path = "/api/v1/products/{id}/",
    tag = "catalog",
    summary = "A product",
    params(IdParam, MinVersion, ("X-Min-Version" = Option<i64>, Header, description = "the header form of min_version"), ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the document", body = ProductDoc, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 400, description = "bad-parameter: min_version"),
        (status = 404, description = "not-found: no such product"),
        (status = 503, description = "not-yet: min_version not reached in time, or unavailable (Retry-After: 1)"),
    )
)]
pub async fn detail(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let params = http::params(params)?;
        // A malformed id names no product.
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let min_version = http::min_version(&params, &headers)?;
        let live = app.live();
        match app
            .single(&mut lk, &live.keys, &doc_key::product(id), min_version)
            .await?
        {
            Found::Doc { rev, body } => Ok(Served::new(
                body,
                super::etag(&live, rev),
                Caching::Public {
                    stale_if_error: STALE_IF_ERROR,
                },
            )),
            Found::Gone | Found::Absent => Err(ApiError::NotFound),
        }
    }
    .await;
    respond(lk, &headers, result)
}
