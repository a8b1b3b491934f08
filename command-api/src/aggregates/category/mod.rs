//! Categories (stream `category-{id}`): the parent check, the row lock and the write model
//! (`categories`). The decider is in [`decide`].

pub mod decide;

use axum::http::StatusCode;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

pub use decide::{Category, Command};

use crate::aggregates::DomainError;
use crate::error::{ApiError, FieldProblem};
use crate::pipeline::{version_after, Aggregate, Caller, Loaded, Versions};
use crate::response::CommandOk;
use vitrine_runtime::event_store::StreamAppend;

/// The admin's category commands.
pub struct CategoryAggregate;

/// What a category route asks for.
#[derive(Debug, Clone)]
pub enum Request {
    Create {
        name: String,
        slug: String,
        parent_id: Option<Uuid>,
    },
    Rename {
        id: Uuid,
        name: String,
    },
}

impl Aggregate for CategoryAggregate {
    type Request = Request;
    type State = Category;
    type Command = Command;

    async fn load(
        conn: &mut PgConnection,
        _: &Caller,
        request: &Request,
    ) -> Result<Loaded<Category>, ApiError> {
        match request {
            Request::Create { parent_id, .. } => {
                if let Some(parent) = parent_id {
                    let found: Option<(Uuid,)> =
                        sqlx::query_as("SELECT id FROM categories WHERE id = $1")
                            .bind(parent)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if found.is_none() {
                        return Err(ApiError::field("parent_id", "no such category"));
                    }
                }
                let id = Uuid::now_v7();
                Ok(Loaded {
                    state: Category { id, exists: false },
                    stream: StreamId::category(id),
                    version: None,
                })
            }
            Request::Rename { id, .. } => {
                let version: i64 =
                    sqlx::query_scalar("SELECT version FROM categories WHERE id = $1 FOR UPDATE")
                        .bind(id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .ok_or(ApiError::NotFound("category"))?;
                Ok(Loaded {
                    state: Category {
                        id: *id,
                        exists: true,
                    },
                    stream: StreamId::category(*id),
                    version: Some(version),
                })
            }
        }
    }

    async fn command(
        _: &mut PgConnection,
        _: &Category,
        request: Request,
        _: &mut Versions,
    ) -> Result<Command, ApiError> {
        Ok(match request {
            Request::Create {
                name,
                slug,
                parent_id,
            } => Command::Create {
                name,
                slug,
                parent_id,
            },
            Request::Rename { name, .. } => Command::Rename { name },
        })
    }

    fn decide(category: &Category, command: Command) -> Result<Vec<Event>, DomainError> {
        decide::decide(category, command)
    }

    fn apply(category: Category, event: &Event) -> Category {
        decide::apply(category, event)
    }

    /// 201 for a creation, 200 for a rename.
    fn answer(after: &Category, appends: &[StreamAppend]) -> Result<CommandOk, ApiError> {
        let stream = StreamId::category(after.id);
        let created = appends
            .iter()
            .flat_map(|a| &a.events)
            .any(|e| matches!(e, Event::CategoryCreated { .. }));
        let status = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        let version = version_after(appends, &stream).unwrap_or(0);
        Ok(CommandOk::new(status, after.id, &stream, version))
    }
}

/// Writes category events to `categories`; a taken slug is a conflict.
pub async fn persist(conn: &mut PgConnection, appends: &[&StreamAppend]) -> Result<(), ApiError> {
    for append in appends {
        let id = append.stream.id();
        for event in &append.events {
            match event {
                Event::CategoryCreated {
                    name,
                    slug,
                    parent_id,
                    ..
                } => {
                    let inserted = sqlx::query(
                        "INSERT INTO categories (id, name, slug, parent_id, version) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (slug) DO NOTHING",
                    )
                    .bind(id)
                    .bind(name)
                    .bind(slug)
                    .bind(parent_id)
                    .bind(append.version_after())
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(ApiError::conflict_on(
                            format!("a category with slug {slug:?} exists"),
                            vec![FieldProblem::new("slug", "already taken")],
                        ));
                    }
                }
                Event::CategoryRenamed { name, .. } => {
                    sqlx::query("UPDATE categories SET name = $2, version = $3 WHERE id = $1")
                        .bind(id)
                        .bind(name)
                        .bind(append.version_after())
                        .execute(&mut *conn)
                        .await?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}
