//! `TestApp`: the real command-api on a fresh database and a topic of its own, served on
//! 127.0.0.1:0 with its relay and its deadline loop running, plus helpers that speak HTTP
//! to it (`app.post("/api/v1/cart/").bearer(&token).json(body).await`) and pay through the
//! fake payment provider.
//!
//! The `e2e` crate's tests include this file too (`#[path]`), so the cross-program tests
//! start command-api exactly as these do; test code stays out of every program.
#![allow(dead_code)]

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
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
use vitrine_contract::payment::{FakeProvider, SignedCallback, WebhookKind, SIGNATURE_HEADER};

pub const ADMIN_TOKEN: &str = "test-admin-token";
pub const SESSION_SECRET: &str = "test-session-secret";
pub const WEBHOOK_SECRET: &str = "test-payment-webhook-secret-0123456789";

/// One HTTP answer: status, headers, JSON body (`Value::Null` when not JSON) and the
/// body as text.
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
        let bytes = res.bytes().await.unwrap_or_default();
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

/// A request being built; `.await` sends it.
pub struct Call(reqwest::RequestBuilder);

impl Call {
    pub fn new(client: &reqwest::Client, method: Method, url: String) -> Self {
        Self(client.request(method, url))
    }

    pub fn bearer(self, token: &str) -> Self {
        Self(self.0.bearer_auth(token))
    }

    /// As the admin (`ADMIN_TOKEN`).
    pub fn admin(self) -> Self {
        self.bearer(ADMIN_TOKEN)
    }

    pub fn json(self, body: Value) -> Self {
        Self(self.0.json(&body))
    }

    pub fn header(self, name: &str, value: &str) -> Self {
        Self(self.0.header(name, value))
    }

    pub fn headers(self, headers: &[(&str, &str)]) -> Self {
        headers
            .iter()
            .fold(self, |call, (name, value)| call.header(name, value))
    }

    pub async fn send(self) -> Reply {
        Reply::from(self.0.send().await.expect("the program answers")).await
    }
}

impl IntoFuture for Call {
    type Output = Reply;
    type IntoFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base_url: String,
    pub pool: PgPool,
    pub database_url: String,
    pub topic: String,
    pub config: Config,
    /// The relay serving this app (None when spawned without one).
    pub relay: Option<RelayHandle>,
    pub state: AppState,
    client: reqwest::Client,
    server: JoinHandle<()>,
    deadlines: JoinHandle<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.deadlines.abort();
    }
}

/// Serves command-api on `pool` with `config` on a free port (commits waking `relay`
/// when there is one): its address, state and task.
async fn serve(
    pool: &PgPool,
    config: &Config,
    relay: Option<&RelayHandle>,
) -> (SocketAddr, AppState, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr = listener.local_addr().expect("local addr");
    let mut state = AppState::new(
        pool.clone(),
        config.clone(),
        vitrine_runtime::telemetry::install_metrics(),
    );
    if let Some(relay) = relay {
        state = state.with_relay(relay);
    }
    let router = command_api::app(state.clone());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, state, server)
}

impl TestApp {
    /// Fresh database and topic (`KAFKA_PARTITIONS` partitions, default 6), relay running.
    pub async fn spawn() -> Self {
        Self::spawn_with(true).await
    }

    /// As [`TestApp::spawn`], with or without the relay (start one with [`TestApp::start_relay`]).
    pub async fn spawn_with(relay: bool) -> Self {
        Self::spawn_custom(relay, None, |_| {}).await
    }

    /// With or without the relay, on a fresh database or on `database_url` (another
    /// instance of one store), the configuration changed by `configure`.
    pub async fn spawn_custom(
        relay: bool,
        database_url: Option<&str>,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        let (url, pool) = match database_url {
            Some(url) => (
                url.to_owned(),
                PgPool::connect(url).await.expect("connect to the store"),
            ),
            None => {
                let db = vitrine_testkit::fresh_database().await;
                (db.url, db.pool)
            }
        };
        let mut config = Config::defaults();
        // Without a relay no broker is needed: the topic is only named (the relay creates it).
        let topic = if relay {
            vitrine_testkit::unique_topic(config.relay.kafka_partitions).await
        } else {
            format!("vitrine-test-{}", Uuid::now_v7().simple())
        };
        config.database_url = url;
        config.admin_token = Some(vitrine_contract::secret::Secret::new(ADMIN_TOKEN));
        config.session_secret = Some(vitrine_contract::secret::Secret::new(SESSION_SECRET));
        config.orders.payment_webhook_secret =
            Some(vitrine_contract::secret::Secret::new(WEBHOOK_SECRET));
        config.orders.order_deadline_poll_ms = 50;
        config.relay.kafka_brokers = vitrine_testkit::kafka_brokers();
        config.relay.kafka_topic = topic.clone();
        config.listen_addr = "127.0.0.1:0".into();
        configure(&mut config);
        config.orders.check().expect("a usable test configuration");
        let relay = relay.then(|| Relay::spawn(config.relay.clone(), pool.clone()));
        let (addr, state, server) = serve(&pool, &config, relay.as_ref()).await;
        let deadlines = command_api::deadlines::spawn(state.clone());
        Self {
            addr,
            base_url: format!("http://{addr}"),
            pool,
            database_url: config.database_url.clone(),
            topic,
            config,
            relay,
            state,
            client: reqwest::Client::new(),
            server,
            deadlines,
        }
    }

