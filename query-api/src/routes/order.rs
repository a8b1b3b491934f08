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
use crate::session::session_id;
use crate::store::Found;
use crate::AppState;

pub async fn orders(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let mut lk = Lookups::new("orders");
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

pub async fn order(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::new("order");
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
