//! The whole pipeline in one process: command-api (with its relay) → Kafka → projector →
//! Redis/PostgreSQL → query-api, each on its own database, topic and Redis prefix; one
//! [`Reply`] for the answers of both HTTP programs.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use command_api::config::Config as CommandConfig;
use command_api::outbox::{Relay, RelayHandle};
use query_api::{AppState, Background, Config};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const SESSION_SECRET: &str = "test-session-secret";

/// One HTTP answer of command-api or query-api: status, headers, JSON body
/// (`Value::Null` when not JSON) and the body as text.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub async fn from(res: reqwest::Response) -> Self {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("body");
        Self {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// A header's value, `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The JSON body; panics (naming the status and body) when it is not JSON.
    pub fn json(&self) -> Value {
        assert!(
            !self.body.is_null(),
            "JSON body ({}): {}",
            self.status,
            self.text
        );
        self.body.clone()
    }
}

/// Any request: optional bearer token, JSON body and extra headers.
pub async fn send(
    client: &reqwest::Client,
    method: Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut req = client.request(method, url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    Reply::from(req.send().await.expect("the program answers")).await
}

/// A GET on any query-api base URL.
pub async fn get_from(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    send(
        client,
        Method::GET,
        format!("{base}{path}"),
        None,
        None,
        headers,
    )
    .await
}

/// The real command-api on a fresh database and a topic of its own, served on
/// 127.0.0.1:0 with its relay running.
pub struct CommandApi {
    pub addr: SocketAddr,
    pub base_url: String,
    pub pool: PgPool,
    pub database_url: String,
    pub topic: String,
    pub config: CommandConfig,
    pub relay: RelayHandle,
    client: reqwest::Client,
    server: JoinHandle<()>,
}

impl Drop for CommandApi {
    fn drop(&mut self) {
        self.server.abort();
        self.relay.abort();
    }
}

impl CommandApi {
    pub async fn spawn() -> Self {
        let db = vitrine_testkit::fresh_database().await;
        let mut config = CommandConfig::defaults();
        let topic = vitrine_testkit::unique_topic(config.relay.kafka_partitions).await;
        config.database_url = db.url.clone();
        config.admin_token = Some(vitrine_contract::secret::Secret::new(ADMIN_TOKEN));
        config.session_secret = Some(vitrine_contract::secret::Secret::new(SESSION_SECRET));
        config.relay.kafka_brokers = vitrine_testkit::kafka_brokers();
        config.relay.kafka_topic = topic.clone();
        config.listen_addr = "127.0.0.1:0".into();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a free port");
        let addr = listener.local_addr().expect("local addr");
        let state = command_api::AppState::new(
            db.pool.clone(),
            config.clone(),
            vitrine_contract::telemetry::install_metrics(),
        );
        let router = command_api::app(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        let relay = Relay::spawn(config.relay.clone(), db.pool.clone());
        Self {
            addr,
            base_url: format!("http://{addr}"),
            pool: db.pool,
            database_url: db.url,
            topic,
            config,
            relay,
            client: reqwest::Client::new(),
            server,
        }
    }

    /// Any request: optional bearer token, JSON body and extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let url = format!("{}{}", self.base_url, path);
        send(&self.client, method, url, token, body, headers).await
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(method, path, Some(ADMIN_TOKEN), body, &[])
            .await
    }

    pub async fn shopper(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        self.request(method, path, Some(token), body, &[]).await
    }

    /// A new shopper session: `(session id, token)`.
    pub async fn new_session(&self) -> (Uuid, String) {
        let r = self
            .request(Method::POST, "/api/v1/sessions/", None, None, &[])
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "session: {:?}", r.body);
        let id = r.body["session_id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("session_id");
        let token = r.body["token"].as_str().expect("token").to_owned();
        (id, token)
    }

    /// A new shopper session's token.
    pub async fn session(&self) -> String {
        self.new_session().await.1
    }

    pub async fn create_category(&self) -> Uuid {
        let slug = format!("cat-{}", Uuid::now_v7().simple());
        let r = self
            .admin(
                Method::POST,
                "/api/v1/categories/",
                Some(json!({ "name": slug, "slug": slug })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "category: {:?}", r.body);
        r.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("category id")
    }

    pub async fn create_product(&self, category: Uuid, price_cents: i64, stock: i32) -> Uuid {
        let sku = format!("SKU-{}", Uuid::now_v7().simple());
        let r = self
            .admin(
                Method::POST,
                "/api/v1/products/",
                Some(json!({
                    "sku": sku, "name": format!("Product {sku}"), "description": "A test product",
                    "price_cents": price_cents, "currency": "EUR", "category_id": category, "stock": stock,
                })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "product: {:?}", r.body);
        r.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("product id")
    }

    pub async fn stock(&self, product: Uuid) -> i32 {
        sqlx::query_scalar("SELECT stock FROM products WHERE id = $1")
            .bind(product)
            .fetch_one(&self.pool)
            .await
            .expect("product stock")
    }

    /// Waits (bounded) until the relay emptied the outbox; true if it did.
    pub async fn wait_outbox_empty(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let depth: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&self.pool)
                .await
                .unwrap_or(-1);
            if depth == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

// ---------------------------------------------------------------------------------------
// The whole pipeline in one process: command-api (with its relay) → Kafka → projector →
// Redis/PostgreSQL → query-api, each on its own database, topic, group and Redis prefix.
// ---------------------------------------------------------------------------------------

pub struct Pipeline {
    /// The real command-api on a fresh database and topic, relay running.
    pub command: CommandApi,
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
        let command = CommandApi::spawn().await;
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
            if tree.status == StatusCode::OK && tree.text.contains(&id.to_string()) {
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
