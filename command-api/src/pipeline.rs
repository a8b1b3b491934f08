//! The one command pipeline: every command that records events runs through [`execute`].
//!
//! In one PostgreSQL transaction, its lock waits and statements bounded ([`limit`]):
//! claim the `Idempotency-Key` (a retry gets the stored
//! answer) → [`Aggregate::load`] locks the aggregate → `If-Match` is checked against its
//! stream version → [`Aggregate::command`] looks up (and locks) what the decider needs →
//! the pure [`Aggregate::decide`] → the events, grouped by stream, update the write model
//! ([`crate::aggregates::persist`]) and are appended with their outbox rows
//! ([`event_store::append`]) → [`Aggregate::answer`] → the answer is stored for the key →
//! commit. Any error rolls everything back and stores nothing.
//!
//! An aggregate module implements [`Aggregate`]; a route parses its input into the
//! aggregate's `Request` and calls [`execute`]. Work that must commit together with a
//! command (the deadline loop deletes its timer with the expiry) calls [`execute_in`]
//! inside its own transaction, bounded with [`limit`] too.

use std::collections::BTreeMap;
use std::future::Future;

use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::{Event, StreamId};

use crate::aggregates::{self, DomainError};
use crate::error::ApiError;
use crate::extract::{check_version, CommandHeaders};
use crate::idempotency::{self, Idempotency};
use crate::response::CommandOk;
use crate::AppState;
use vitrine_runtime::event_store::{self, StreamAppend};

/// Who sends a command: the admin, a shopper's session, or the system itself (the
/// payment provider's verified callback, the deadline loop), named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Admin,
    Session(Uuid),
    System(&'static str),
}

impl Caller {
    /// `actor` in the events' metadata.
    pub fn actor(&self) -> String {
        match self {
            Caller::Session(id) => format!("session:{id}"),
            Caller::Admin => "admin".into(),
            Caller::System(name) => format!("system:{name}"),
        }
    }
    /// The scope of its `Idempotency-Key`s.
    pub fn scope(&self) -> String {
        match self {
            Caller::Session(id) => id.to_string(),
            Caller::Admin => "admin".into(),
            Caller::System(name) => format!("system:{name}"),
        }
    }
    /// The session, for commands only a shopper sends.
    pub fn session(&self) -> Result<Uuid, ApiError> {
        match self {
            Caller::Session(id) => Ok(*id),
            Caller::Admin | Caller::System(_) => {
                Err(ApiError::Unauthorized("a session token is required"))
            }
        }
    }
}

/// What every command carries besides its request: caller, headers, request hash.
pub struct Context {
    pub caller: Caller,
    pub headers: CommandHeaders,
    /// The request's hash, compared on an `Idempotency-Key` replay.
    pub hash: String,
}

impl Context {
    pub fn new(caller: Caller, headers: CommandHeaders, hash: String) -> Self {
        Self {
            caller,
            headers,
            hash,
        }
    }
    /// For a command without a body (the hash covers method and path).
    pub fn bodyless(caller: Caller, headers: CommandHeaders) -> Self {
        let hash = headers.bodyless_hash.clone();
        Self::new(caller, headers, hash)
    }
    /// For a command the system sends by itself (no request, no `Idempotency-Key`).
    pub fn system(name: &'static str) -> Self {
        let headers = CommandHeaders {
            correlation_id: Uuid::now_v7(),
            idempotency_key: None,
            if_match: None,
            bodyless_hash: String::new(),
        };
        Self::new(Caller::System(name), headers, String::new())
    }
}

/// An aggregate as [`Aggregate::load`] found it, locked.
pub struct Loaded<S> {
    pub state: S,
    /// The command's own stream: `If-Match` is checked against it and its events are
    /// applied to `state` for the answer.
    pub stream: StreamId,
    /// Its current version; `None` for a stream the command creates (no `If-Match`; it
    /// starts at 0).
    pub version: Option<i64>,
}

/// The current version of every other stream a command locked (stream → version).
pub type Versions = BTreeMap<StreamId, i64>;

/// One kind of command: its I/O around a pure decider.
pub trait Aggregate {
    /// What a route hands over: parsed, validated input.
    type Request: Send;
    /// What the decider sees.
    type State: Send + Sync;
    /// The decider's input, `Request` plus what was looked up.
    type Command: Send;

    /// Locks the aggregate's rows and reads its state and stream version (404 when missing).
    fn load(
        conn: &mut PgConnection,
        caller: &Caller,
        request: &Self::Request,
    ) -> impl Future<Output = Result<Loaded<Self::State>, ApiError>> + Send;

    /// Looks up what the decider needs beyond the state, after the version check. Other
    /// streams it locks (in id order) go into `versions`.
    fn command(
        conn: &mut PgConnection,
        state: &Self::State,
        request: Self::Request,
        versions: &mut Versions,
    ) -> impl Future<Output = Result<Self::Command, ApiError>> + Send;

    /// The pure decider.
    fn decide(state: &Self::State, command: Self::Command) -> Result<Vec<Event>, DomainError>;

    /// Folds one of the own stream's events into the state.
    fn apply(state: Self::State, event: &Event) -> Self::State;

    /// The success answer, from the state after the events and what was appended.
    fn answer(after: &Self::State, appends: &[StreamAppend]) -> Result<CommandOk, ApiError>;

    /// Called once the transaction committed (metrics).
    fn committed(_appends: &[StreamAppend]) {}
}

