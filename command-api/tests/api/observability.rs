//! What an operator reads of command-api: `/metrics` has every documented metric with
//! its documented labels (`docs/metrics.md`), and a command's request id is echoed and
//! recorded as its events' correlation id (the projector logs it: one trace from the
//! command to the read).

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;
use vitrine_runtime::metric::{check_exposition, Program};

use crate::helpers::*;

#[tokio::test]
async fn metrics_has_every_documented_metric_with_its_documented_labels() {
    let app = TestApp::spawn().await;
    let created = app
        .post("/api/v1/categories/")
        .admin()
        .json(json!({"name": "Lamps", "slug": "lamps"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    // The relay publishes the event: its counters and position move.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = app.get("/metrics").await.text;
        if text.contains("vitrine_relay_published_events_total 1") {
            break text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the relay did not publish:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let problems = check_exposition(&text, Program::CommandApi);
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
}

#[tokio::test]
async fn a_commands_request_id_is_echoed_and_recorded_as_its_events_correlation_id() {
    let app = TestApp::spawn_with(false).await;
    let correlation = |app: &TestApp| {
        let pool = app.pool.clone();
        async move {
            let (id,): (Option<String>,) = sqlx::query_as(
                "SELECT metadata->>'correlation_id' FROM events ORDER BY position DESC LIMIT 1",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            id.unwrap_or_default()
        }
    };

    let given = "0190f0c2-6c1e-7cc4-9a3e-4f3b1f0e2d11";
    let reply = app
        .post("/api/v1/categories/")
        .admin()
        .header("x-request-id", given)
        .json(json!({"name": "Lamps", "slug": "lamps"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.header("x-request-id"), given);
    assert_eq!(correlation(&app).await, given);

    let reply = app
        .post("/api/v1/categories/")
        .admin()
        .json(json!({"name": "Chairs", "slug": "chairs"}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let made = reply.header("x-request-id").to_owned();
    assert!(Uuid::parse_str(&made).is_ok(), "a new UUID: {made:?}");
    assert_eq!(correlation(&app).await, made);

    let refused = app
        .post("/api/v1/categories/")
        .admin()
        .json(json!({}))
        .await;
    assert!(refused.status.is_client_error(), "{}", refused.status);
    assert!(
        Uuid::parse_str(refused.header("x-request-id")).is_ok(),
        "error answers too"
    );
}
