//! The event store (`events`): the one owner of its column list and of the row →
//! [`RecordedEvent`] mapping. Every program and tool that writes or reads events goes
//! through here (migrations excepted).
//!
//! - Writing: [`append`] (command-api: one multi-row statement that also writes the
//!   `outbox` rows, inside the command's transaction), and [`insert`] /
//!   [`insert_returning`] for rows built by hand ([`EventRows`]: generated histories,
//!   tests, benchmarks, old schema versions on purpose).
//! - Reading: a stream ([`read_stream`]), a range of a stream ([`read_stream_range`],
//!   the projector's gap fill), pages by position ([`read_page`], a rebuild's history),
//!   by snapshot ([`read_visible_in`], [`read_committed_between`]), the relay's next
//!   batch ([`read_outbox`]), everything ([`read_all`]), and the whole history as two
//!   streams of rows for a fold in bounded memory ([`stream_catalog`], then
//!   [`stream_by_session`]).

use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt};
use serde_json::Value;
use sqlx::postgres::PgArguments;
use sqlx::Postgres;
use sqlx::{Arguments, PgConnection, PgExecutor};
use vitrine_contract::{Event, Metadata, RecordedEvent, StreamId};

/// The columns an append writes.
const INSERT_COLUMNS: &str =
    "stream_id, stream_type, version, event_type, schema_version, payload, metadata";

/// The columns of a [`RecordedEvent`], in its field order (a macro, so that static
/// statements can be spelled with `concat!`).
macro_rules! select_columns {
    () => {
        "position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at"
    };
}
const SELECT_COLUMNS: &str = select_columns!();

/// Only the events visible in the `pg_snapshot` `$1` (text form), or all when it is NULL.
macro_rules! visible {
    () => {
        "($1::text IS NULL OR pg_visible_in_snapshot(tx_id, $1::pg_snapshot))"
    };
}

/// One `events` row as selected; [`RecordedEvent`] (in `contract`, which knows no SQL)
/// is made from it here only.
#[derive(sqlx::FromRow)]
struct Row {
    position: i64,
    stream_id: String,
    version: i64,
    event_type: String,
    schema_version: i32,
    payload: Value,
    #[sqlx(json)]
    metadata: Metadata,
    recorded_at: DateTime<Utc>,
}

impl From<Row> for RecordedEvent {
    fn from(r: Row) -> Self {
        RecordedEvent {
            position: r.position,
            stream_id: r.stream_id,
            version: r.version,
            event_type: r.event_type,
            schema_version: r.schema_version,
            payload: r.payload,
            metadata: r.metadata,
            recorded_at: r.recorded_at,
        }
    }
}

/// A row with the shopper session its stream belongs to.
#[derive(sqlx::FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    row: Row,
    session: String,
}

fn recorded(rows: Vec<Row>) -> Vec<RecordedEvent> {
    rows.into_iter().map(RecordedEvent::from).collect()
}

/// `SELECT` of every column of `events`, then `rest` (a filter and an order).
fn select(rest: &str) -> String {
    format!("SELECT {SELECT_COLUMNS} FROM events {rest}")
}

// ---------------------------------------------------------------------------------------
// Writing

/// The events of one stream, appended after `version_before`.
pub struct StreamAppend {
    pub stream: StreamId,
    pub version_before: i64,
    pub events: Vec<Event>,
}

impl StreamAppend {
    pub fn new(stream: StreamId, version_before: i64, events: Vec<Event>) -> Self {
        Self {
            stream,
            version_before,
            events,
        }
    }
    /// The stream's version once appended.
    pub fn version_after(&self) -> i64 {
        self.version_before + self.events.len() as i64
    }
}

/// Rows for `events`, column by column, all with one metadata; inserted in the order
/// they were pushed (positions follow it).
#[derive(Debug, Clone)]
pub struct EventRows {
    stream_ids: Vec<String>,
    stream_types: Vec<String>,
    versions: Vec<i64>,
    event_types: Vec<String>,
    schema_versions: Vec<i32>,
    payloads: Vec<Value>,
    metadata: Value,
}

impl EventRows {
    pub fn new(meta: &Metadata) -> Self {
        Self {
            stream_ids: Vec::new(),
            stream_types: Vec::new(),
            versions: Vec::new(),
            event_types: Vec::new(),
            schema_versions: Vec::new(),
            payloads: Vec::new(),
            metadata: serde_json::to_value(meta).unwrap_or_default(),
        }
    }

