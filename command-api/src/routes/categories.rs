//! `POST /api/v1/categories/`, `PATCH /api/v1/categories/{id}/` (admin).

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::routes;
use uuid::Uuid;
use vitrine_runtime::openapi::Documented;

use crate::aggregates::category::{CategoryAggregate, Request};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::openapi::{CommandAnswer, CommandHeaderParams, IdParam};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes(d: Documented<AppState>) -> Documented<AppState> {
    d.routes(routes!(create)).routes(routes!(rename))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    #[serde(default)]
    pub name: Option<String>,
}

fn check_slug(p: &mut Problems, slug: &str) {
    if !vitrine_contract::slug::is_slug(slug) {
        p.add("slug", "must be 1 to 100 characters of a-z, 0-9 and -");
    } else if slug == "all" {
        p.add(
            "slug",
            "\"all\" is reserved (it names the list of every product)",
        );
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/categories/",
    tag = "categories",
    summary = "Create a category",
    security(("admin" = [])),
    params(CommandHeaderParams),
    request_body = NewCategory,
    responses(
        (status = 201, description = "created", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 200, description = "a replay of the first answer to this Idempotency-Key", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such parent category"),
        (status = 409, description = "conflict: the slug is taken, or a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; name 1-200 characters, slug 1-100 of a-z 0-9 - and not `all`"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    headers: CommandHeaders,
    body: JsonBody<NewCategory>,
) -> Result<CommandOk, ApiError> {
    let c = body.value;
    let mut p = Problems::default();
    p.text("name", &c.name, 200);
    check_slug(&mut p, &c.slug);
    p.into_result()?;
    let context = Context::new(Caller::Admin, headers, body.hash);
    let request = Request::Create {
        name: c.name.trim().to_owned(),
        slug: c.slug,
        parent_id: c.parent_id,
    };
    execute::<CategoryAggregate>(&state, context, request).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/categories/{id}/",
    tag = "categories",
    summary = "Rename a category",
    security(("admin" = [])),
    params(IdParam, CommandHeaderParams),
    request_body = CategoryPatch,
    responses(
        (status = 200, description = "renamed", body = CommandAnswer, headers(("X-Stream-Version" = String, description = "`{stream}:{version}` after the command"))),
        (status = 400, description = "malformed-json: the body is not JSON"),
        (status = 413, description = "payload-too-large: the body is over the limit"),
        (status = 415, description = "unsupported-media-type: the body is not application/json"),
        (status = 401, description = "unauthorized: no or a wrong admin token"),
        (status = 404, description = "not-found: no such category"),
        (status = 409, description = "conflict: a stale If-Match"),
        (status = 422, description = "rejected: an invalid field, an unknown field, a reused Idempotency-Key or a malformed header; a patch without `name` changes nothing"),
        (status = 503, description = "busy or timeout: the database could not take the command in time (a lock wait, a full pool, a slow statement) or it ran over REQUEST_TIMEOUT_MS; nothing was recorded (Retry-After: 1)"),
    )
)]
#[tracing::instrument(skip_all, fields(category_id = %id))]
pub async fn rename(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
    body: JsonBody<CategoryPatch>,
) -> Result<CommandOk, ApiError> {
    let mut p = Problems::default();
    let Some(name) = body.value.name else {
        return Err(ApiError::rejected("the patch changes nothing", vec![]));
    };
    p.text("name", &name, 200);
    p.into_result()?;
    let context = Context::new(Caller::Admin, headers, body.hash);
    let request = Request::Rename {
        id,
        name: name.trim().to_owned(),
    };
    execute::<CategoryAggregate>(&state, context, request).await
}
