//! `GET /api/v1/cart/`: the session's cart.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use vitrine_contract::read_model::doc_key;

use crate::http::{self, respond, Caching, Params, Served};
use crate::lookups::Lookups;
use crate::openapi::{CartDoc, MinVersion};
use crate::session::session_id;
use crate::store::Found;
use crate::AppState;

#[utoipa::path(
    get,
    path = "/api/v1/cart/",
    tag = "cart",
    summary = "The session's cart",
    security(("session" = [])),
    params(MinVersion, ("X-Min-Version" = Option<i64>, Header, description = "the header form of min_version"), ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer: 304 when it still matches")),
    responses(
        (status = 200, description = "the cart (an empty one before the first command)", body = CartDoc, headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 304, description = "not modified (If-None-Match matched)", headers(("ETag" = String, description = "`\"v{read-model version}-{rev}\"`; send it back in If-None-Match"), ("Cache-Control" = String, description = "private, no-store"), ("X-Lookups" = String, description = "`redis=N; sql=N`: what the read cost"))),
        (status = 400, description = "bad-parameter: min_version"),
        (status = 401, description = "unauthorized: no, a bad or an expired session token"),
        (status = 503, description = "not-yet: min_version not reached in time, or unavailable (Retry-After: 1)"),
    )
)]
pub async fn cart(State(app): State<AppState>, params: Params, headers: HeaderMap) -> Response {
    let mut lk = Lookups::default();
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
