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
use crate::store::Found;
use crate::AppState;

pub const MAX_AGE: u32 = 3600;

pub async fn recommendations(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::new("recommendations");
    let result = async {
        let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound)?;
        let live = app.live();
        let caching = Caching::Public { max_age: MAX_AGE };
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