/// Runs one command of aggregate `A` (see the module doc for the steps).
/// Its span names the correlation id its events carry (the request id when the client's
/// was a UUID), the id the projector's lines of these events name too.
#[tracing::instrument(skip_all, fields(
    aggregate = std::any::type_name::<A>(),
    correlation_id = %context.headers.correlation_id,
))]
pub async fn execute<A: Aggregate>(
    app: &AppState,
    context: Context,
    request: A::Request,
) -> Result<CommandOk, ApiError> {
    let mut tx = begin(app).await?;
    let (answer, appends) = execute_in::<A>(&mut tx, context, request).await?;
    tx.commit().await?;
    if let Some(appends) = appends {
        after_commit::<A>(app, &appends);
    }
    Ok(answer)
}

/// What follows a commit of [`execute_in`]'s appends: the relay is woken (it publishes
/// them at once instead of at its next look), then [`Aggregate::committed`].
pub fn after_commit<A: Aggregate>(app: &AppState, appends: &[StreamAppend]) {
    if !appends.is_empty() {
        app.outbox.committed();
    }
    A::committed(appends);
}

/// The steps of [`execute`] inside the caller's transaction, which commits (or not) and
/// then calls [`Aggregate::committed`] with the appends. `None` appends: an
/// `Idempotency-Key` replay, nothing written.
pub async fn execute_in<A: Aggregate>(
    conn: &mut PgConnection,
    context: Context,
    request: A::Request,
) -> Result<(CommandOk, Option<Vec<StreamAppend>>), ApiError> {
    let Context {
        caller,
        headers,
        hash,
    } = context;
    let idem = Idempotency::new(caller.scope(), headers.idempotency_key.clone(), &hash);
    if let Some(replay) = idempotency::begin(&idem, conn).await? {
        return Ok((replay, None));
    }
    let loaded = A::load(conn, &caller, &request).await?;
    if let Some(version) = loaded.version {
        check_version(headers.if_match, version)?;
    }
    let mut versions = Versions::new();
    versions.insert(loaded.stream.clone(), loaded.version.unwrap_or(0));
    let command = A::command(conn, &loaded.state, request, &mut versions).await?;
    let events = A::decide(&loaded.state, command)?;
    let appends = by_stream(events, &versions);
    aggregates::persist(conn, &appends).await?;
    event_store::append(conn, &appends, &headers.meta(caller.actor())).await?;
    let after = appends
        .iter()
        .filter(|a| a.stream == loaded.stream)
        .flat_map(|a| &a.events)
        .fold(loaded.state, A::apply);
    let answer = A::answer(&after, &appends)?;
    idempotency::finish(&idem, conn, &answer).await?;
    Ok((answer, Some(appends)))
}

/// Begins a command's transaction with its lock waits, statements and idle pauses
/// bounded (`SET LOCAL`), all in the one round trip of `BEGIN` (a simple query carries
/// several statements): past a limit PostgreSQL cancels, the transaction rolls back and
/// the client gets 503 with `Retry-After` ([`ApiError::Busy`]) instead of a pool tied up.
pub async fn begin(app: &AppState) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, ApiError> {
    let limits = &app.config.limits;
    // integers only: nothing from outside reaches this text
    let statement = format!(
        "BEGIN; SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}; \
         SET LOCAL idle_in_transaction_session_timeout = {}",
        limits.db_lock_timeout_ms,
        limits.db_statement_timeout_ms,
        limits.db_idle_in_transaction_timeout_ms
    );
    Ok(app.pool.begin_with(statement).await?)
}

/// Groups events by their stream, streams in order of first appearance (positions follow
/// that order), each continuing from its version in `versions` (0: a new stream).
pub fn by_stream(events: Vec<Event>, versions: &Versions) -> Vec<StreamAppend> {
    let mut appends: Vec<StreamAppend> = Vec::new();
    for event in events {
        let stream = event.stream();
        match appends.iter_mut().find(|a| a.stream == stream) {
            Some(append) => append.events.push(event),
            None => {
                let version = versions.get(&stream).copied().unwrap_or(0);
                appends.push(StreamAppend::new(stream, version, vec![event]));
            }
        }
    }
    appends
}

/// The version `stream` reached, if the command appended to it.
pub fn version_after(appends: &[StreamAppend], stream: &StreamId) -> Option<i64> {
    appends
        .iter()
        .find(|a| &a.stream == stream)
        .map(StreamAppend::version_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_grouped_by_stream_in_order_of_first_appearance() {
        let (order_id, a, b) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let released = |product_id| Event::StockReleased {
            product_id,
            order_id,
            quantity: 1,
            stock: 1,
        };
        let events = vec![Event::OrderCancelled { order_id }, released(a), released(b)];
        let versions: Versions = [(StreamId::order(order_id), 2), (StreamId::product(a), 7)].into();
        let appends = by_stream(events, &versions);
        let got: Vec<(StreamId, i64, usize)> = appends
            .iter()
            .map(|a| (a.stream.clone(), a.version_before, a.events.len()))
            .collect();
        assert_eq!(
            got,
            vec![
                (StreamId::order(order_id), 2, 1),
                (StreamId::product(a), 7, 1),
                (StreamId::product(b), 0, 1),
            ]
        );
        assert_eq!(version_after(&appends, &StreamId::order(order_id)), Some(3));
    }
}
