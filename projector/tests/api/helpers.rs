//! Shared by the integration tests: an isolated database and Redis prefix, and a way to
//! record events into the event store the way command-api does.
#![allow(dead_code)]

use std::collections::HashMap;

use projector::{apply_batch, BatchReport, Incoming};
use serde_json::Value;
use uuid::Uuid;
use vitrine_contract::{Event, Metadata, OrderLine, RecordedEvent};
use vitrine_runtime::event_store::{self, EventRows};
use vitrine_testkit::TestDb;

/// Rows for `events` recorded by the admin, as the catalog's commands are.
pub fn admin_rows() -> EventRows {
    EventRows::new(&Metadata {
        actor: "admin".into(),
        ..Metadata::default()
    })
}

pub struct Harness {
    pub db: TestDb,
    pub prefix: String,
    pub redis: redis::aio::MultiplexedConnection,
    versions: HashMap<String, i64>,
}

impl Harness {
    pub async fn new() -> Self {
        Self {
            db: vitrine_testkit::fresh_database().await,
            prefix: vitrine_testkit::unique_prefix(),
            redis: vitrine_testkit::redis().await,
            versions: HashMap::new(),
        }
    }

    /// Appends an event to its stream in `events` (next version), as command-api does.
    pub async fn record(&mut self, event: Event) -> RecordedEvent {
        let stream = event.stream().to_string();
        let version = self.versions.get(&stream).copied().unwrap_or(0) + 1;
        self.versions.insert(stream.clone(), version);
        let (event_type, schema_version, payload) = event.to_parts();
        self.insert_raw(&stream, version, event_type, schema_version, payload)
            .await
    }

    pub async fn insert_raw(
        &mut self,
        stream: &str,
        version: i64,
        event_type: &str,
        schema_version: i32,
        payload: Value,
    ) -> RecordedEvent {
        self.versions.insert(stream.to_owned(), version);
        let kind = stream.split('-').next().unwrap_or("unknown");
        let mut rows = admin_rows();
        rows.push_raw(stream, kind, version, event_type, schema_version, payload);
        event_store::insert_returning(&self.db.pool, &rows)
            .await
            .expect("insert event")
            .remove(0)
    }

    pub async fn apply(&mut self, recs: &[RecordedEvent]) -> BatchReport {
        let items: Vec<Incoming> = recs.iter().cloned().map(Incoming::Event).collect();
        apply_batch(&self.db.pool, &mut self.redis, &self.prefix, 1, &items)
            .await
            .expect("batch applies")
    }

    /// The document in Redis, checked to be the same bytes as in PostgreSQL.
    pub async fn doc(&mut self, key: &str) -> Option<Value> {
        let rkey = format!("{}v1:{key}", self.prefix);
        let in_redis: Option<String> = redis::cmd("HGET")
            .arg(&rkey)
            .arg("doc")
            .query_async(&mut self.redis)
            .await
            .unwrap();
        let in_pg: Option<(Option<String>,)> =
            sqlx::query_as("SELECT doc FROM rm_docs WHERE rm_version = 1 AND key = $1")
                .bind(key)
                .fetch_optional(&self.db.pool)
                .await
                .unwrap();
        let in_redis = in_redis.filter(|d| !d.is_empty());
        let in_pg = in_pg.and_then(|(d,)| d);
        assert_eq!(in_redis, in_pg, "Redis and PostgreSQL disagree on {key}");
        in_redis.map(|d| serde_json::from_str(&d).unwrap())
    }

    pub async fn assert_verified(&self) {
        let diffs = projector::verify(
            &self.db.pool,
            &vitrine_testkit::redis_url(),
            &self.prefix,
            1,
        )
        .await
        .expect("verify runs");
        let shown: Vec<String> = diffs.iter().map(ToString::to_string).collect();
        assert!(
            diffs.is_empty(),
            "verify found differences:\n{}",
            shown.join("\n")
        );
    }

    /// Every live document in PostgreSQL, key → bytes.
    pub async fn all_docs(&self) -> Vec<(String, String)> {
        projector::store::documents::pg_docs(&self.db.pool, 1)
            .await
            .unwrap()
    }
}

pub fn category(id: Uuid, name: &str, parent_id: Option<Uuid>) -> Event {
    Event::CategoryCreated {
        category_id: id,
        name: name.into(),
        slug: vitrine_contract::slug::slugify(name),
        parent_id,
    }
}

