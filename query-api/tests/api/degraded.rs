//! Degraded modes: without Redis reads come from PostgreSQL; without PostgreSQL Redis hits still answer.

use crate::helpers::*;
use axum::http::StatusCode;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, FENCED_SET_LUA};

#[tokio::test]
async fn with_redis_unreachable_reads_answer_from_postgresql() {
    // Nothing listens on port 1: every connection attempt is refused at once.
    let app = TestApp::start_with(|c| c.redis_url = "redis://127.0.0.1:1".into()).await;
    let id = Uuid::now_v7();
    let doc = product_doc(id, 1, "Travel camera");
    project_to_postgres(&app, 1, &doc_key::product(id), Some(&doc)).await;
    for _ in 0..3 {
        let answer = app.get(&format!("/api/v1/products/{id}/")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), doc);
        // No write-back without Redis: one statement, no Redis command.
        assert_eq!(answer.lookups(), "redis=0; sql=1");
    }
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "degraded");
    assert_eq!(ready.json()["redis"], "down");
    let search = app.get("/api/v1/products/search/?q=camera").await;
    assert_eq!(
        (search.status, search.lookups()),
        (StatusCode::OK, "redis=0; sql=1")
    );
}

#[tokio::test]
async fn with_redis_unreachable_a_min_version_read_answers_once_postgresql_has_the_version() {
    let app = TestApp::start_with(|c| c.redis_url = "redis://127.0.0.1:1".into()).await;
    let id = Uuid::now_v7();
    let key = doc_key::product(id);
    project_to_postgres(&app, 1, &key, Some(&product_doc(id, 1, "Travel camera"))).await;
    // the projector commits version 2 to PostgreSQL while the read waits (no notice can
    // come: the notices travel through Redis)
    let app = std::sync::Arc::new(app);
    let writer = {
        let app = app.clone();
        let doc = product_doc(id, 2, "Travel camera II");
        let key = key.clone();
        tokio::spawn(async move {
            app.until_waiting(1).await;
            sqlx::query("UPDATE rm_docs SET doc = $2, rev = nextval('rm_rev') WHERE rm_version = 1 AND key = $1")
                .bind(&key)
                .bind(&doc)
                .execute(&app.db.pool)
                .await
                .unwrap();
        })
    };
    let answer = app
        .get(&format!("/api/v1/products/{id}/?min_version=2"))
        .await;
    writer.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["version"], 2);
    assert_eq!(answer.json()["name"], "Travel camera II");
}

#[tokio::test]
async fn with_postgresql_unreachable_redis_hits_still_answer() {
    let app = TestApp::start_with(|c| {
        c.database_url = "postgres://postgres@127.0.0.1:1/vitrine".into();
        c.db_acquire_timeout_ms = 300;
    })
    .await;
    let id = Uuid::now_v7();
    let doc = product_doc(id, 1, "Travel camera");
    let mut redis = vitrine_testkit::redis().await;
    let _: i64 = redis::Script::new(FENCED_SET_LUA)
        .key(app.keys(1).key(&doc_key::product(id)))
        .arg(1)
        .arg(&doc)
        .invoke_async(&mut redis)
        .await
        .unwrap();
    let hit = app.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!(
        (hit.status, hit.lookups()),
        (StatusCode::OK, "redis=1; sql=0")
    );
    assert_eq!(hit.text(), doc);
    let miss = app
        .get(&format!("/api/v1/products/{}/", Uuid::now_v7()))
        .await;
    assert_eq!(miss.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(miss.header("content-type"), "application/problem+json");
    assert!(
        !miss.text().contains("127.0.0.1"),
        "no internals in a 5xx body"
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.json()["status"], "degraded");
    assert_eq!(ready.json()["postgres"], "down");
}

#[tokio::test]
async fn a_redis_that_stops_and_restarts_is_survived() {
    // A Redis of our own, so stopping it disturbs nobody.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let start_redis = || {
        tokio::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server runs")
    };
    let mut redis_server = start_redis();
    until_redis_answers(port).await;
    let app = TestApp::start_with(|c| c.redis_url = format!("redis://127.0.0.1:{port}")).await;
    let id = Uuid::now_v7();
    project_to_postgres(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Camera")),
    )
    .await;
    let uri = format!("/api/v1/products/{id}/");
    assert_eq!(app.get(&uri).await.lookups(), "redis=2; sql=1");
    assert_eq!(app.get(&uri).await.lookups(), "redis=1; sql=0");

    redis_server.kill().await.unwrap();
    redis_server.wait().await.unwrap();
    for _ in 0..5 {
        let answer = app.get(&uri).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "served from PostgreSQL while Redis is down"
        );
    }
    assert_eq!(app.get(&uri).await.lookups(), "redis=0; sql=1");

    let _redis_server = start_redis();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let answer = app.get(&uri).await;
        assert_eq!(answer.status, StatusCode::OK);
        // The restarted Redis is empty: the first read through it misses and writes back.
        if answer.lookups() == "redis=2; sql=1" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis link never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.get(&uri).await.lookups(), "redis=1; sql=0");
}

/// Polls (bounded) until a Redis server answers PING on `port`.
async fn until_redis_answers(port: u16) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let url = format!("redis://127.0.0.1:{port}");
    loop {
        if let Ok(client) = redis::Client::open(url.as_str()) {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> =
                    redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server on port {port} never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
