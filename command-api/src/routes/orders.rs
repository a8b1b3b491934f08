//! Order transitions: pay and cancel (the owning session), ship (admin).

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use serde::Deserialize;

use super::both;
use crate::aggregates::order::{OrderAggregate, Request};
use crate::auth::{Admin, Shopper};
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    let r = both(Router::new(), "/api/v1/orders/{id}/pay/", post(pay));
    let r = both(r, "/api/v1/orders/{id}/cancel/", post(cancel));
    both(r, "/api/v1/orders/{id}/ship/", post(ship))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub payment_reference: String,
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn pay(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
    body: JsonBody<Payment>,
) -> Result<CommandOk, ApiError> {
    let payment_reference = body.value.payment_reference.trim().to_owned();
    let mut p = Problems::default();
    p.text("payment_reference", &payment_reference, 200);
    p.into_result()?;
    let context = Context::new(Caller::Session(session_id), headers, body.hash);
    execute::<OrderAggregate>(&state, context, Request::pay(id, payment_reference)).await
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn cancel(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Session(session_id), headers);
    execute::<OrderAggregate>(&state, context, Request::cancel(id)).await
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn ship(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Admin, headers);
    execute::<OrderAggregate>(&state, context, Request::ship(id)).await
}
