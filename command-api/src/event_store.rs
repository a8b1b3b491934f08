//! The event store (`events`): appending, in one multi-row statement that also writes the
//! `outbox` rows, inside the command's transaction; and reading a stream back. The
//! column lists are here once.

use sqlx::{PgConnection, PgExecutor};
use vitrine_contract::{Event, Metadata, RecordedEvent, StreamId};

/// The columns an append writes.
pub const INSERT_COLUMNS: &str =
    "stream_id, stream_type, version, event_type, schema_version, payload, metadata";

/// The columns of a [`RecordedEvent`], in its field order.
pub const SELECT_COLUMNS: &str =
    "position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at";

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

/// Appends every stream's events (versions continue gap-free from `version_before`; the
/// caller holds the stream's row lock) and enqueues them for the relay.
#[tracing::instrument(skip_all, fields(streams = appends.len()))]
pub async fn append(
    conn: &mut PgConnection,
    appends: &[StreamAppend],
    meta: &Metadata,
) -> Result<(), sqlx::Error> {
    let n: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut stream_ids = Vec::with_capacity(n);
    let mut stream_types = Vec::with_capacity(n);
    let mut versions = Vec::with_capacity(n);
    let mut types = Vec::with_capacity(n);
    let mut schemas = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    let meta = serde_json::to_value(meta).unwrap_or_default();
    for a in appends {
        for (i, e) in a.events.iter().enumerate() {
            let (event_type, schema, payload) = e.to_parts();
            stream_ids.push(a.stream.to_string());
            stream_types.push(a.stream.kind().as_str().to_owned());
            versions.push(a.version_before + 1 + i as i64);
            types.push(event_type.to_owned());
            schemas.push(schema);
            payloads.push(payload);
            metas.push(meta.clone());
        }
    }
    if n == 0 {
        return Ok(());
    }
    // Rows are inserted in array order, so positions follow versions within a stream.
    let sql = format!(
        "WITH appended AS (
             INSERT INTO events ({INSERT_COLUMNS})
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])
             RETURNING position, stream_id)
         INSERT INTO outbox (position, stream_id) SELECT position, stream_id FROM appended"
    );
    sqlx::query(&sql)
        .bind(&stream_ids)
        .bind(&stream_types)
        .bind(&versions)
        .bind(&types)
        .bind(&schemas)
        .bind(&payloads)
        .bind(&metas)
        .execute(conn)
        .await?;
    metrics::counter!("vitrine_events_appended_total").increment(n as u64);
    Ok(())
}

/// Every event of `stream`, in version order.
pub async fn read_stream<'c>(
    conn: impl PgExecutor<'c>,
    stream: &StreamId,
) -> Result<Vec<RecordedEvent>, sqlx::Error> {
    let sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE stream_id = $1 ORDER BY version");
    sqlx::query_as(&sql)
        .bind(stream.to_string())
        .fetch_all(conn)
        .await
}
