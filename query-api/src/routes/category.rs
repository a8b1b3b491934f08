//! `GET /api/v1/categories/`: the category tree.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use vitrine_contract::read_model::doc_key;

use crate::http::{respond, Caching, Served};
use crate::lookups::Lookups;
use crate::store::Found;
use crate::AppState;

pub const MAX_AGE: u32 = 900;

pub async fn categories(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let mut lk = Lookups::new("categories");
    let result = async {
        let live = app.live();
        let caching = Caching::Public { max_age: MAX_AGE };
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
