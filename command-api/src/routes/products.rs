//! Products (admin): create, patch, discontinue (`DELETE`), stock corrections.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::event::slugify;
use vitrine_contract::{Event, StreamId};

use crate::auth::Admin;
use crate::domain::product::{self, Changes, Command, Product, MAX_STOCK};
use crate::error::{ApiError, FieldError};
use crate::event_store::{self, StreamAppend};
use crate::extract::{check_version, CommandHeaders, JsonBody, PathId};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::routes::categories::admin_meta;
use crate::validate::Problems;
use crate::AppState;

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockDelta {
    pub delta: i32,
}

fn check_attributes(p: &mut Problems, attributes: &Option<Value>) {
    if matches!(attributes, Some(v) if !v.is_object()) {
        p.add("attributes", "must be a JSON object");
    }
}

async fn category_exists(conn: &mut PgConnection, id: Uuid) -> Result<(), ApiError> {
    let found: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM categories WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::field("category_id", "no such category"))
}

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
    let idem = Idempotency::new("admin", headers.idempotency_key.clone(), &body.hash);
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    category_exists(&mut tx, n.category_id).await?;
    let id = Uuid::now_v7();
    let attributes = n
        .attributes
        .unwrap_or_else(|| Value::Object(Default::default()));
    let (sku, name) = (n.sku.trim().to_owned(), n.name.trim().to_owned());
    let inserted = sqlx::query(
        "INSERT INTO products (id, sku, slug, name, description, price_cents, currency, category_id, stock, image, attributes, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1)
         ON CONFLICT (sku) DO NOTHING",
    )
    .bind(id)
    .bind(&sku)
    .bind(&slug)
    .bind(&name)
    .bind(&n.description)
    .bind(n.price_cents)
    .bind(&n.currency)
    .bind(n.category_id)
    .bind(n.stock)
    .bind(&n.image)
    .bind(&attributes)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::Conflict {
            detail: format!("a product with sku {sku:?} exists"),
            errors: vec![FieldError::new("sku", "already taken")],
            extra: None,
        });
    }
    let stream = StreamId::product(id);
    let event = Event::ProductCreated {
        product_id: id,
        sku,
        slug: slug.clone(),
        name,
        description: n.description,
        price_cents: n.price_cents,
        currency: n.currency,
        category_id: n.category_id,
        stock: n.stock,
        image: n.image,
        attributes,
    };
    event_store::append(
        &mut tx,
        &[StreamAppend::new(stream.clone(), 0, vec![event])],
        &admin_meta(&headers),
    )
    .await?;
    let answer = CommandOk::new(StatusCode::CREATED, id, &stream, 1).with("slug", slug);
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
}

/// Locks the product row and reads what the decider needs, with its stream version.
async fn lock(conn: &mut PgConnection, id: Uuid) -> Result<(Product, i64), ApiError> {
    let row: Option<(i32, bool, i64)> = sqlx::query_as(
        "SELECT stock, discontinued, version FROM products WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    let (stock, discontinued, version) = row.ok_or(ApiError::NotFound("product"))?;
    Ok((
        Product {
            id,
            stock,
            discontinued,
        },
        version,
    ))
}

/// Writes the product events' effects on the write model and bumps the version.
async fn persist(
    conn: &mut PgConnection,
    id: Uuid,
    events: &[Event],
    version: i64,
) -> Result<(), sqlx::Error> {
    for event in events {
        match event {
            Event::ProductUpdated {
                name,
                description,
                price_cents,
                currency,
                category_id,
                image,
                attributes,
                ..
            } => {
                sqlx::query(
                    "UPDATE products SET name = COALESCE($2, name), description = COALESCE($3, description),
                         price_cents = COALESCE($4, price_cents), currency = COALESCE($5, currency),
                         category_id = COALESCE($6, category_id), image = COALESCE($7, image),
                         attributes = COALESCE($8, attributes)
                     WHERE id = $1",
                )
                .bind(id)
                .bind(name)
                .bind(description)
                .bind(price_cents)
                .bind(currency)
                .bind(category_id)
                .bind(image)
                .bind(attributes)
                .execute(&mut *conn)
                .await?;
            }
            Event::StockAdjusted { stock, .. } => {
                sqlx::query("UPDATE products SET stock = $2 WHERE id = $1")
                    .bind(id)
                    .bind(stock)
                    .execute(&mut *conn)
                    .await?;
            }
            Event::ProductDiscontinued { .. } => {
                sqlx::query("UPDATE products SET discontinued = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
            _ => {}
        }
    }
    sqlx::query("UPDATE products SET version = $2 WHERE id = $1")
        .bind(id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(())
}

/// The shared path of every command on an existing product.
async fn execute(
    state: &AppState,
    id: Uuid,
    headers: &CommandHeaders,
    hash: &str,
    command: Command,
) -> Result<CommandOk, ApiError> {
    let idem = Idempotency::new("admin", headers.idempotency_key.clone(), hash);
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    if let Command::Update(changes) = &command {
        if let Some(category) = changes.category_id {
            category_exists(&mut tx, category).await?;
        }
    }
    let (current, version) = lock(&mut tx, id).await?;
    check_version(headers.if_match, version)?;
    let events = product::decide(&current, command)?;
    let after = events.iter().fold(current, product::apply);
    let stream = StreamId::product(id);
    let append = StreamAppend::new(stream.clone(), version, events);
    persist(&mut tx, id, &append.events, append.version_after()).await?;
    event_store::append(&mut tx, std::slice::from_ref(&append), &admin_meta(headers)).await?;
    let answer = CommandOk::new(StatusCode::OK, id, &stream, append.version_after())
        .with("stock", after.stock)
        .with("discontinued", after.discontinued);
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
}

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
    execute(
        &state,
        id,
        &headers,
        &body.hash,
        Command::Update(Box::new(changes)),
    )
    .await
}

#[tracing::instrument(skip_all, fields(product_id = %id))]
pub async fn discontinue(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let hash = headers.bodyless_hash.clone();
    execute(&state, id, &headers, &hash, Command::Discontinue).await
}

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
    execute(
        &state,
        id,
        &headers,
        &body.hash,
        Command::AdjustStock { delta },
    )
    .await
}
