//! `GET /api/v1/categories/`: the category tree.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use vitrine_contract::read_model::doc_key;

use crate::http::{respond, Caching, Served};
use crate::lookups::Lookups;
use crate::openapi::CategoryTree;
use crate::store::Found;
use crate::AppState;

/// `stale-if-error` for this document (0: none; it shows prices or stock).
pub const STALE_IF_ERROR: u32 = 300;

#[utoipa::path(
    get,
    path = "/api/v1/categories/",
    tag = "catalog",
    summary = "The category tree",
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the document", body = CategoryTree, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1, stale-if-error=300"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "public, max-age=0, s-maxage=2, stale-while-revalidate=1, stale-if-error=300"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 503, description = "unavailable: neither Redis nor PostgreSQL answers (Retry-After: 1)"),
    )
)]
pub async fn categories(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let live = app.live();
        let caching = Caching::Public {
            stale_if_error: STALE_IF_ERROR,
        };
        Ok(
            match app
                .store
                .doc(&mut lk, &live.keys, &doc_key::categories())
                .await?
            {
                Found::Doc { rev, body } => Served::new(body, super::etag(&live, rev), caching),
                // No category yet: an empty tree.
                Found::Gone | Found::Absent => Served::new(
                    br#"{"categories":[]}"#.to_vec(),
                    super::etag(&live, 0),
                    caching,
                ),
            },
        )
    }
    .await;
    respond(lk, &headers, result)
}
