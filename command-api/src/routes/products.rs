//! Products (admin): create, patch, discontinue (`DELETE`), stock corrections.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;
use vitrine_contract::slug::slugify;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::product::{self, Changes, Command, ProductAggregate, Request, MAX_STOCK};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::openapi::{CommandAnswer, CommandHeaderParams, IdParam};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(create))
        .routes(routes!(update, discontinue))
        .routes(routes!(adjust_stock))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub category_id: Uuid,
    pub stock: i32,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub attributes: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub price_cents: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub category_id: Option<Uuid>,
    #[serde(default)]
    pub stock: Option<i32>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub attributes: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockDelta {
    pub delta: i32,
}

fn check_attributes(p: &mut Problems, attributes: &Option<Value>) {
    if matches!(attributes, Some(v) if !v.is_object()) {
        p.add("attributes", "must be a JSON object");
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/products/",
    tag = "products",
    summary = "Create a product",
    security(("admin" = [])),
    params(CommandHeaderParams),
    request_body = NewProduct,
    responses(
        (status = 201, description = "created", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 200, description = "a replay of the first answer to this Idempotency-Key", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such category"),
        (status = 409, description = "conflict: the SKU or the slug is taken, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    headers: CommandHeaders,
    body: JsonBody<NewProduct>,
) -> Result<CommandOk, ApiError> {
    let n = body.value;
    let mut p = Problems::default();
    p.text("sku", &n.sku, 64);
    p.text("name", &n.name, 200);
    p.max_len("description", &n.description, 10_000);
    p.price("price_cents", n.price_cents);
    p.currency("currency", &n.currency);
    if !(0..=MAX_STOCK).contains(&n.stock) {
        p.add("stock", format!("must be between 0 and {MAX_STOCK}"));
    }
    if let Some(image) = &n.image {
        p.max_len("image", image, 2048);
    }
    check_attributes(&mut p, &n.attributes);
    let slug = slugify(&n.name);
    if slug.is_empty() && !n.name.trim().is_empty() {
        p.add("name", "must contain at least one letter or digit");
    }
    p.into_result()?;
    let new = product::NewProduct {
        sku: n.sku.trim().to_owned(),
        slug,
        name: n.name.trim().to_owned(),
        description: n.description,
        price_cents: n.price_cents,
        currency: n.currency,
        category_id: n.category_id,
        stock: n.stock,
        image: n.image,
        attributes: n
            .attributes
            .unwrap_or_else(|| Value::Object(Default::default())),
    };
    let context = Context::new(Caller::Admin, headers, body.hash);
    execute::<ProductAggregate>(&state, context, Request::Create(Box::new(new))).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/products/{id}/",
    tag = "products",
    summary = "Change a product",
    security(("admin" = [])),
    params(IdParam, CommandHeaderParams),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "updated (with `stock` and `discontinued`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such product or category"),
        (status = 409, description = "conflict: the product is discontinued, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn update(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
    body: JsonBody<ProductPatch>,
) -> Result<CommandOk, ApiError> {
    let b = body.value;
    let mut p = Problems::default();
    if let Some(name) = &b.name {
        p.text("name", name, 200);
    }
    if let Some(description) = &b.description {
        p.max_len("description", description, 10_000);
    }
    if let Some(price) = b.price_cents {
        p.price("price_cents", price);
    }
    if let Some(currency) = &b.currency {
        p.currency("currency", currency);
    }
    if let Some(stock) = b.stock {
        if !(0..=MAX_STOCK).contains(&stock) {
            p.add("stock", format!("must be between 0 and {MAX_STOCK}"));
        }
    }
    if let Some(image) = &b.image {
        p.max_len("image", image, 2048);
    }
    check_attributes(&mut p, &b.attributes);
    p.into_result()?;
    let changes = Changes {
        name: b.name.map(|n| n.trim().to_owned()),
        description: b.description,
        price_cents: b.price_cents,
        currency: b.currency,
        category_id: b.category_id,
        image: b.image,
        attributes: b.attributes,
        stock: b.stock,
    };
    let context = Context::new(Caller::Admin, headers, body.hash);
    let command = Command::Update(Box::new(changes));
    execute::<ProductAggregate>(&state, context, Request::Change { id, command }).await
}

#[utoipa::path(
    delete,
    path = "/api/v1/products/{id}/",
    tag = "products",
    summary = "Discontinue a product",
    security(("admin" = [])),
    params(IdParam, CommandHeaderParams),
    responses(
        (status = 200, description = "discontinued (the product leaves the lists; its document stays)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such product"),
        (status = 409, description = "conflict: already discontinued, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn discontinue(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let context = Context::bodyless(Caller::Admin, headers);
    let command = Command::Discontinue;
    execute::<ProductAggregate>(&state, context, Request::Change { id, command }).await
}

#[utoipa::path(
    post,
    path = "/api/v1/products/{id}/stock/",
    tag = "products",
    summary = "Correct the stock by a delta",
    security(("admin" = [])),
    params(IdParam, CommandHeaderParams),
    request_body = StockDelta,
    responses(
        (status = 200, description = "adjusted (with `stock`)", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such product"),
        (status = 409, description = "conflict: the stock would go below 0 or above the maximum, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; `delta` non-zero"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn adjust_stock(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
    body: JsonBody<StockDelta>,
) -> Result<CommandOk, ApiError> {
    let delta = body.value.delta;
    if delta == 0 || delta.unsigned_abs() > MAX_STOCK as u32 {
        return Err(ApiError::field(
            "delta",
            format!("must be non-zero and at most {MAX_STOCK} either way"),
        ));
    }
    let context = Context::new(Caller::Admin, headers, body.hash);
    let command = Command::AdjustStock { delta };
    execute::<ProductAggregate>(&state, context, Request::Change { id, command }).await
}
