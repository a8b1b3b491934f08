//! The session's cart (stream `cart-{session_id}`): its row lock, the product look-up its
//! commands need, and its write model (`carts`, `cart_lines`). The decider is in [`decide`].

pub mod decide;

use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

pub use decide::{Cart, Command, ProductInfo, MAX_QUANTITY};

use crate::aggregates::DomainError;
use crate::error::ApiError;
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// The cart commands.
pub struct CartAggregate;

/// What a cart route asks for.
#[derive(Debug, Clone)]
pub enum Request {
    /// `max`: the configured most units per line.
    Add {
        product_id: Uuid,
        quantity: i32,
        max: i32,
    },
    /// 0 removes the line.
    Set {
        product_id: Uuid,
        quantity: i32,
        max: i32,
    },
    Remove {
        product_id: Uuid,
    },
    Clear,
}

impl Aggregate for CartAggregate {
    type Request = Request;
    type State = Cart;
    type Command = Command;

    async fn load(
        conn: &mut PgConnection,
        caller: &Caller,
        _: &Request,
    ) -> Result<Loaded<Cart>, ApiError> {
        let session_id = caller.session()?;
        let (cart, version) = lock(conn, session_id).await?;
        Ok(Loaded {
            state: cart,
            stream: StreamId::cart(session_id),
            version: Some(version),
        })
    }

    async fn command(
        conn: &mut PgConnection,
        _: &Cart,
        request: Request,
        _: &mut Versions,
    ) -> Result<Command, ApiError> {
        Ok(match request {
            Request::Add {
                product_id,
                quantity,
                max,
            } => Command::Add {
                product: product(conn, product_id, true).await?,
                quantity,
                max,
            },
            Request::Set {
                product_id,
                quantity,
                max,
            } => Command::Set {
                product: product(conn, product_id, false).await?,
                quantity,
                max,
            },
            Request::Remove { product_id } => Command::Remove {
                product_id: product(conn, product_id, false).await?.id,
            },
            Request::Clear => Command::Clear,
        })
    }

    fn decide(cart: &Cart, command: Command) -> Result<Vec<Event>, DomainError> {
        decide::decide(cart, command)
    }

    fn apply(cart: Cart, event: &Event) -> Cart {
        decide::apply(cart, event)
    }

    fn answer(after: &Cart, appends: &[StreamAppend]) -> Result<CommandOk, ApiError> {
        let stream = StreamId::cart(after.session_id);
        let version = version_after(appends, &stream).unwrap_or(0);
        let items: Vec<_> = after
            .lines
            .iter()
            .map(|(p, q)| json!({ "product_id": p, "quantity": q }))
            .collect();
        Ok(CommandOk::new(
            axum::http::StatusCode::OK,
            after.session_id,
            &stream,
            version,
        )
        .with("items", items))
    }
}

/// Creates the cart row on first use, locks it and reads its lines and version.
pub async fn lock(conn: &mut PgConnection, session_id: Uuid) -> Result<(Cart, i64), sqlx::Error> {
    sqlx::query("INSERT INTO carts (session_id, version) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(session_id)
        .execute(&mut *conn)
        .await?;
    let version: i64 =
        sqlx::query_scalar("SELECT version FROM carts WHERE session_id = $1 FOR UPDATE")
            .bind(session_id)
            .fetch_one(&mut *conn)
            .await?;
    let lines: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT product_id, quantity FROM cart_lines WHERE session_id = $1 ORDER BY product_id",
    )
    .bind(session_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok((
        Cart {
            session_id,
            lines: lines.into_iter().collect(),
        },
        version,
    ))
}

/// A product named by a command (`in_body`: its id came from the body, not the path).
async fn product(
    conn: &mut PgConnection,
    id: Uuid,
    in_body: bool,
) -> Result<ProductInfo, ApiError> {
    let discontinued: Option<bool> =
        sqlx::query_scalar("SELECT discontinued FROM products WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    match discontinued {
        Some(discontinued) => Ok(ProductInfo { id, discontinued }),
        None if in_body => Err(ApiError::field("product_id", "no such product")),
        None => Err(ApiError::NotFound("product")),
    }
}

/// Writes cart events to `cart_lines` and each cart's version to `carts` (the row exists:
/// [`lock`] made it).
pub async fn persist(conn: &mut PgConnection, appends: &[&StreamAppend]) -> Result<(), ApiError> {
    for append in appends {
        let session_id = append.stream.id();
        for event in &append.events {
            match event {
                Event::CartItemAdded {
                    product_id,
                    quantity,
                    ..
                }
                | Event::CartItemQuantitySet {
                    product_id,
                    quantity,
                    ..
                } => {
                    sqlx::query(
                        "INSERT INTO cart_lines (session_id, product_id, quantity) VALUES ($1, $2, $3)
                         ON CONFLICT (session_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity",
                    )
                    .bind(session_id)
                    .bind(product_id)
                    .bind(quantity)
                    .execute(&mut *conn)
                    .await?;
                }
                Event::CartItemRemoved { product_id, .. } => {
                    sqlx::query("DELETE FROM cart_lines WHERE session_id = $1 AND product_id = $2")
                        .bind(session_id)
                        .bind(product_id)
                        .execute(&mut *conn)
                        .await?;
                }
                Event::CartCheckedOut { .. } => {
                    sqlx::query("DELETE FROM cart_lines WHERE session_id = $1")
                        .bind(session_id)
                        .execute(&mut *conn)
                        .await?;
                }
                _ => {}
            }
        }
        sqlx::query("UPDATE carts SET version = $2 WHERE session_id = $1")
            .bind(session_id)
            .bind(append.version_after())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