    /// Stops this instance as a crash would: no more requests, no deadline loop, no relay.
    pub fn stop(&self) {
        self.server.abort();
        self.deadlines.abort();
        if let Some(relay) = &self.relay {
            relay.abort();
        }
    }

    /// Stops serving and serves the same database again on a new port with `change`
    /// applied to the configuration: a restart with another configuration.
    pub async fn restart_with(&mut self, change: impl FnOnce(&mut Config)) {
        self.server.abort();
        change(&mut self.config);
        let (addr, state, server) = serve(&self.pool, &self.config, self.relay.as_ref()).await;
        (self.addr, self.base_url, self.state, self.server) =
            (addr, format!("http://{addr}"), state, server);
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

    /// A request to this app: `app.call(Method::PUT, path).admin().json(body).await`.
    pub fn call(&self, method: Method, path: &str) -> Call {
        Call::new(&self.client, method, self.url(path))
    }

    pub fn get(&self, path: &str) -> Call {
        self.call(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.call(Method::POST, path)
    }

    pub fn patch(&self, path: &str) -> Call {
        self.call(Method::PATCH, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.call(Method::PUT, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.call(Method::DELETE, path)
    }

    /// As the admin, with an optional JSON body.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.shopper(ADMIN_TOKEN, method, path, body).await
    }

    /// With `token`, with an optional JSON body.
    pub async fn shopper(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let call = self.call(method, path).bearer(token);
        match body {
            Some(body) => call.json(body).await,
            None => call.await,
        }
    }

    /// A new shopper session: `(session id, token)`.
    pub async fn new_session(&self) -> (Uuid, String) {
        let r = self.post("/api/v1/sessions/").await;
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
        self.post("/api/v1/checkout/")
            .bearer(token)
            .header("Idempotency-Key", &key)
            .await
    }

    /// The payment provider, sharing this app's webhook secret.
    pub fn provider(&self) -> FakeProvider {
        FakeProvider::new(WEBHOOK_SECRET)
    }

    /// Starts paying `order`: the answer with `intent_id`, `amount_cents`, `currency`.
    pub async fn start_payment(&self, token: &str, order: Uuid) -> Reply {
        let path = format!("/api/v1/orders/{order}/pay/");
        self.shopper(token, Method::POST, &path, None).await
    }

    /// Sends a provider callback to the webhook, as the provider would.
    pub async fn deliver(&self, callback: &SignedCallback) -> Reply {
        self.deliver_raw(Some(&callback.signature), callback.body.clone())
            .await
    }

    /// Sends `body` to the webhook with `signature` (or none).
    pub async fn deliver_raw(&self, signature: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self
            .client
            .post(self.url("/api/v1/payments/webhook/"))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            req = req.header(SIGNATURE_HEADER, signature);
        }
        Call(req).await
    }

    /// Pays `order` the only way there is: start, then the provider's signed success.
    /// Returns the webhook's answer.
    pub async fn pay(&self, token: &str, order: Uuid) -> Reply {
        let started = self.start_payment(token, order).await;
        assert_eq!(
            started.status,
            StatusCode::ACCEPTED,
            "start: {:?}",
            started.body
        );
        let callback = self.provider().callback(
            WebhookKind::Succeeded,
            order,
            started.body["intent_id"].as_str().expect("intent_id"),
            started.body["amount_cents"].as_i64().expect("amount_cents"),
            started.body["currency"].as_str().expect("currency"),
        );
        self.deliver(&callback).await
    }

    /// The order's status in the write model.
    pub async fn order_status(&self, order: Uuid) -> String {
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&self.pool)
            .await
            .expect("the order's status")
    }

    /// How many events of `event_type` the store holds.
    pub async fn events_of(&self, event_type: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = $1")
            .bind(event_type)
            .fetch_one(&self.pool)
            .await
            .expect("count events")
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
