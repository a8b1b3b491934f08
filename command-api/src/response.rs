//! A command's success answer: `{"id", "stream", "version", ...}` + `X-Stream-Version`.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use uuid::Uuid;
use vitrine_contract::StreamId;

#[derive(Debug, Clone)]
pub struct CommandOk {
    pub status: StatusCode,
    pub body: Value,
}

impl CommandOk {
    pub fn new(status: StatusCode, id: Uuid, stream: &StreamId, version: i64) -> Self {
        Self {
            status,
            body: json!({ "id": id, "stream": stream.to_string(), "version": version }),
        }
    }

    /// Adds a field to the body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Some(obj) = self.body.as_object_mut() {
            obj.insert(key.to_owned(), value.into());
        }
        self
    }
}

impl IntoResponse for CommandOk {
    fn into_response(self) -> Response {
        let stream_version = match (self.body.get("stream"), self.body.get("version")) {
            (Some(Value::String(s)), Some(Value::Number(v))) => {
                HeaderValue::from_str(&format!("{s}:{v}")).ok()
            }
            _ => None,
        };
        let mut res = (self.status, axum::Json(self.body)).into_response();
        if let Some(v) = stream_version {
            res.headers_mut().insert("x-stream-version", v);
        }
        res
    }
}
