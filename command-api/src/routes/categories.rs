//! `POST /api/v1/categories/`, `PATCH /api/v1/categories/{id}/` (admin).

use axum::extract::State;
use axum::routing::{patch, post};
use axum::Router;
use serde::Deserialize;
use uuid::Uuid;

use super::both;
use crate::aggregates::category::{CategoryAggregate, Request};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody, PathId};
use crate::pipeline::{execute, Caller, Context};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    let r = both(Router::new(), "/api/v1/categories/", post(create));
    both(r, "/api/v1/categories/{id}/", patch(rename))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCategory {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    #[serde(default)]
    pub name: Option<String>,
}

fn check_slug(p: &mut Problems, slug: &str) {
    if slug.is_empty()
        || slug.len() > 100
        || !slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        p.add("slug", "must be 1 to 100 characters of a-z, 0-9 and -");
    } else if slug == "all" {
        p.add(
            "slug",
            "\"all\" is reserved (it names the list of every product)",
        );
    }
}

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
