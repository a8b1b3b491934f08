//! What every read answer shares: ETag / 304, Cache-Control, `X-Lookups` and the
//! per-route lookup counters (request counts and latencies are the shared
//! `vitrine_runtime::http::track`).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use vitrine_runtime::http::route_label;

use crate::error::ApiError;
use crate::lookups::Lookups;

pub static X_LOOKUPS: HeaderName = HeaderName::from_static("x-lookups");
pub static X_MIN_VERSION: HeaderName = HeaderName::from_static("x-min-version");

/// How long a shared cache (the front door's edge cache, a CDN) may serve a catalog
/// document without asking again (`s-maxage`), and how long past that it may still serve
/// it while one request revalidates it (`stale-while-revalidate`). Their sum, plus up to
/// 1 s because nginx counts lifetimes in whole seconds, is the edge's freshness bound
/// (docs/caching.md, ADR 9): a price or stock change reaches every shopper within 4 s
/// plus the projection's lag. Browsers keep nothing without asking (`max-age=0`): they
/// revalidate with the ETag, a 304 from the edge.
pub const SHARED_MAX_AGE_SECS: u32 = 2;
pub const STALE_WHILE_REVALIDATE_SECS: u32 = 1;

/// Who may cache an answer, and for how long.
#[derive(Debug, Clone, Copy)]
pub enum Caching {
    /// A catalog document, the same for everyone. `stale_if_error` (seconds; 0: none)
    /// lets a shared cache serve it past the bound while query-api answers only errors:
    /// only for documents without prices or stock.
    Public {
        stale_if_error: u32,
    },
    Private,
}

impl Caching {
    pub fn header_value(self) -> String {
        match self {
            Caching::Public { stale_if_error } => {
                let mut v = format!(
                    "public, max-age=0, s-maxage={SHARED_MAX_AGE_SECS}, stale-while-revalidate={STALE_WHILE_REVALIDATE_SECS}"
                );
                if stale_if_error > 0 {
                    v.push_str(&format!(", stale-if-error={stale_if_error}"));
                }
                v
            }
            Caching::Private => "private, no-store".to_owned(),
        }
    }
}

/// A successful read: the document bytes as stored, and its validator.
pub struct Served {
    pub body: Vec<u8>,
    pub etag: String,
    pub caching: Caching,
}

impl Served {
    /// `etag` is the bare tag; quotes are added here.
    pub fn new(body: Vec<u8>, etag: impl std::fmt::Display, caching: Caching) -> Self {
        Self {
            body,
            etag: format!("\"{etag}\""),
            caching,
        }
    }
}

/// Builds the answer of a read: 200 or 304 with validators, or the problem; always
/// with `X-Lookups` (and the counts for [`record_lookups`]).
pub fn respond(lk: Lookups, request: &HeaderMap, result: Result<Served, ApiError>) -> Response {
    let mut response = match result {
        Ok(served) => {
            let cache_control = served.caching.header_value();
            let fresh = if_none_match(request, &served.etag);
            let mut response = if fresh {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                let mut r = Response::new(Body::from(served.body));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            };
            let headers = response.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&served.etag) {
                headers.insert(header::ETAG, v);
            }
            if let Ok(v) = HeaderValue::from_str(&cache_control) {
                headers.insert(header::CACHE_CONTROL, v);
            }
            response
        }
        Err(error) => error.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&lk.header_value()) {
        response.headers_mut().insert(X_LOOKUPS.clone(), v);
    }
    response.extensions_mut().insert(lk);
    response
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for GET).
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(header::IF_NONE_MATCH).iter().any(|value| {
        value.to_str().is_ok_and(|list| {
            list.split(',')
                .map(str::trim)
                .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
        })
    })
}

/// Query parameters as an extractor's result (see [`params`]).
pub type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

/// Query parameters, with malformed encodings as a 400 problem, and a NUL character
/// (`%00`) in any name or value as a 400 naming the parameter: PostgreSQL refuses NUL in
/// text, so it would otherwise surface as a 503 on a cache miss.
pub fn params(raw: Params) -> Result<HashMap<String, String>, ApiError> {
    let params = raw
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad("query", e.body_text()))?;
    if let Some((name, _)) = params
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        let field = KNOWN_PARAMS
            .iter()
            .find(|known| *known == name)
            .copied()
            .unwrap_or("query");
        return Err(ApiError::bad(field, NUL_MESSAGE));
    }
    Ok(params)
}

/// Every parameter some read takes (a problem names one of these, or `query`).
const KNOWN_PARAMS: [&str; 5] = ["q", "page", "category", "sort", "min_version"];

pub const NUL_MESSAGE: &str = "must not contain a NUL character (%00)";

/// `page` (default 1, at least 1, at most `max`).
pub fn page(params: &HashMap<String, String>, max: u32) -> Result<u32, ApiError> {
    match params.get("page") {
        None => Ok(1),
        Some(raw) => match raw.parse::<u32>() {
            Ok(page) if (1..=max).contains(&page) => Ok(page),
            _ => Err(ApiError::bad(
                "page",
                format!("must be an integer from 1 to {max}"),
            )),
        },
    }
}

/// `min_version` from the query or the `X-Min-Version` header (the query wins).
pub fn min_version(
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<i64>, ApiError> {
    let raw = match params.get("min_version") {
        Some(raw) => Some(raw.as_str()),
        None => headers
            .get(&X_MIN_VERSION)
            .map(|v| v.to_str().unwrap_or("")),
    };
    match raw {
        None => Ok(None),
        Some(raw) => match raw.trim().parse::<i64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::bad("min_version", "must be a positive integer")),
        },
    }
}

/// Answers 503 problem+json with `Retry-After` when a read runs over `timeout`.
pub async fn deadline(timeout: std::time::Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            ApiError::Unavailable("the request ran over REQUEST_TIMEOUT_MS".into()).into_response()
        }
    }
}

/// Adds the lookups a read cost ([`respond`] leaves them on the answer) to the per-route
/// counters, under the same `route` label as the request metrics
/// ([`vitrine_runtime::http::route_label`]).
pub async fn record_lookups(request: Request, next: Next) -> Response {
    let route = route_label(&request);
    let response = next.run(request).await;
    if let Some(lk) = response.extensions().get::<Lookups>() {
        lk.record(&route);
    }
    response
}
