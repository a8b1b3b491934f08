//! `GET /api/v1/cart/`: the session's cart.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use vitrine_contract::read_model::doc_key;

use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::session::session_id;
use crate::store::Found;
use crate::AppState;

pub async fn cart(State(app): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let mut lk = Lookups::new("cart");
    let result = async {
        let session = session_id(&app.signer, &headers)?;
        let params = http::params(params)?;
        let min_version = http::min_version(&params, &headers)?;
        let live = app.live();
        // The key is the session's own: no other session's cart can be named here.
        Ok(
            match app
                .single(&mut lk, &live.keys, &doc_key::cart(session), min_version)
                .await?
            {
                Found::Doc { rev, body } => {
                    Served::new(body, super::etag(&live, rev), Caching::Private)
                }
                // The projector's empty-cart shape (render.rs `CartDoc`).
                Found::Gone | Found::Absent => {
                    let body = json!({
                        "id": session, "session_id": session, "version": 0, "lines": [],
                        "total_cents": 0, "currency": null, "item_count": 0,
                    });
                    Served::new(
                        body.to_string().into_bytes(),
                        super::etag(&live, 0),
                        Caching::Private,
                    )
                }
            },
        )
    }
    .await;
    respond(lk, &headers, result)
}
