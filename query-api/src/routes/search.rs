//! `GET /api/v1/products/search/?q=&page=`: cached full-text search.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use vitrine_contract::read_model::normalize_query;

use crate::error::ApiError;
use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::openapi::{SearchPage, SearchParams};
use crate::AppState;

/// `stale-if-error` for this document (0: none; it shows prices or stock).
pub const STALE_IF_ERROR: u32 = 0;
pub const MAX_PAGE: u32 = 500;
pub const MAX_QUERY_CHARS: usize = 200;

#[utoipa::path(
    get,
    path = "/api/v1/products/search/",
    tag = "catalog",
    summary = "Full-text search",
    params(SearchParams, ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "a page of results (the ETag changes with the catalog)", body = SearchPage, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 400, description = "bad-parameter: q (empty or too long) or page"),
        (status = 503, description = "unavailable: neither Redis nor PostgreSQL answers (Retry-After: 1)"),
    )
)]
pub async fn search(State(app): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let params = http::params(params)?;
        let query = normalize_query(params.get("q").map(String::as_str).unwrap_or(""));
        if query.is_empty() {
            return Err(ApiError::bad("q", "a search needs at least one word"));
        }
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(ApiError::bad(
                "q",
                format!("at most {MAX_QUERY_CHARS} characters"),
            ));
        }
        let page = http::page(&params, MAX_PAGE)?;
        let live = app.live();
        let body = app.store.search(&mut lk, &live, &query, page).await?;
        // Results are a function of the catalog generation (query and page are in the URL).
        let etag = format!("v{}-g{}", live.version(), live.catalog_gen);
        Ok(Served::new(
            body,
            etag,
            Caching::Public {
                stale_if_error: STALE_IF_ERROR,
            },
        ))
    }
    .await;
    respond(lk, &headers, result)
}
