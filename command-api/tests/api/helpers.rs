//! `TestApp`: the real command-api on a fresh database and a topic of its own, served on
//! 127.0.0.1:0 with its relay running, plus helpers that speak HTTP to it.

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::task::JoinHandle;
use uuid::Uuid;

use command_api::config::Config;
use command_api::outbox::{Relay, RelayHandle};
use command_api::AppState;

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const SESSION_SECRET: &str = "test-session-secret";

/// One HTTP answer: status, headers, JSON body (`Value::Null` when not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct TestApp {
    pub base_url: String,
    pub pool: PgPool,
    pub topic: String,
    pub config: Config,
    /// The relay serving this app (None when spawned without one).
    pub relay: Option<RelayHandle>,
    client: reqwest::Client,
    server: JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Serves command-api on `pool` with `config` on a free port: its base URL and task.
async fn serve(pool: &PgPool, config: &Config) -> (String, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    let state = AppState::new(
        pool.clone(),
        config.clone(),
        vitrine_contract::telemetry::install_metrics(),
    );
    let router = command_api::app(state);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), server)
}

impl TestApp {
    /// Fresh database and topic (`KAFKA_PARTITIONS` partitions, default 6), relay running.
    pub async fn spawn() -> Self {
        Self::spawn_with(true).await
    }

    /// As [`TestApp::spawn`], with or without the relay (start one with [`TestApp::start_relay`]).
    pub async fn spawn_with(relay: bool) -> Self {
        let db = vitrine_testkit::fresh_database().await;
        let mut config = Config::defaults();
        // Without a relay no broker is needed: the topic is only named (the relay creates it).
        let topic = if relay {
            vitrine_testkit::unique_topic(config.relay.kafka_partitions).await
        } else {
            format!("vitrine-test-{}", Uuid::now_v7().simple())
        };
        config.database_url = db.url.clone();
        config.admin_token = Some(vitrine_contract::secret::Secret::new(ADMIN_TOKEN));
        config.session_secret = Some(vitrine_contract::secret::Secret::new(SESSION_SECRET));
        config.relay.kafka_brokers = vitrine_testkit::kafka_brokers();
        config.relay.kafka_topic = topic.clone();
        config.listen_addr = "127.0.0.1:0".into();
        let (base_url, server) = serve(&db.pool, &config).await;
        let relay = relay.then(|| Relay::spawn(config.relay.clone(), db.pool.clone()));
        Self {
            base_url,
            pool: db.pool,
            topic,
            config,
            relay,
            client: reqwest::Client::new(),
            server,
        }
    }

    /// Stops serving and serves the same database again on a new port with `change`
    /// applied to the configuration: a restart with another configuration.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut Config)) {
        self.server.abort();
        change(&mut self.config);
        let (base_url, server) = serve(&self.pool, &self.config).await;
        (self.base_url, self.server) = (base_url, server);
    }

    /// Another relay on this app's database (a standby when one already leads).
    pub fn start_relay(&self, config: command_api::config::RelayConfig) -> RelayHandle {
        Relay::spawn(config, self.pool.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
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
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::reply(req.send().await.expect("command-api answers")).await
    }

    pub async fn reply(res: reqwest::Response) -> Reply {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
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

    /// Adds to the cart and checks out: the checkout reply.
    pub async fn buy(&self, token: &str, product: Uuid, quantity: i32) -> Reply {
        let r = self
            .shopper(
                token,
                Method::POST,
                "/api/v1/cart/",
                Some(json!({ "product_id": product, "quantity": quantity })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "add to cart: {:?}", r.body);
        let key = Uuid::now_v7().to_string();
        self.request(
            Method::POST,
            "/api/v1/checkout/",
            Some(token),
            None,
            &[("Idempotency-Key", &key)],
        )
        .await
    }

    pub async fn event_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .expect("count events")
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
