//! The outbox relay against the real broker: what is committed is published, in
//! per-stream order, through broker outages and leader deaths.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::helpers::TestApp;
use futures::future::join_all;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::process::{Child, Command};
use vitrine_contract::RecordedEvent;

/// Every message of `topic` from the beginning, until `expected` arrived and the topic has
/// been quiet for a moment (to catch duplicates), or the deadline passed.
async fn consume(
    brokers: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
) -> Vec<RecordedEvent> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("check-{}", uuid::Uuid::now_v7()))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while Instant::now() < deadline {
        let quiet = if got.len() >= expected {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(2)
        };
        match tokio::time::timeout(quiet, consumer.recv()).await {
            Ok(Ok(m)) => got.push(
                RecordedEvent::from_json(m.payload().unwrap_or_default())
                    .expect("a recorded event"),
            ),
            Ok(Err(e)) => panic!("consume: {e}"),
            Err(_) if got.len() >= expected => break,
            Err(_) => {}
        }
    }
    got
}

async fn committed(app: &TestApp) -> Vec<(i64, String, i64)> {
    sqlx::query_as("SELECT position, stream_id, version FROM events ORDER BY position")
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Each stream's versions, in the order they were consumed.
fn per_stream(events: &[RecordedEvent]) -> BTreeMap<String, Vec<i64>> {
    let mut map: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for e in events {
        map.entry(e.stream_id.clone()).or_default().push(e.version);
    }
    map
}

/// Some catalog, cart and checkout traffic, partly concurrent.
async fn traffic(app: &TestApp, shoppers: usize) {
    let category = app.create_category().await;
    let product = app.create_product(category, 500, 1000).await;
    join_all((0..shoppers).map(|_| async {
        let token = app.session().await;
        assert_eq!(
            app.buy(&token, product, 2).await.status,
            StatusCode::CREATED
        );
    }))
    .await;
    let r = app
        .admin(
            Method::POST,
            &format!("/api/v1/products/{product}/stock/"),
            Some(json!({"delta": 5})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Everything committed to the app's database reached its topic (through the app's broker).
async fn assert_topic_holds_every_commit_in_order(app: &TestApp) {
    let committed = committed(app).await;
    let consumed = consume(
        &app.config.relay.kafka_brokers,
        &app.topic,
        app.config.relay.kafka_partitions,
        committed.len(),
    )
    .await;
    assert_all_delivered_in_order(&consumed, &committed);
}

/// At least once, and per stream the first deliveries come in version order 1, 2, 3 ….
fn assert_all_delivered_in_order(consumed: &[RecordedEvent], committed: &[(i64, String, i64)]) {
    let mut seen = HashSet::new();
    let first: Vec<RecordedEvent> = consumed
        .iter()
        .filter(|e| seen.insert(e.position))
        .cloned()
        .collect();
    let expected: HashSet<i64> = committed.iter().map(|(p, _, _)| *p).collect();
    assert_eq!(
        seen, expected,
        "published positions differ from committed ones"
    );
    for (stream, versions) in per_stream(&first) {
        assert_eq!(
            versions,
            (1..=versions.len() as i64).collect::<Vec<_>>(),
            "stream {stream} out of order"
        );
    }
}

#[tokio::test]
async fn the_relay_publishes_exactly_the_committed_events_once_in_stream_order() {
    let app = TestApp::spawn().await;
    traffic(&app, 10).await;
    assert!(
        app.wait_outbox_empty(Duration::from_secs(20)).await,
        "outbox drained"
    );
    let committed = committed(&app).await;
    let consumed = consume(
        &app.config.relay.kafka_brokers,
        &app.topic,
        app.config.relay.kafka_partitions,
        committed.len(),
    )
    .await;
    let published: Vec<(i64, String, i64)> = {
        let mut v: Vec<_> = consumed
            .iter()
            .map(|e| (e.position, e.stream_id.clone(), e.version))
            .collect();
        v.sort();
        v
    };
    assert_eq!(published, committed, "each committed event exactly once");
    for (stream, versions) in per_stream(&consumed) {
        assert_eq!(
            versions,
            (1..=versions.len() as i64).collect::<Vec<_>>(),
            "stream {stream} out of order"
        );
    }
    // The message is the stored event, decodable by a consumer.
    assert!(consumed.iter().all(|e| e.decode().is_ok()));
}

/// A tansu broker of the test's own, so stopping it disturbs no other test.
struct PrivateBroker {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PrivateBroker {
    fn binary() -> PathBuf {
        let home = std::env::var("VITRINE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".vitrine")
            });
        std::env::var("TANSU_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| home.join("tansu/bin/tansu"))
    }

    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir =
            std::env::temp_dir().join(format!("vitrine-tansu-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut broker = Self {
            dir,
            port,
            child: None,
        };
        broker.restart().await;
        broker
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(Self::binary())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill tansu");
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn outbox_depth(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn writes_succeed_while_the_broker_is_down_and_are_published_when_it_returns() {
    let mut broker = PrivateBroker::start().await;
    let app = TestApp::spawn_with(false).await;
    let mut relay_config = app.config.relay.clone();
    relay_config.kafka_brokers = broker.brokers();
    relay_config.message_timeout_ms = 2000;
    let _relay = app.start_relay(relay_config.clone());

    traffic(&app, 3).await;
    assert!(
        app.wait_outbox_empty(Duration::from_secs(20)).await,
        "published while the broker is up"
    );

    broker.kill().await;
    traffic(&app, 3).await; // every write still succeeds (asserted inside)
                            // A claim about an interval: checked throughout it, not slept through.
    let window = Instant::now() + Duration::from_millis(300);
    while Instant::now() < window {
        assert!(
            outbox_depth(&app).await > 0,
            "nothing can be published while the broker is down"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    broker.restart().await;
    assert!(
        app.wait_outbox_empty(Duration::from_secs(40)).await,
        "outbox drained after the broker returned"
    );
    let committed = committed(&app).await;
    let consumed = consume(
        &broker.brokers(),
        &app.topic,
        relay_config.kafka_partitions,
        committed.len(),
    )
    .await;
    assert_all_delivered_in_order(&consumed, &committed);
}

#[tokio::test]
async fn a_standby_takes_over_when_the_leader_dies_and_nothing_is_lost() {
    let app = TestApp::spawn().await;
    let standby = app.start_relay(app.config.relay.clone());
    let leader = app.relay.as_ref().expect("the app's relay");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(leader.is_leader() || standby.is_leader()) {
        assert!(Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (dying, survivor) = if leader.is_leader() {
        (leader, &standby)
    } else {
        (&standby, leader)
    };
    assert!(!survivor.is_leader(), "one leader at a time");
    traffic(&app, 3).await;
    assert!(app.wait_outbox_empty(Duration::from_secs(20)).await);

    dying.abort();
    traffic(&app, 3).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !survivor.is_leader() {
        assert!(Instant::now() < deadline, "the standby did not take over");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        app.wait_outbox_empty(Duration::from_secs(20)).await,
        "the new leader drained the outbox"
    );
    assert_topic_holds_every_commit_in_order(&app).await;
}

/// Waits until a backend of this app's database is listening on `channel` (its last
/// statement was the LISTEN).
async fn wait_listening(app: &TestApp, channel: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND query LIKE '%' || $1 || '%'",
        )
        .bind(channel)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if n > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "nobody listens on {channel}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_leader(relay: &command_api::outbox::RelayHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !relay.is_leader() {
        assert!(Instant::now() < deadline, "the relay does not lead");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An idle leader looks by itself only every `RELAY_POLL_MS` (a minute here): anything
/// published sooner was woken by the commit.
const A_MINUTE: u64 = 60_000;

#[tokio::test]
async fn a_commit_wakes_the_idle_relay_of_its_own_instance_at_once() {
    let app = TestApp::spawn_custom(true, None, |c| c.relay.poll_ms = A_MINUTE).await;
    wait_leader(app.relay.as_ref().expect("the app's relay")).await;
    for _ in 0..2 {
        traffic(&app, 1).await;
        assert!(
            app.wait_outbox_empty(Duration::from_secs(10)).await,
            "published within seconds, not at the next look a minute away"
        );
    }
}

#[tokio::test]
async fn a_commit_on_another_instance_wakes_the_leader_through_postgresql() {
    let app = TestApp::spawn_custom(true, None, |c| c.relay.poll_ms = A_MINUTE).await;
    wait_leader(app.relay.as_ref().expect("the app's relay")).await;
    wait_listening(&app, vitrine_runtime::wakeup::OUTBOX_CHANNEL).await;
    // a second instance of the same store, whose own relay stands by
    let other = TestApp::spawn_custom(true, Some(&app.database_url), |c| {
        c.relay = app.config.relay.clone();
    })
    .await;
    assert!(!other.relay.as_ref().unwrap().is_leader(), "one leader");
    for _ in 0..2 {
        traffic(&other, 1).await;
        assert!(
            app.wait_outbox_empty(Duration::from_secs(10)).await,
            "the leader was woken by the other instance's notice"
        );
    }
    assert_topic_holds_every_commit_in_order(&app).await;
}
