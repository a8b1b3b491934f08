//! `GET /api/v1/products/?category=&sort=&page=`: a prebuilt list page.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use vitrine_contract::read_model::{doc_key, Sort, ALL_PRODUCTS, PAGE_SIZE};

use crate::error::ApiError;
use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::openapi::{ListPage, ListParams};
use crate::store::Found;
use crate::AppState;

/// `stale-if-error` for this document (0: none; it shows prices or stock).
pub const STALE_IF_ERROR: u32 = 0;
/// Deeper pages are refused rather than looked up.
pub const MAX_PAGE: u32 = 10_000;

/// A category slug: what command-api accepts, so nothing else can name a page.
fn category(raw: Option<&String>) -> Result<&str, ApiError> {
    let Some(slug) = raw else {
        return Ok(ALL_PRODUCTS);
    };
    if vitrine_contract::slug::is_slug(slug) {
        Ok(slug)
    } else {
        Err(ApiError::bad(
            "category",
            "must be a category slug (lowercase letters, digits, hyphens)",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/products/",
    tag = "catalog",
    summary = "A page of products (of a category, sorted)",
    params(ListParams, ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the document", body = ListPage, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 400, description = "bad-parameter: category, sort or page"),
        (status = 404, description = "not-found: a page past the last one"),
        (status = 503, description = "unavailable: neither Redis nor PostgreSQL answers (Retry-After: 1)"),
    )
)]
pub async fn list(State(app): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let params = http::params(params)?;
        let category = category(params.get("category"))?;
        let sort: Sort = match params.get("sort") {
            None => Sort::Name,
            Some(raw) => raw
                .parse()
                .map_err(|e: vitrine_contract::read_model::UnknownSort| {
                    ApiError::bad("sort", e.to_string())
                })?,
        };
        let page = http::page(&params, MAX_PAGE)?;
        let live = app.live();
        let caching = Caching::Public {
            stale_if_error: STALE_IF_ERROR,
        };
        match app
            .store
            .doc(
                &mut lk,
                &live.keys,
                &doc_key::product_list(category, sort, page),
            )
            .await?
        {
            Found::Doc { rev, body } => Ok(Served::new(body, super::etag(&live, rev), caching)),
            // The projector writes the pages that have items; the first page of an
            // empty listing is an empty page, later ones do not exist.
            Found::Gone | Found::Absent if page == 1 => {
                let body = json!({
                    "category": category, "sort": sort.as_str(), "page": 1, "page_size": PAGE_SIZE,
                    "total": 0, "pages": 0, "items": [],
                });
                Ok(Served::new(
                    body.to_string().into_bytes(),
                    super::etag(&live, 0),
                    caching,
                ))
            }
            Found::Gone | Found::Absent => Err(ApiError::NotFound),
        }
    }
    .await;
    respond(lk, &headers, result)
}
