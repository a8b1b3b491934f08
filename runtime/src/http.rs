//! The HTTP machinery command-api and query-api share: the one problem+json answer
//! (RFC 9457) and the one request-tracking middleware.
//!
//! - [`Problem`]: every error answer of both programs, built from a [`Kind`] (which
//!   fixes `type`, `title` and status, so the same kind reads the same in both programs),
//!   rendered once ([`IntoResponse`]) as `application/problem+json`, with `errors` always
//!   present (maybe empty), the extension members `current_version` / `insufficient`
//!   when set, and `Retry-After` / `WWW-Authenticate` when asked for. Each program keeps
//!   its own error enum and renders it through a `Problem`.
//! - [`track`]: `vitrine_http_requests_total{method,route,status}` and
//!   `vitrine_http_request_duration_seconds{method,route}`; `route` is [`route_label`].

use std::fmt;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of error answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The kinds of problem the API answers with (`docs/api.md`, "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400: the body is not JSON (command-api).
    MalformedJson,
    /// 400: a bad query parameter or header (query-api).
    BadParameter,
    /// 400: a well-formed request about something the store does not have (a payment
    /// callback naming an unknown order).
    BadRequest,
    /// 401: no token, a bad or an expired one.
    Unauthorized,
    /// 404: unknown path or id.
    NotFound,
    /// 409: stale `If-Match`, short stock, illegal transition, duplicate.
    Conflict,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: body not `application/json`.
    UnsupportedMediaType,
    /// 422: invalid field or state.
    Rejected,
    /// 429: a client over the front door's rate limits (answered by nginx, with the same
    /// body; listed here so the kind reads the same everywhere).
    TooManyRequests,
    /// 500: a command could not be recorded (command-api).
    CouldNotRecord,
    /// 500: a read failed on a defect (query-api).
    Internal,
    /// 503: `min_version` not reached in time.
    NotYet,
    /// 503: neither read store answers.
    Unavailable,
    /// 503: the database could not take a command in time (no pool connection, a lock
    /// wait or statement over its timeout, a deadlock); nothing was recorded (command-api).
    Busy,
    /// 503: a command ran over `REQUEST_TIMEOUT_MS` (command-api).
    Timeout,
}

impl Kind {
    pub fn status(self) -> StatusCode {
        match self {
            Kind::MalformedJson | Kind::BadParameter | Kind::BadRequest => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Rejected => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::CouldNotRecord | Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Kind::NotYet | Kind::Unavailable | Kind::Busy | Kind::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The last segment of `type`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::MalformedJson => "malformed-json",
            Kind::BadParameter => "bad-parameter",
            Kind::BadRequest => "bad-request",
            Kind::Unauthorized => "unauthorized",
            Kind::NotFound => "not-found",
            Kind::Conflict => "conflict",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::Rejected => "rejected",
            Kind::TooManyRequests => "too-many-requests",
            Kind::CouldNotRecord => "could-not-record",
            Kind::Internal => "internal",
            Kind::NotYet => "not-yet",
            Kind::Unavailable => "unavailable",
            Kind::Busy => "busy",
            Kind::Timeout => "timeout",
        }
    }

    /// The `title`: one per kind, sentence case.
    pub fn title(self) -> &'static str {
        match self {
            Kind::MalformedJson => "Malformed request body",
            Kind::BadParameter => "Bad parameter",
            Kind::BadRequest => "Bad request",
            Kind::Unauthorized => "Missing or invalid credentials",
            Kind::NotFound => "Not found",
            Kind::Conflict => "Conflict",
            Kind::PayloadTooLarge => "Request body too large",
            Kind::UnsupportedMediaType => "Body must be application/json",
            Kind::Rejected => "The command was rejected",
            Kind::TooManyRequests => "Too many requests",
            Kind::CouldNotRecord => "The command could not be recorded",
            Kind::Internal => "Internal error",
            Kind::NotYet => "Read model behind",
            Kind::Unavailable => "Service unavailable",
            Kind::Busy => "Busy: retry shortly",
            Kind::Timeout => "The request took too long: retry shortly",
        }
    }
}

/// An error answer (RFC 9457), `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Problem {
    /// `https://vitrine.example/problems/{kind}`; the kinds are listed in `docs/api.md`.
    #[serde(rename = "type")]
    #[schema(example = "https://vitrine.example/problems/not-found")]
    pub kind: String,
    /// One per kind, sentence case.
    #[schema(example = "Not found")]
    pub title: String,
    /// The HTTP status, repeated.
    pub status: u16,
    pub detail: String,
    /// The fields, headers or query parameters at fault: always present, maybe empty.
    pub errors: Vec<FieldProblem>,
    /// On a stale `If-Match` (409): the stream's current version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
    /// On short stock at checkout (409): per product, what was requested and what is
    /// available.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub insufficient: Option<serde_json::Value>,
    /// `Retry-After` in seconds (503s).
    #[serde(skip)]
    retry_after: Option<u32>,
    /// `WWW-Authenticate` (401s).
    #[serde(skip)]
    www_authenticate: Option<&'static str>,
}