    /// `event` as `version` of its own stream, in its current shape.
    pub fn push(&mut self, version: i64, event: &Event) {
        let stream = event.stream();
        let (event_type, schema_version, payload) = event.to_parts();
        self.push_raw(
            &stream.to_string(),
            stream.kind().as_str(),
            version,
            event_type,
            schema_version,
            payload,
        );
    }

    /// A row as given: any stream, type and schema version (older shapes on purpose).
    pub fn push_raw(
        &mut self,
        stream_id: &str,
        stream_type: &str,
        version: i64,
        event_type: &str,
        schema_version: i32,
        payload: Value,
    ) {
        self.stream_ids.push(stream_id.to_owned());
        self.stream_types.push(stream_type.to_owned());
        self.versions.push(version);
        self.event_types.push(event_type.to_owned());
        self.schema_versions.push(schema_version);
        self.payloads.push(payload);
    }

    pub fn len(&self) -> usize {
        self.stream_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stream_ids.is_empty()
    }

    /// Forgets the rows (after an insert), keeping the metadata.
    pub fn clear(&mut self) {
        self.stream_ids.clear();
        self.stream_types.clear();
        self.versions.clear();
        self.event_types.clear();
        self.schema_versions.clear();
        self.payloads.clear();
    }

    /// The rows as the parameters of [`insert_statement`].
    fn arguments(&self) -> Result<PgArguments, sqlx::Error> {
        let mut args = PgArguments::default();
        let added = (|| {
            args.add(&self.stream_ids)?;
            args.add(&self.stream_types)?;
            args.add(&self.versions)?;
            args.add(&self.event_types)?;
            args.add(&self.schema_versions)?;
            args.add(&self.payloads)?;
            args.add(&self.metadata)
        })();
        added.map_err(sqlx::Error::Encode)?;
        Ok(args)
    }
}

/// The insert of [`EventRows`] (`$1`..`$7`), without `RETURNING`. `WITH ORDINALITY …
/// ORDER BY n`: positions follow the push order, so versions within a stream too.
fn insert_statement() -> String {
    format!(
        "INSERT INTO events ({INSERT_COLUMNS})
         SELECT s, k, v, t, sv, p, $7
         FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[])
              WITH ORDINALITY AS u(s, k, v, t, sv, p, n)
         ORDER BY n"
    )
}

/// Appends every stream's events (versions continue gap-free from `version_before`; the
/// caller holds the stream's row lock) and enqueues them for the relay, in one statement.
#[tracing::instrument(skip_all, fields(streams = appends.len()))]
pub async fn append(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
    meta: &Metadata,
) -> Result<(), sqlx::Error> {
    let mut rows = EventRows::new(meta);
    for a in appends {
        for (i, e) in a.events.iter().enumerate() {
            rows.push(a.version_before + 1 + i as i64, e);
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "WITH appended AS ({} RETURNING position, stream_id)
         INSERT INTO outbox (position, stream_id) SELECT position, stream_id FROM appended",
        insert_statement()
    );
    sqlx::query_with(&sql, rows.arguments()?)
        .execute(conn)
        .await?;
    metrics::counter!(crate::metric::EVENTS_APPENDED_TOTAL).increment(rows.len() as u64);
    Ok(())
}

/// Inserts `rows` (no outbox rows: nothing is published); answers how many.
pub async fn insert<'c>(conn: impl PgExecutor<'c>, rows: &EventRows) -> Result<u64, sqlx::Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    sqlx::query_with(&insert_statement(), rows.arguments()?)
        .execute(conn)
        .await?;
    Ok(rows.len() as u64)
}

/// Inserts `rows` (no outbox rows) and answers them as recorded, in push order.
pub async fn insert_returning<'c>(
    conn: impl PgExecutor<'c>,
    rows: &EventRows,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("{} RETURNING {SELECT_COLUMNS}", insert_statement());
    let returned = sqlx::query_as_with::<_, Row, _>(&sql, rows.arguments()?)
        .fetch_all(conn)
        .await?;
    let mut out = recorded(returned);
    out.sort_by_key(|e| e.position);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Reading

/// Runs a `SELECT` of [`select`] with its parameters bound.
async fn fetch<'c, 'q>(
    conn: impl PgExecutor<'c>,
    query: sqlx::query::QueryAs<'q, Postgres, Row, PgArguments>,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    Ok(recorded(query.fetch_all(conn).await?))
}

/// Every event of `stream`, in version order.
pub async fn read_stream<'c>(
    conn: impl PgExecutor<'c>,
    stream: &StreamId,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select("WHERE stream_id = $1 ORDER BY version");
    fetch(conn, sqlx::query_as(&sql).bind(stream.to_string())).await
}

