//! A recorded event: what the event store holds per row and what the relay publishes
//! to Kafka (JSON, key = stream id).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::event::{DecodeError, Event};

/// Who caused an event and why; stored in `events.metadata`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metadata {
    /// One id per request, shared by every event it caused.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one, where known.
    pub causation_id: Option<Uuid>,
    /// `admin` or `session:{id}`.
    #[serde(default)]
    pub actor: String,
    pub idempotency_key: Option<String>,
}

/// One row of `events` (read by `vitrine_runtime::event_store`, the one owner of its columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Global order of the event store (gaps possible: sequence values of rolled-back writes).
    pub position: i64,
    pub stream_id: String,
    /// 1, 2, 3 … within the stream, no gaps.
    pub version: i64,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Metadata,
    pub recorded_at: DateTime<Utc>,
}

impl RecordedEvent {
    /// The event in its current shape (older schema versions are upcast).
    pub fn decode(&self) -> Result<Event, DecodeError> {
        Event::from_parts(&self.event_type, self.schema_version, self.payload.clone())
    }

    /// The Kafka message value.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a Kafka message value.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}
