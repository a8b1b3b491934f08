//! Shared test support: an app on its own database and Redis prefix, and a stand-in
//! for the projector that writes documents exactly as the contract says.
#![allow(dead_code)]

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
    config.session_secret = Secret::new(SECRET);
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

    pub async fn get(&self, uri: &str) -> Answer {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    pub async fn get_with(&self, uri: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
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

    /// Waits until the update subscription is live (so a published notice is not missed).
    pub async fn until_subscribed(&self) {
        for _ in 0..100 {
            if self.state.updates.is_subscribed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the update subscription never came up");
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

// ---------------------------------------------------------------------------------------
// The whole pipeline in one process: command-api (with its relay) → Kafka → projector →
// Redis/PostgreSQL → query-api, each on its own database, topic, group and Redis prefix.
// ---------------------------------------------------------------------------------------

/// One answer of query-api over HTTP.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "JSON body ({}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

pub struct Pipeline {
    /// The real command-api on a fresh database and topic, relay running.
    pub command: command_api::testing::TestApp,
    pub prefix: String,
    /// Base URL of the query-api instance (`http://127.0.0.1:port`).
    pub query_url: String,
    pub query: AppState,
    pub client: reqwest::Client,
    stop_projector: Option<tokio::sync::oneshot::Sender<()>>,
    projector: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    query_server: tokio::task::JoinHandle<()>,
    _background: Background,
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.query_server.abort();
        if let Some(p) = &self.projector {
            p.abort();
        }
    }
}

impl Pipeline {
    /// Starts the three programs and waits (bounded) until a command is readable through
    /// all of them: relay leading, projector's consumer assigned, query-api subscribed.
    pub async fn start() -> Self {
        let command = command_api::testing::TestApp::spawn().await;
        let prefix = vitrine_testkit::unique_prefix();

        let projector_config = projector::Config {
            database_url: command.database_url.clone(),
            database_direct_url: None,
            db_pool_max: 4,
            redis_url: vitrine_testkit::redis_url(),
            redis_prefix: prefix.clone(),
            kafka_brokers: vitrine_testkit::kafka_brokers(),
            kafka_topic: command.topic.clone(),
            listen_addr: "127.0.0.1:0".into(),
            batch_max: 500,
            stall_seconds: 30,
            repair_seconds: 1,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port for the projector");
        let (stop_projector, stopped) = tokio::sync::oneshot::channel::<()>();
        let projector = tokio::spawn(projector::run(projector_config, listener, async move {
            let _ = stopped.await;
        }));

        let mut config = Config::local();
        config.database_url = command.database_url.clone();
        config.db_pool_max = 8;
        config.redis_url = vitrine_testkit::redis_url();
        config.redis_prefix = prefix.clone();
        config.session_secret = command.config.session_secret.clone();
        config.min_version_wait_ms = 2000;
        let (query, background) = query_api::start(&config).await.expect("query-api starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port for query-api");
        let query_url = format!("http://{}", listener.local_addr().unwrap());
        let router = query_api::app(query.clone());
        let query_server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });

        let pipeline = Self {
            command,
            prefix,
            query_url,
            query,
            client: reqwest::Client::new(),
            stop_projector: Some(stop_projector),
            projector: Some(projector),
            query_server,
            _background: background,
        };
        pipeline.warm_up().await;
        pipeline
    }

    /// A first command, polled for (bounded) until query-api serves it: joining a
    /// consumer group and electing the relay take a few seconds, which no test should
    /// count as write→readable delay.
    async fn warm_up(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.query.updates.is_subscribed() {
            assert!(
                std::time::Instant::now() < deadline,
                "query-api never subscribed to read-model updates"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let category = self.command.create_category().await;
        self.wait_for_category(category, deadline).await;
    }

    /// Polls the category tree (a multi-stream read: no `min_version`) until it names `id`.
    pub async fn wait_for_category(&self, id: Uuid, deadline: std::time::Instant) {
        loop {
            let tree = self.get("/api/v1/categories/", &[]).await;
            if tree.status == StatusCode::OK
                && String::from_utf8_lossy(&tree.body).contains(&id.to_string())
            {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "category {id} never became readable through the pipeline"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn database_pool(&self) -> &sqlx::PgPool {
        &self.command.pool
    }

    /// A GET on query-api with extra headers.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        get_from(&self.client, &self.query_url, path, headers).await
    }

    /// The last version of a stream in the event store.
    pub async fn stream_version(&self, stream: &vitrine_contract::StreamId) -> i64 {
        sqlx::query_scalar(
            "SELECT coalesce(max(version), 0)::int8 FROM events WHERE stream_id = $1",
        )
        .bind(stream.to_string())
        .fetch_one(&self.command.pool)
        .await
        .expect("stream version")
    }

    /// Differences `projector verify` finds in `version`, retried (bounded) while the
    /// projector is still applying the last events.
    pub async fn verify_settles(&self, version: i32, within: Duration) -> Vec<String> {
        assert!(
            self.command.wait_outbox_empty(within).await,
            "the relay never emptied the outbox"
        );
        let deadline = std::time::Instant::now() + within;
        loop {
            let diffs: Vec<String> = projector::verify(
                &self.command.pool,
                &vitrine_testkit::redis_url(),
                &self.prefix,
                version,
            )
            .await
            .expect("verify runs")
            .iter()
            .map(ToString::to_string)
            .collect();
            if diffs.is_empty() || std::time::Instant::now() > deadline {
                return diffs;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the projector as SIGTERM would (it finishes and commits its batch in hand).
    pub async fn stop_projector(&mut self) {
        if let Some(stop) = self.stop_projector.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.projector.take() {
            let ended = tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .expect("the projector stops within 15 s");
            ended
                .expect("the projector task did not panic")
                .expect("the projector stops cleanly");
        }
    }
}

/// A GET on any query-api base URL.
pub async fn get_from(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = client.get(format!("{base}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("query-api answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Reply {
        status,
        headers,
        body,
    }
}