pub fn product(id: Uuid, name: &str, price_cents: i64, category_id: Uuid, stock: i32) -> Event {
    Event::ProductCreated {
        product_id: id,
        sku: format!("SKU-{}", &id.simple().to_string()[24..]),
        slug: vitrine_contract::slug::slugify(name),
        name: name.into(),
        description: format!("All about {name}"),
        price_cents,
        currency: "EUR".into(),
        category_id,
        stock,
        image: Some(format!("https://img.example/{id}.jpg")),
        attributes: serde_json::json!({"z": 1, "a": {"y": true, "b": [1, 2]}}),
    }
}

pub fn update(id: Uuid) -> Event {
    Event::ProductUpdated {
        product_id: id,
        name: None,
        description: None,
        price_cents: None,
        currency: None,
        category_id: None,
        image: None,
        attributes: None,
    }
}

pub fn line(product_id: Uuid, name: &str, unit: i64, quantity: i32) -> OrderLine {
    OrderLine {
        product_id,
        sku: "SKU".into(),
        name: name.into(),
        unit_price_cents: unit,
        quantity,
        line_total_cents: unit * i64::from(quantity),
    }
}

pub fn placed(order_id: Uuid, session_id: Uuid, lines: Vec<OrderLine>) -> Event {
    let total_cents = lines.iter().map(|l| l.line_total_cents).sum();
    Event::OrderPlaced {
        order_id,
        session_id,
        lines,
        total_cents,
        currency: "EUR".into(),
        pay_by: None,
    }
}

impl Harness {
    /// Every event of the store, in position order.
    pub async fn all_events(&self) -> Vec<RecordedEvent> {
        vitrine_runtime::event_store::read_all(&self.db.pool)
            .await
            .unwrap()
    }
}

/// A producer playing the relay.
pub fn producer() -> rdkafka::producer::FutureProducer {
    rdkafka::ClientConfig::new()
        .set("bootstrap.servers", vitrine_testkit::kafka_brokers())
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Plays the relay: publishes committed events keyed by their stream, then says so on
/// the store's database (an idle projector has paused fetching and waits for the notice).
pub async fn publish_with(
    producer: &rdkafka::producer::FutureProducer,
    pool: &sqlx::PgPool,
    topic: &str,
    recs: &[RecordedEvent],
) {
    publish_without_notice(producer, topic, recs).await;
    vitrine_runtime::wakeup::notify(pool, vitrine_runtime::wakeup::PUBLISHED_CHANNEL)
        .await
        .expect("notify");
}

/// Publishes as the relay would, but the notice is lost.
pub async fn publish_without_notice(
    producer: &rdkafka::producer::FutureProducer,
    topic: &str,
    recs: &[RecordedEvent],
) {
    for rec in recs {
        let value = rec.to_json();
        producer
            .send(
                rdkafka::producer::FutureRecord::to(topic)
                    .key(&rec.stream_id)
                    .payload(&value),
                std::time::Duration::from_secs(10),
            )
            .await
            .expect("the broker takes the event");
    }
}

/// A live projector's configuration on this harness's database and prefix.
pub fn projector_config(h: &Harness, topic: &str, batch_max: usize) -> projector::Config {
    projector::Config {
        database_url: h.db.url.clone(),
        database_direct_url: None,
        db_pool_max: 4,
        redis_url: vitrine_testkit::redis_url(),
        redis_prefix: h.prefix.clone(),
        kafka_brokers: vitrine_testkit::kafka_brokers(),
        kafka_topic: topic.to_owned(),
        kafka_properties_file: None,
        listen_addr: "127.0.0.1:0".into(),
        batch_max,
        stall_seconds: 30,
        watch_seconds: 5,
        repair_seconds: 1,
    }
}

/// Starts a projector; the sender stops it gracefully.
pub async fn start_projector(
    config: projector::Config,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(projector::run(config, listener, async move {
        let _ = rx.await;
    }));
    (tx, task)
}

/// A TCP proxy in front of the real Redis that can be cut (connections dropped, port
/// closed: Redis is unreachable) and restored on the same port.
pub struct RedisProxy {
    port: u16,
    task: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl RedisProxy {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            port,
            task: tokio::sync::Mutex::new(None),
        };
        *proxy.task.lock().await = Some(tokio::spawn(Self::serve(listener)));
        proxy
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn serve(listener: tokio::net::TcpListener) {
        let upstream = vitrine_testkit::redis_url();
        let upstream = upstream
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let mut links = tokio::task::JoinSet::new();
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            links.spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    }

    /// Redis goes away: every connection is dropped and the port refuses new ones.
    pub async fn cut(&self) {
        if let Some(task) = self.task.lock().await.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Redis is back on the same port.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy's port is free again");
        *self.task.lock().await = Some(tokio::spawn(Self::serve(listener)));
    }
}