/// One field (or header, or query parameter) at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FieldProblem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// A problem of `kind`, with no field named.
    pub fn new(kind: Kind, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("https://vitrine.example/problems/{}", kind.slug()),
            title: kind.title().to_owned(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            current_version: None,
            insufficient: None,
            retry_after: None,
            www_authenticate: None,
        }
    }

    /// A 5xx whose cause is logged here and never sent: the answer says only `detail`.
    /// A 503 (a store away, expected to pass) is a warning, anything else an error.
    pub fn hiding(kind: Kind, detail: impl Into<String>, cause: &dyn fmt::Debug) -> Self {
        if kind.status() == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(kind = kind.slug(), ?cause, "request failed");
        } else {
            tracing::error!(kind = kind.slug(), ?cause, "request failed");
        }
        Self::new(kind, detail)
    }

    pub fn errors(mut self, errors: Vec<FieldProblem>) -> Self {
        self.errors = errors;
        self
    }

    pub fn current_version(mut self, version: i64) -> Self {
        self.current_version = Some(version);
        self
    }

    pub fn insufficient(mut self, lines: serde_json::Value) -> Self {
        self.insufficient = Some(lines);
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn www_authenticate(mut self, challenge: &'static str) -> Self {
        self.www_authenticate = Some(challenge);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (self.status_code(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// The `route` label of a request: its matched route template without the trailing
/// slash (`/api/v1/products/{id}`), `unmatched` when no route matched (never the raw
/// path: labels stay few).
pub fn route_label(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(path) if path.as_str().len() > 1 => path.as_str().trim_end_matches('/').to_owned(),
        Some(path) => path.as_str().to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// One id per HTTP request (tower-http's request-id layers): the client's `x-request-id`
/// when it sent one, else a new UUID v7 (command-api records the request id as its
/// events' correlation id, so the projector's lines of the same command carry it);
/// echoed in the response's `x-request-id`, and a field of the request's span, so every
/// log line of the request names it. Both programs wrap their routers with it.
pub fn request_ids<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
    use tower_http::trace::TraceLayer;
    // Layers wrap outside-in: the id is set first, then the span opens, then the
    // response gets the id back.
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(UuidV7))
}

/// The span of one request: method, path (never the query string: searches and tokens)
/// and the request id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}

/// The response header that echoes the request id.
pub const REQUEST_ID: &str = "x-request-id";

#[derive(Debug, Clone, Copy)]
struct UuidV7;

impl tower_http::request_id::MakeRequestId for UuidV7 {
    fn make_request_id<B>(
        &mut self,
        _: &axum::http::Request<B>,
    ) -> Option<tower_http::request_id::RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(tower_http::request_id::RequestId::new)
    }
}

/// Counts every answer and its latency per method and route (`vitrine_http_*`); both
/// programs wrap their routers with it (`axum::middleware::from_fn(track)`).
pub async fn track(request: Request, next: Next) -> Response {
    let route = route_label(&request);
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(crate::metric::HTTP_REQUESTS_TOTAL, &labels).increment(1);
    metrics::histogram!(crate::metric::HTTP_REQUEST_DURATION_SECONDS, &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn requests_are_counted_under_their_route_template_and_method() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let _local = metrics::set_default_local_recorder(&recorder);
        let app = Router::new()
            .route("/api/v1/products/{id}/", get(|| async { "doc" }))
            .layer(axum::middleware::from_fn(track));
        for uri in ["/api/v1/products/42/", "/nowhere"] {
            let request = axum::http::Request::get(uri)
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request).await.unwrap();
        }
        let text = handle.render();
        assert!(
            text.contains(r#"vitrine_http_requests_total{method="GET",route="/api/v1/products/{id}",status="200"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"vitrine_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"vitrine_http_request_duration_seconds_count{method="GET",route="/api/v1/products/{id}"} 1"#),
            "{text}"
        );
    }

    #[test]
    fn a_problem_always_lists_errors_and_only_set_extensions() {
        let body = serde_json::to_value(Problem::new(Kind::NotFound, "no such product")).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "type": "https://vitrine.example/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": "no such product",
                "errors": [],
            })
        );
        let stale =
            serde_json::to_value(Problem::new(Kind::Conflict, "stale").current_version(3)).unwrap();
        assert_eq!(stale["current_version"], 3);
    }

    #[test]
    fn a_problem_answers_with_its_media_type_and_headers() {
        let response = Problem::new(Kind::Unavailable, "retry shortly")
            .retry_after(1)
            .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
