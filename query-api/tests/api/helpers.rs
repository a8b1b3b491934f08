//! Shared test support: an app on its own database and Redis prefix, and a stand-in
//! for the projector that writes documents exactly as the contract says.
#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use chrono::Utc;
use query_api::{AppState, Background, Config};
use tower::ServiceExt;
use uuid::Uuid;
use vitrine_contract::read_model::{RedisKeys, FENCED_SET_LUA};
use vitrine_contract::secret::Secret;
use vitrine_contract::session::SessionSigner;
use vitrine_testkit::TestDb;

pub const SECRET: &str = "test-session-secret";

pub struct TestApp {
    pub db: TestDb,
    pub prefix: String,
    pub config: Config,
    pub state: AppState,
    pub router: Router,
    pub _background: Background,
}

pub fn config(db: &TestDb, prefix: &str) -> Config {
    let mut config = Config::local();
    config.database_url = db.url.clone();
    config.db_pool_max = 4;
    config.redis_url = vitrine_testkit::redis_url();
    config.redis_prefix = prefix.to_owned();
    config.session_secret = Some(Secret::new(SECRET));
    config.min_version_wait_ms = 2000;
    config
}

impl TestApp {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = vitrine_testkit::fresh_database().await;
        let prefix = vitrine_testkit::unique_prefix();
        let mut config = config(&db, &prefix);
        adjust(&mut config);
        let (state, background) = query_api::start(&config).await.expect("query-api starts");
        let router = query_api::app(state.clone());
        Self {
            db,
            prefix,
            config,
            state,
            router,
            _background: background,
        }
    }

    pub fn keys(&self, version: i32) -> RedisKeys {
        RedisKeys::new(self.prefix.clone(), version)
    }

    /// A GET through the router: `app.get(uri).session(id).header(name, value).await`.
    pub fn get(&self, uri: &str) -> Get {
        Get {
            router: self.router.clone(),
            request: Request::get(uri),
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        answer(self.router.clone(), request).await
    }

    /// Waits until the update subscription is live (so a published notice is not missed).
    pub async fn until_subscribed(&self) {
        until("the update subscription came up", || {
            self.state.updates.is_subscribed()
        })
        .await;
    }

    /// Waits until `n` `min_version` reads have read once and wait for a notice (so what
    /// is published next is what they wait for).
    pub async fn until_waiting(&self, n: usize) {
        until("the reads wait for a notice", || {
            self.state.updates.waiting() >= n
        })
        .await;
    }
}

/// Polls `done` every 5 ms until it holds; panics naming `what` after 5 s.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `request` through `router`.
async fn answer(router: Router, request: Request<Body>) -> Answer {
    let response = router.oneshot(request).await.expect("router answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: body.to_vec(),
    }
}

/// A GET being built; `.await` sends it.
pub struct Get {
    router: Router,
    request: axum::http::request::Builder,
}

impl Get {
    pub fn header(self, name: &str, value: &str) -> Self {
        Self {
            request: self.request.header(name, value),
            ..self
        }
    }

    /// As the holder of `session`'s token.
    pub fn session(self, session: Uuid) -> Self {
        self.header("authorization", &bearer(session))
    }
}

impl IntoFuture for Get {
    type Output = Answer;
    type IntoFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        let request = self.request.body(Body::empty()).expect("a request");
        Box::pin(answer(self.router, request))
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn lookups(&self) -> &str {
        self.header("x-lookups")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

/// Plays the projector: PostgreSQL row, fenced Redis write, then the update notice.
pub async fn project(app: &TestApp, version: i32, doc_key: &str, doc: Option<&str>) -> i64 {
    let rev = project_to_postgres(app, version, doc_key, doc).await;
    let mut redis = vitrine_testkit::redis().await;
    let keys = app.keys(version);
    let _: i64 = redis::Script::new(FENCED_SET_LUA)
        .key(keys.key(doc_key))
        .arg(rev)
        .arg(doc.unwrap_or(""))
        .invoke_async(&mut redis)
        .await
        .expect("fenced set");
    let _: i64 = redis::cmd("PUBLISH")
        .arg(keys.updates_channel())
        .arg(doc_key)
        .query_async(&mut redis)
        .await
        .expect("publish");
    rev
}

/// Only the durable half of a projector write: the next read is a Redis miss.
pub async fn project_to_postgres(
    app: &TestApp,
    version: i32,
    doc_key: &str,
    doc: Option<&str>,
) -> i64 {
    let (rev,): (i64,) = sqlx::query_as(
        "INSERT INTO rm_docs (rm_version, key, rev, doc) VALUES ($1, $2, nextval('rm_rev'), $3)
         ON CONFLICT (rm_version, key) DO UPDATE SET rev = EXCLUDED.rev, doc = EXCLUDED.doc
         RETURNING rev",
    )
    .bind(version)
    .bind(doc_key)
    .bind(doc)
    .fetch_one(&app.db.pool)
    .await
    .expect("rm_docs write");
    rev
}

pub fn token(session: Uuid) -> String {
    SessionSigner::new(Secret::new(SECRET)).issue(session, Utc::now() + chrono::Duration::hours(1))
}

pub fn bearer(session: Uuid) -> String {
    format!("Bearer {}", token(session))
}

pub fn product_doc(id: Uuid, version: i64, name: &str) -> String {
    serde_json::json!({
        "id": id, "version": version, "sku": "SKU-1", "slug": "travel-camera", "name": name,
        "description": "A small camera", "price_cents": 12900, "currency": "EUR",
        "category": {"id": Uuid::now_v7(), "name": "Cameras", "slug": "cameras"},
        "stock": 3, "stock_status": "in_stock", "image_url": null, "attributes": {},
    })
    .to_string()
}
