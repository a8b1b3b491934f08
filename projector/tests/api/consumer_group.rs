//! The projector as a program on a real broker: killed and restarted (twice in a row),
//! two instances sharing the partitions, Redis going away and coming back.

use std::time::Duration;

use crate::helpers::*;
use uuid::Uuid;
use vitrine_contract::{Event, RecordedEvent};

/// Plays the relay: publishes each event keyed by its stream.
async fn publish(pool: &sqlx::PgPool, topic: &str, recs: &[RecordedEvent]) {
    publish_with(&producer(), pool, topic, recs).await;
}

fn config(h: &Harness, topic: &str) -> projector::Config {
    projector_config(h, topic, 50)
}

/// Waits (bounded) until every stream has applied its last version, then verifies.
async fn wait_caught_up(h: &Harness, recs: &[RecordedEvent]) {
    wait_applied(h, recs).await;
    // the Redis write follows the PostgreSQL commit; give it a moment, bounded
    for _ in 0..50 {
        let diffs = projector::verify(&h.db.pool, &vitrine_testkit::redis_url(), &h.prefix, 1)
            .await
            .unwrap();
        if diffs.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    h.assert_verified().await;
}

/// Waits (bounded) until `recs` (every event published so far) are applied.
async fn wait_applied(h: &Harness, recs: &[RecordedEvent]) {
    wait_applied_within(h, recs, Duration::from_secs(90)).await;
}

/// [`wait_applied`], failing after `within`.
async fn wait_applied_within(h: &Harness, recs: &[RecordedEvent], within: Duration) {
    let want = recs.len() as i64;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (applied,): (Option<i64>,) =
            sqlx::query_as("SELECT sum(version)::int8 FROM rm_entities WHERE rm_version = 1")
                .fetch_one(&h.db.pool)
                .await
                .unwrap();
        if applied == Some(want) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PostgreSQL's read models did not take every event within {within:?}: {applied:?} of {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn shop(h: &mut Harness, products: usize) -> Vec<RecordedEvent> {
    let cat = Uuid::now_v7();
    let mut recs = vec![h.record(category(cat, "Garden", None)).await];
    for i in 0..products {
        let p = Uuid::now_v7();
        recs.push(
            h.record(product(p, &format!("Tool {i}"), 100 + i as i64, cat, 20))
                .await,
        );
        recs.push(
            h.record(Event::StockAdjusted {
                product_id: p,
                delta: -1,
                stock: 19,
            })
            .await,
        );
        let s = Uuid::now_v7();
        recs.push(
            h.record(Event::CartItemAdded {
                session_id: s,
                product_id: p,
                added: 1,
                quantity: 1,
            })
            .await,
        );
    }
    recs
}

#[tokio::test]
async fn a_projector_killed_mid_stream_resumes_on_restart_and_loses_nothing() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(6).await;
    let recs = shop(&mut h, 60).await;
    publish(&h.db.pool, &topic, &recs[..120]).await;

    let (_stop, task) = start_projector(config(&h, &topic)).await;
    // let it get somewhere, then kill it without any chance to finish
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM rm_docs")
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
        if n > 0 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    let _ = task.await;

    publish(&h.db.pool, &topic, &recs[120..]).await;
    let (stop, task) = start_projector(config(&h, &topic)).await;
    wait_caught_up(&h, &recs).await;
    let _ = stop.send(());
    task.await.unwrap().expect("a clean stop");
}

