//! `POST /api/v1/categories/`, `PATCH /api/v1/categories/{id}/` (admin).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use uuid::Uuid;
use vitrine_contract::{Event, Metadata, StreamId};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::event_store::{self, StreamAppend};
use crate::extract::{check_version, CommandHeaders, JsonBody, PathId};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

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

pub fn admin_meta(headers: &CommandHeaders) -> Metadata {
    headers.meta("admin")
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
    let idem = Idempotency::new("admin", headers.idempotency_key.clone(), &body.hash);
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    if let Some(parent) = c.parent_id {
        let found: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM categories WHERE id = $1")
            .bind(parent)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Err(ApiError::field("parent_id", "no such category"));
        }
    }
    let id = Uuid::now_v7();
    let name = c.name.trim().to_owned();
    let inserted = sqlx::query(
        "INSERT INTO categories (id, name, slug, parent_id, version) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id)
    .bind(&name)
    .bind(&c.slug)
    .bind(c.parent_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::Conflict {
            detail: format!("a category with slug {:?} exists", c.slug),
            errors: vec![crate::error::FieldError::new("slug", "already taken")],
            extra: None,
        });
    }
    let stream = StreamId::category(id);
    let event = Event::CategoryCreated {
        category_id: id,
        name,
        slug: c.slug,
        parent_id: c.parent_id,
    };
    event_store::append(
        &mut tx,
        &[StreamAppend::new(stream.clone(), 0, vec![event])],
        &admin_meta(&headers),
    )
    .await?;
    let answer = CommandOk::new(StatusCode::CREATED, id, &stream, 1);
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
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
    let idem = Idempotency::new("admin", headers.idempotency_key.clone(), &body.hash);
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM categories WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ApiError::NotFound("category"))?;
    check_version(headers.if_match, version)?;
    let name = name.trim().to_owned();
    sqlx::query("UPDATE categories SET name = $2, version = version + 1 WHERE id = $1")
        .bind(id)
        .bind(&name)
        .execute(&mut *tx)
        .await?;
    let stream = StreamId::category(id);
    let append = StreamAppend::new(
        stream.clone(),
        version,
        vec![Event::CategoryRenamed {
            category_id: id,
            name,
        }],
    );
    event_store::append(
        &mut tx,
        std::slice::from_ref(&append),
        &admin_meta(&headers),
    )
    .await?;
    let answer = CommandOk::new(StatusCode::OK, id, &stream, append.version_after());
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
}
