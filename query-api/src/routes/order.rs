//! `GET /api/v1/orders/` and `GET /api/v1/orders/{id}/`: the session's orders.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

use crate::error::ApiError;
use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::openapi::{IdParam, MinVersion, OrderDoc, OrdersDoc};
use crate::session::session_id;
use crate::store::Found;
use crate::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/orders/",
    tag = "orders",
    summary = "The session's orders",
    security(("session" = [])),
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the orders (none yet: an empty list)", body = OrdersDoc, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 503, description = "unavailable: neither Redis nor PostgreSQL answers (Retry-After: 1)"),
    )
)]
pub async fn orders(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let session = session_id(&app.signer, &headers)?;
        let live = app.live();
        Ok(
            match app
                .store
                .doc(&mut lk, &live.keys, &doc_key::orders(session))
                .await?
            {
                Found::Doc { rev, body } => {
                    Served::new(body, super::etag(&live, rev), Caching::Private)
                }
                Found::Gone | Found::Absent => {
                    let body = json!({ "session_id": session, "orders": [] }).to_string();
                    Served::new(body.into_bytes(), super::etag(&live, 0), Caching::Private)
                }
            },
        )
    }
    .await;
    respond(lk, &headers, result)
}

#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}/",
    tag = "orders",
    summary = "One of the session's orders",
    security(("session" = [])),
    params(IdParam, MinVersion, ("X-Min-Version" = Option<i64>, Header, description = "the header form of min_version"), ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the document", body = OrderDoc, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 400, description = "bad-parameter: min_version"),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 404, description = "not-found: no such order, or another session's"),
        (status = 503, description = "not-yet: min_version not reached in time, or unavailable (Retry-After: 1)"),
    )
)]
pub async fn order(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::default();
    let result = async {
        let session = session_id(&app.signer, &headers)?;
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let params = http::params(params)?;
        let min_version = http::min_version(&params, &headers)?;
        let live = app.live();
        match app
            .single(&mut lk, &live.keys, &doc_key::order(id), min_version)
            .await?
        {
            // Another session's order is as unknown as a missing one.
            Found::Doc { rev, body } if owner(&body) == Some(session) => {
                Ok(Served::new(body, super::etag(&live, rev), Caching::Private))
            }
            _ => Err(ApiError::NotFound),
        }
    }
    .await;
    respond(lk, &headers, result)
}

fn owner(body: &[u8]) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct Owned {
        session_id: Uuid,
    }
    serde_json::from_slice::<Owned>(body)
        .ok()
        .map(|o| o.session_id)
}