/// Versions `(after, upto]` of a stream, in version order (to fill a gap in what was
/// delivered).
#[tracing::instrument(skip_all, fields(stream = stream))]
pub async fn read_stream_range<'c>(
    conn: impl PgExecutor<'c>,
    stream: &str,
    after: i64,
    upto: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select("WHERE stream_id = $1 AND version > $2 AND version <= $3 ORDER BY version");
    fetch(
        conn,
        sqlx::query_as(&sql).bind(stream).bind(after).bind(upto),
    )
    .await
}

/// At most `limit` events after position `after`, in position order (keyset pages).
pub async fn read_page<'c>(
    conn: impl PgExecutor<'c>,
    after: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select("WHERE position > $1 ORDER BY position LIMIT $2");
    fetch(conn, sqlx::query_as(&sql).bind(after).bind(limit)).await
}

/// The events visible in a `pg_snapshot` (text form), in position order.
pub async fn read_visible_in<'c>(
    conn: impl PgExecutor<'c>,
    snapshot: &str,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select("WHERE pg_visible_in_snapshot(tx_id, $1::pg_snapshot) ORDER BY position");
    fetch(conn, sqlx::query_as(&sql).bind(snapshot)).await
}

/// The events whose transactions committed after snapshot `since` and before snapshot
/// `now` (both in text form), whatever their positions, in position order.
pub async fn read_committed_between<'c>(
    conn: impl PgExecutor<'c>,
    since: &str,
    now: &str,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select(
        "WHERE tx_id >= pg_snapshot_xmin($1::pg_snapshot)
           AND pg_visible_in_snapshot(tx_id, $2::pg_snapshot)
           AND NOT pg_visible_in_snapshot(tx_id, $1::pg_snapshot)
         ORDER BY position",
    );
    fetch(conn, sqlx::query_as(&sql).bind(since).bind(now)).await
}

/// Every event, in position order (for a whole-history fold).
pub async fn read_all<'c>(conn: impl PgExecutor<'c>) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = select("ORDER BY position");
    fetch(conn, sqlx::query_as(&sql)).await
}

/// The catalog's events (category and product streams) visible in `snapshot` (text form;
/// all when `None`), in position order, as a stream of rows. Read it and
/// [`stream_by_session`] inside one REPEATABLE READ transaction to see one history.
pub fn stream_catalog<'e>(
    conn: &'e mut PgConnection,
    snapshot: Option<&'e str>,
) -> BoxStream<'e, Result<RecordedEvent, sqlx::Error>> {
    const SQL: &str = concat!(
        "SELECT ",
        select_columns!(),
        " FROM events WHERE stream_type IN ('category', 'product') AND ",
        visible!(),
        " ORDER BY position"
    );
    sqlx::query_as::<_, Row>(SQL)
        .bind(snapshot)
        .fetch(conn)
        .map(|r| r.map(RecordedEvent::from))
        .boxed()
}

/// The cart and order streams' events visible in `snapshot` (all when `None`), grouped
/// by shopper session and in position order within a session, each with its session:
/// a cart stream is its session's (`cart-{session}`), an order stream joins the session
/// its `OrderPlaced` names (an order stream without one is a group of its own). PostgreSQL
/// sorts, spilling to disk, so a reader holds one row at a time.
pub fn stream_by_session<'e>(
    conn: &'e mut PgConnection,
    snapshot: Option<&'e str>,
) -> BoxStream<'e, Result<(String, RecordedEvent), sqlx::Error>> {
    const SQL: &str = concat!(
        "WITH placed AS (SELECT stream_id, payload->>'session_id' AS placed_by FROM events
                         WHERE event_type = 'order_placed' AND ",
        visible!(),
        ") SELECT ",
        select_columns!(),
        ", COALESCE(placed_by, CASE WHEN stream_type = 'cart' THEN substr(stream_id, 6) END, stream_id) AS session
         FROM events LEFT JOIN placed USING (stream_id)
         WHERE stream_type IN ('cart', 'order') AND ",
        visible!(),
        " ORDER BY session, position"
    );
    sqlx::query_as::<_, SessionRow>(SQL)
        .bind(snapshot)
        .fetch(conn)
        .map(|r| r.map(|r| (r.session, RecordedEvent::from(r.row))))
        .boxed()
}

/// The first `limit` events waiting in the outbox, in position order (the relay's batch).
pub async fn read_outbox<'c>(
    conn: impl PgExecutor<'c>,
    limit: i64,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!(
        "SELECT {SELECT_COLUMNS}
         FROM (SELECT position FROM outbox ORDER BY position LIMIT $1) queued
         JOIN events USING (position) ORDER BY position"
    );
    fetch(conn, sqlx::query_as(&sql).bind(limit)).await
}
