//! `GET /api/v1/products/{id}/`: the product document.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

use crate::error::ApiError;
use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::store::Found;
use crate::AppState;

pub const MAX_AGE: u32 = 300;

pub async fn detail(
    State(app): State<AppState>,
    Path(id): Path<String>,
    params: Params,
    headers: HeaderMap,
) -> Response {
    let mut lk = Lookups::new("product");
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
                Caching::Public { max_age: MAX_AGE },
            )),
            Found::Gone | Found::Absent => Err(ApiError::NotFound),
        }
    }
    .await;
    respond(lk, &headers, result)
}
