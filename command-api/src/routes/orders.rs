//! Order transitions: pay and cancel (the owning session), ship (admin).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

use crate::auth::{Admin, Shopper};
use crate::domain::order::{self, Command, Order, Status};
use crate::error::ApiError;
use crate::event_store::{self, StreamAppend};
use crate::extract::{check_version, CommandHeaders, JsonBody, PathId};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::validate::Problems;
use crate::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub payment_reference: String,
}

/// Who may move the order: its session, or the admin.
enum Caller {
    Session(Uuid),
    Admin,
}

impl Caller {
    fn actor(&self) -> String {
        match self {
            Caller::Session(id) => format!("session:{id}"),
            Caller::Admin => "admin".into(),
        }
    }
    fn scope(&self) -> String {
        match self {
            Caller::Session(id) => id.to_string(),
            Caller::Admin => "admin".into(),
        }
    }
}

/// Locks the order; another session's order is not found.
async fn lock(
    conn: &mut PgConnection,
    id: Uuid,
    caller: &Caller,
) -> Result<(Order, i64), ApiError> {
    let row: Option<(Uuid, String, i64)> =
        sqlx::query_as("SELECT session_id, status, version FROM orders WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let (owner, status, version) = row.ok_or(ApiError::NotFound("order"))?;
    if matches!(caller, Caller::Session(s) if *s != owner) {
        return Err(ApiError::NotFound("order"));
    }
    let lines: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT product_id, quantity FROM order_lines WHERE order_id = $1")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let order = Order {
        id,
        status: Status::parse(&status),
        lines: lines.into_iter().collect(),
    };
    Ok((order, version))
}

async fn execute(
    state: &AppState,
    id: Uuid,
    caller: Caller,
    headers: &CommandHeaders,
    hash: &str,
    command: Command,
) -> Result<CommandOk, ApiError> {
    let idem = Idempotency::new(caller.scope(), headers.idempotency_key.clone(), hash);
    let mut tx = state.pool.begin().await?;
    if let Some(replay) = idempotency::begin(&idem, &mut tx).await? {
        return Ok(replay);
    }
    let (current, version) = lock(&mut tx, id, &caller).await?;
    check_version(headers.if_match, version)?;
    let mut command = command;
    let mut product_versions = BTreeMap::new();
    if let Command::Cancel { stock } = &mut command {
        // Only a legal cancel touches products; lock them in id order like checkout does.
        if matches!(current.status, Status::Placed | Status::Paid) {
            let ids: Vec<Uuid> = current.lines.keys().copied().collect();
            let rows: Vec<(Uuid, i32, i64)> = sqlx::query_as(
                "SELECT id, stock, version FROM products WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            )
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
            for (pid, level, v) in rows {
                stock.insert(pid, level);
                product_versions.insert(pid, v);
            }
        }
    }
    let events = order::decide(&current, command)?;
    let mut order_events = Vec::new();
    let mut appends = Vec::new();
    let (mut released_ids, mut released_qty) = (Vec::new(), Vec::new());
    let mut payment = None;
    for event in events {
        match &event {
            Event::StockReleased {
                product_id,
                quantity,
                ..
            } => {
                released_ids.push(*product_id);
                released_qty.push(*quantity);
                let v = product_versions.get(product_id).copied().unwrap_or(0);
                appends.push(StreamAppend::new(
                    StreamId::product(*product_id),
                    v,
                    vec![event],
                ));
            }
            Event::OrderPaid {
                payment_reference, ..
            } => {
                payment = Some(payment_reference.clone());
                order_events.push(event);
            }
            _ => order_events.push(event),
        }
    }
    let after = order_events.iter().fold(current, order::apply);
    let stream = StreamId::order(id);
    let order_append = StreamAppend::new(stream.clone(), version, order_events);
    sqlx::query(
        "UPDATE orders SET status = $2, version = $3, payment_reference = COALESCE($4, payment_reference) WHERE id = $1",
    )
    .bind(id)
    .bind(after.status.as_str())
    .bind(order_append.version_after())
    .bind(payment)
    .execute(&mut *tx)
    .await?;
    if !released_ids.is_empty() {
        sqlx::query(
            "UPDATE products p SET stock = p.stock + u.quantity, version = p.version + 1
             FROM UNNEST($1::uuid[], $2::int[]) AS u(id, quantity) WHERE p.id = u.id",
        )
        .bind(&released_ids)
        .bind(&released_qty)
        .execute(&mut *tx)
        .await?;
    }
    let new_version = order_append.version_after();
    appends.insert(0, order_append);
    event_store::append(&mut tx, &appends, &headers.meta(caller.actor())).await?;
    let answer = CommandOk::new(StatusCode::OK, id, &stream, new_version)
        .with("status", after.status.as_str());
    idempotency::finish(&idem, &mut tx, &answer).await?;
    tx.commit().await?;
    Ok(answer)
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
    let command = Command::Pay { payment_reference };
    execute(
        &state,
        id,
        Caller::Session(session_id),
        &headers,
        &body.hash,
        command,
    )
    .await
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn cancel(
    State(state): State<AppState>,
    Shopper(session_id): Shopper,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let hash = headers.bodyless_hash.clone();
    let command = Command::Cancel {
        stock: BTreeMap::new(),
    };
    execute(
        &state,
        id,
        Caller::Session(session_id),
        &headers,
        &hash,
        command,
    )
    .await
}

#[tracing::instrument(skip_all, fields(order_id = %id))]
pub async fn ship(
    State(state): State<AppState>,
    _: Admin,
    PathId(id): PathId,
    headers: CommandHeaders,
) -> Result<CommandOk, ApiError> {
    let hash = headers.bodyless_hash.clone();
    execute(&state, id, Caller::Admin, &headers, &hash, Command::Ship).await
}
