//! The whole pipeline in one process: command-api (with its relay) → Kafka → projector →
//! Redis/PostgreSQL → query-api, each on its own database, topic and Redis prefix; one
//! [`Reply`] for the answers of both HTTP programs.
//!
//! command-api is started by its own tests' `TestApp` (included below), so both test
//! suites start it the same way.
#![allow(dead_code)]

use std::time::Duration;

use query_api::{AppState, Background, Config};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

/// command-api's test support (`command-api/tests/api/helpers.rs`), shared as source:
/// test code is compiled into test binaries only, never into a program.
#[path = "../../../command-api/tests/api/helpers.rs"]
mod command_helpers;

pub use command_helpers::{Call, Reply, ADMIN_TOKEN};

/// The real command-api on a fresh database and a topic of its own, served on
/// 127.0.0.1:0 with its relay running (`CommandApi::spawn`).
pub type CommandApi = command_helpers::TestApp;

/// A GET on any query-api base URL.
pub async fn get_from(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Reply {
    Call::new(client, Method::GET, format!("{base}{path}"))
        .headers(headers)
        .await
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
        // The read-your-writes test grows one cart line by one unit per command, 50 times.
        let command =
            CommandApi::spawn_custom(true, None, |c| c.orders.max_line_quantity = 999).await;
        let prefix = vitrine_testkit::unique_prefix();

        let projector_config = projector::Config {
            database_url: command.database_url.clone(),
            database_direct_url: None,
            db_pool_max: 4,
            redis_url: vitrine_testkit::redis_url(),
            redis_prefix: prefix.clone(),
            kafka_brokers: vitrine_testkit::kafka_brokers(),
            kafka_topic: command.topic.clone(),
            kafka_properties_file: None,
            listen_addr: "127.0.0.1:0".into(),
            batch_max: 500,
            stall_seconds: 30,
            watch_seconds: 5,
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
