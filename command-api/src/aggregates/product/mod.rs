//! Products (stream `product-{id}`): the row lock, the category check, and the write model
//! (`products`) for every product event, including checkout's reservations and a
//! cancel's releases. The decider is in [`decide`].

pub mod decide;

use axum::http::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

pub use decide::{Changes, Command, NewProduct, Product, MAX_STOCK};

use crate::aggregates::DomainError;
use crate::error::{ApiError, FieldProblem};
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// The admin's product commands.
pub struct ProductAggregate;

/// What a product route asks for.
#[derive(Debug, Clone)]
pub enum Request {
    Create(Box<NewProduct>),
    /// A command on the existing product `id` (not `Create`).
    Change {
        id: Uuid,
        command: Command,
    },
}

impl Aggregate for ProductAggregate {
    type Request = Request;
    type State = Product;
    type Command = Command;

    async fn load(
        conn: &mut PgConnection,
        _: &Caller,
        request: &Request,
    ) -> Result<Loaded<Product>, ApiError> {
        match request {
            Request::Create(new) => {
                category_exists(conn, new.category_id).await?;
                let id = Uuid::now_v7();
                Ok(Loaded {
                    state: Product {
                        id,
                        ..Product::default()
                    },
                    stream: StreamId::product(id),
                    version: None,
                })
            }
            Request::Change { id, command } => {
                if let Command::Update(changes) = command {
                    if let Some(category) = changes.category_id {
                        category_exists(conn, category).await?;
                    }
                }
                let (product, version) = lock(conn, *id).await?;
                Ok(Loaded {
                    state: product,
                    stream: StreamId::product(*id),
                    version: Some(version),
                })
            }
        }
    }

    async fn command(
        _: &mut PgConnection,
        _: &Product,
        request: Request,
        _: &mut Versions,
    ) -> Result<Command, ApiError> {
        Ok(match request {
            Request::Create(new) => Command::Create(new),
            Request::Change { command, .. } => command,
        })
    }

    fn decide(product: &Product, command: Command) -> Result<Vec<Event>, DomainError> {
        decide::decide(product, command)
    }

    fn apply(product: Product, event: &Event) -> Product {
        decide::apply(product, event)
    }

    /// A creation: 201 with the slug; a change: the stock and whether discontinued.
    fn answer(after: &Product, appends: &[StreamAppend]) -> Result<CommandOk, ApiError> {
        let stream = StreamId::product(after.id);
        let version = version_after(appends, &stream).unwrap_or(0);
        let created = appends
            .iter()
            .flat_map(|a| &a.events)
            .find_map(|e| match e {
                Event::ProductCreated { slug, .. } => Some(slug.clone()),
                _ => None,
            });
        Ok(match created {
            Some(slug) => {
                CommandOk::new(StatusCode::CREATED, after.id, &stream, version).with("slug", slug)
            }
            None => CommandOk::new(StatusCode::OK, after.id, &stream, version)
                .with("stock", after.stock)
                .with("discontinued", after.discontinued),
        })
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

/// Writes product events to `products`. Stock moves as a delta (reserved −, released +,
/// adjusted ±) so that `CHECK (stock >= 0)` stays the backstop; the stock and version of
/// every existing product go in one statement.
pub async fn persist(conn: &mut PgConnection, appends: &[&StreamAppend]) -> Result<(), ApiError> {
    let (mut ids, mut deltas, mut versions) = (Vec::new(), Vec::new(), Vec::new());
    for append in appends {
        let id = append.stream.id();
        let mut delta = 0;
        let mut created = false;
        for event in &append.events {
            match event {
                Event::ProductCreated { .. } => {
                    insert(conn, event, append.version_after()).await?;
                    created = true;
                }
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
                Event::ProductDiscontinued { .. } => {
                    sqlx::query("UPDATE products SET discontinued = TRUE WHERE id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                Event::StockAdjusted { delta: d, .. } => delta += d,
                Event::StockReserved { quantity, .. } => delta -= quantity,
                Event::StockReleased { quantity, .. } => delta += quantity,
                _ => {}
            }
        }
        if !created {
            ids.push(id);
            deltas.push(delta);
            versions.push(append.version_after());
        }
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE products p SET stock = p.stock + u.delta, version = u.version
             FROM UNNEST($1::uuid[], $2::int[], $3::bigint[]) AS u(id, delta, version) WHERE p.id = u.id",
        )
        .bind(&ids)
        .bind(&deltas)
        .bind(&versions)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Inserts a created product; a taken sku is a conflict.
async fn insert(conn: &mut PgConnection, event: &Event, version: i64) -> Result<(), ApiError> {
    let Event::ProductCreated {
        product_id,
        sku,
        slug,
        name,
        description,
        price_cents,
        currency,
        category_id,
        stock,
        image,
        attributes,
    } = event
    else {
        return Ok(());
    };
    let inserted = sqlx::query(
        "INSERT INTO products (id, sku, slug, name, description, price_cents, currency, category_id, stock, image, attributes, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (sku) DO NOTHING",
    )
    .bind(product_id)
    .bind(sku)
    .bind(slug)
    .bind(name)
    .bind(description)
    .bind(price_cents)
    .bind(currency)
    .bind(category_id)
    .bind(stock)
    .bind(image)
    .bind(attributes)
    .bind(version)
    .execute(conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Err(ApiError::conflict_on(
            format!("a product with sku {sku:?} exists"),
            vec![FieldProblem::new("sku", "already taken")],
        ));
    }
    Ok(())
}