/// The partitions each live member says it holds, polled until `want` (bounded).
async fn wait_members(h: &Harness, topic: &str, want: &[usize]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let members = projector::partitions::members(&h.db.pool, topic)
            .await
            .unwrap();
        let mut sizes: Vec<usize> = members.iter().map(|(_, _, p)| p.len()).collect();
        sizes.sort_unstable();
        if sizes == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "members hold {sizes:?} partitions, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_projector_killed_twice_in_a_row_and_restarted_at_once_resumes_each_time() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(6).await;
    let recs = shop(&mut h, 90).await;
    let thirds: Vec<&[RecordedEvent]> = recs.chunks(recs.len() / 3 + 1).collect();
    let mut published = Vec::new();
    for part in &thirds[..2] {
        publish(&h.db.pool, &topic, part).await;
        published.extend_from_slice(part);
        let (_stop, task) = start_projector(config(&h, &topic)).await;
        wait_applied(&h, &published).await;
        // kill -9: no chance to finish, leave or release anything
        task.abort();
        let _ = task.await;
    }
    publish(&h.db.pool, &topic, thirds[2]).await;
    let started = tokio::time::Instant::now();
    let (stop, task) = start_projector(config(&h, &topic)).await;
    wait_caught_up(&h, &recs).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the third start took {:?} to catch up",
        started.elapsed()
    );
    wait_members(&h, &topic, &[6]).await;
    let _ = stop.send(());
    task.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn two_instances_share_the_partitions_and_one_stopping_hands_over_its_work() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(6).await;
    let (stop_a, task_a) = start_projector(config(&h, &topic)).await;
    let (stop_b, task_b) = start_projector(config(&h, &topic)).await;
    wait_members(&h, &topic, &[3, 3]).await;
    let first = shop(&mut h, 30).await;
    publish(&h.db.pool, &topic, &first).await;
    wait_caught_up(&h, &first).await;

    let _ = stop_a.send(());
    task_a.await.unwrap().expect("a clean stop");
    wait_members(&h, &topic, &[6]).await;
    let more = shop(&mut h, 30).await;
    publish(&h.db.pool, &topic, &more).await;
    let all: Vec<RecordedEvent> = first.iter().chain(more.iter()).cloned().collect();
    wait_caught_up(&h, &all).await;
    let _ = stop_b.send(());
    task_b.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn a_crashed_instance_s_partitions_are_taken_over_by_the_survivor() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(6).await;
    let (stop_a, task_a) = start_projector(config(&h, &topic)).await;
    let (_stop_b, task_b) = start_projector(config(&h, &topic)).await;
    wait_members(&h, &topic, &[3, 3]).await;
    task_b.abort();
    let _ = task_b.await;
    let recs = shop(&mut h, 30).await;
    publish(&h.db.pool, &topic, &recs).await;
    wait_members(&h, &topic, &[6]).await;
    wait_caught_up(&h, &recs).await;
    let _ = stop_a.send(());
    task_a.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn while_redis_is_down_postgres_keeps_moving_and_redis_is_repaired_when_it_returns() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(6).await;
    let proxy = RedisProxy::start().await;
    let mut cfg = config(&h, &topic);
    cfg.redis_url = proxy.url();
    let (stop, task) = start_projector(cfg).await;
    let before = shop(&mut h, 10).await;
    publish(&h.db.pool, &topic, &before).await;
    wait_caught_up(&h, &before).await;

    proxy.cut().await;
    let during = shop(&mut h, 10).await;
    publish(&h.db.pool, &topic, &during).await;
    let all: Vec<RecordedEvent> = before.iter().chain(during.iter()).cloned().collect();
    // PostgreSQL's read models (query-api's fallback) take every event while Redis is gone
    wait_applied_within(&h, &all, Duration::from_secs(30)).await;
    assert!(
        projector::redis_repair::owed_count(&h.db.pool)
            .await
            .unwrap()
            > 0
    );

    proxy.restore().await;
    wait_caught_up(&h, &all).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while projector::redis_repair::owed_count(&h.db.pool)
        .await
        .unwrap()
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "owed writes were not drained"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().expect("a clean stop");
}

/// Long enough for the consumer to stop fetching (it stops after a quarter second
/// without a message): a claim about idling needs the idle time to pass.
const IDLE: Duration = Duration::from_secs(1);

#[tokio::test]
async fn an_idle_projector_is_woken_by_the_relays_notice_and_applies_at_once() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(3).await;
    let mut config = config(&h, &topic);
    // its own look at the broker is a minute away: only the notice can wake it sooner
    config.watch_seconds = 60;
    let (stop, task) = start_projector(config).await;
    wait_members(&h, &topic, &[3]).await;
    let mut all = shop(&mut h, 5).await;
    publish(&h.db.pool, &topic, &all).await;
    wait_applied_within(&h, &all, Duration::from_secs(30)).await;
    for _ in 0..2 {
        tokio::time::sleep(IDLE).await;
        let more = shop(&mut h, 2).await;
        publish(&h.db.pool, &topic, &more).await;
        all.extend(more);
        wait_applied_within(&h, &all, Duration::from_secs(10)).await;
    }
    let _ = stop.send(());
    task.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn a_lost_notice_only_delays_an_idle_projector_until_its_next_look() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(3).await;
    let mut config = config(&h, &topic);
    config.watch_seconds = 1;
    let (stop, task) = start_projector(config).await;
    wait_members(&h, &topic, &[3]).await;
    let mut all = shop(&mut h, 3).await;
    publish(&h.db.pool, &topic, &all).await;
    wait_applied_within(&h, &all, Duration::from_secs(30)).await;
    tokio::time::sleep(IDLE).await;
    let more = shop(&mut h, 3).await;
    publish_without_notice(&producer(), &topic, &more).await;
    all.extend(more);
    wait_applied_within(&h, &all, Duration::from_secs(20)).await;
    let _ = stop.send(());
    task.await.unwrap().expect("a clean stop");
}
