//! Isolation for integration tests against the real services `.ci/run` starts.
//!
//! Each test gets its own PostgreSQL database (`vitrine_test_*`, migrated), its own
//! Kafka topic (`vitrine-test-*`, never deleted: tansu deletes every topic when asked to
//! delete one) and its own Redis key prefix, so tests run in parallel.
//! Service addresses come from `DATABASE_URL`, `REDIS_URL` and `KAFKA_BROKERS`, with the
//! defaults of `deploy/env.sh`.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use uuid::Uuid;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A migrated database of its own.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

/// Creates and migrates `vitrine_test_<uuid>`. Stale ones are dropped by `.ci/run`.
pub async fn fresh_database() -> TestDb {
    let admin: PgConnectOptions = database_url().parse().expect("DATABASE_URL parses");
    let name = format!("vitrine_test_{}", Uuid::now_v7().simple());
    let mut conn = admin
        .connect()
        .await
        .expect("PostgreSQL is reachable at DATABASE_URL");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    conn.close().await.ok();
    let opts = admin.clone().database(&name);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(opts.clone())
        .await
        .expect("connect to test database");
    vitrine_runtime::MIGRATOR
        .run(&pool)
        .await
        .expect("migrations apply");
    let url = opts.to_url_lossy().to_string();
    TestDb { name, url, pool }
}

/// A Redis key prefix of its own, e.g. `t:0190…:`.
pub fn unique_prefix() -> String {
    format!("t:{}:", Uuid::now_v7().simple())
}

/// Creates a topic of its own with `partitions` partitions on `KAFKA_BROKERS`.
pub async fn unique_topic(partitions: i32) -> String {
    let topic = format!("vitrine-test-{}", Uuid::now_v7().simple());
    create_topic(&kafka_brokers(), &topic, partitions).await;
    topic
}

/// Creates `topic` (tansu does not create topics on first use).
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&new], &opts)
        .await
        .expect("the broker answers at KAFKA_BROKERS");
    for r in results {
        if let Err((t, e)) = r {
            if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                panic!("create topic {t}: {e}");
            }
        }
    }
}

/// A Redis connection for assertions.
pub async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .expect("REDIS_URL parses")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is reachable at REDIS_URL")
}
