//! The one HTTP client helper: JSON in and out against one base URL, with the bearer
//! token and `Idempotency-Key` of docs/api.md. Answers of any status come back as a
//! [`Reply`]; only transport failures are errors.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A client for one program's base URL (`http://127.0.0.1:8080`).
#[derive(Clone, Debug)]
pub struct Api {
    client: reqwest::Client,
    base: String,
}

/// One answer: status, the `X-Stream-Version` header if any, and the body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub stream_version: Option<String>,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`Null` when it is empty or not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// The stream's version a command answered with: the body's `version`, else the
    /// number after the last `:` of `X-Stream-Version`.
    pub fn version(&self) -> Option<i64> {
        self.json()
            .get("version")
            .and_then(Value::as_i64)
            .or_else(|| {
                self.stream_version
                    .as_deref()
                    .and_then(|h| h.rsplit(':').next())
                    .and_then(|v| v.trim().parse().ok())
            })
    }

    /// Fails with the status and body unless the status is 2xx.
    pub fn ok(self, what: &str) -> Result<Self> {
        if !self.status.is_success() {
            bail!("{what}: {} {}", self.status, truncate(&self.body, 300));
        }
        Ok(self)
    }
}

/// Extra headers of one request.
#[derive(Clone, Copy, Debug, Default)]
pub struct Auth<'a> {
    /// `Authorization: Bearer …` (a session token or the admin token).
    pub bearer: Option<&'a str>,
    /// `Idempotency-Key: …`.
    pub idempotency_key: Option<&'a str>,
}

impl<'a> Auth<'a> {
    pub fn bearer(token: &'a str) -> Self {
        Auth {
            bearer: Some(token),
            idempotency_key: None,
        }
    }
    pub fn with_key(mut self, key: &'a str) -> Self {
        self.idempotency_key = Some(key);
        self
    }
}

impl Api {
    /// `max_idle` bounds the idle connections kept per host (size it to the concurrency).
    pub fn new(base: &str, timeout: Duration, max_idle: usize) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(max_idle)
            .tcp_nodelay(true)
            .build()
            .context("building the HTTP client")?;
        Ok(Api {
            client,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Result<Reply> {
        self.send(Method::GET, path, auth, None).await
    }

    pub async fn post(&self, path: &str, auth: Auth<'_>, body: &Value) -> Result<Reply> {
        self.send(Method::POST, path, auth, Some(body)).await
    }

    pub async fn put(&self, path: &str, auth: Auth<'_>, body: &Value) -> Result<Reply> {
        self.send(Method::PUT, path, auth, Some(body)).await
    }

    /// Sends one request; only a transport failure (no answer) is an error.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<&Value>,
    ) -> Result<Reply> {
        let url = self.url(path);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(token) = auth.bearer {
            request = request.bearer_auth(token);
        }
        if let Some(key) = auth.idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {url}"))?;
        let status = response.status();
        let stream_version = response
            .headers()
            .get("x-stream-version")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        Ok(Reply {
            status,
            stream_version,
            body,
        })
    }

    /// `POST /api/v1/sessions/`: a new anonymous shopper session's token.
    pub async fn create_session(&self) -> Result<String> {
        let reply = self
            .post("/api/v1/sessions/", Auth::default(), &serde_json::json!({}))
            .await?
            .ok("creating a session")?;
        session_token(&reply.json()).context("the session answer has no token")
    }
}

/// The `token` of a `POST /api/v1/sessions/` answer.
pub fn session_token(body: &Value) -> Option<String> {
    body.get("token").and_then(Value::as_str).map(str::to_owned)
}

/// At most `max` characters of `text`, for error messages.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        text.chars().take(max).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str, header: Option<&str>) -> Reply {
        Reply {
            status: StatusCode::OK,
            stream_version: header.map(str::to_owned),
            body: body.to_owned(),
        }
    }

    #[test]
    fn command_version_comes_from_body_then_header() {
        assert_eq!(
            reply(r#"{"version":7}"#, Some("cart-x:9")).version(),
            Some(7)
        );
        assert_eq!(reply("{}", Some("cart-0190:9")).version(), Some(9));
        assert_eq!(reply("not json", None).version(), None);
    }
}
