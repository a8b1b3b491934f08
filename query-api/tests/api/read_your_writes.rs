//! `min_version`: waits for the projector's notice, bounded.

use std::time::Duration;

use crate::helpers::*;
use axum::http::StatusCode;
use serde_json::json;
use tokio::time::Instant;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

#[tokio::test]
async fn min_version_answers_as_soon_as_the_projector_publishes_it() {
    let app = std::sync::Arc::new(TestApp::start().await);
    app.until_subscribed().await;
    let id = Uuid::now_v7();
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Before")),
    )
    .await;

    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = app
                .get(&format!("/api/v1/products/{id}/?min_version=2"))
                .await;
            (answer, started.elapsed())
        })
    };
    app.until_waiting(1).await;
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 2, "After")),
    )
    .await;
    let (answer, waited) = reader.await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["name"], "After");
    assert!(
        waited < Duration::from_millis(1500),
        "answered {waited:?} after asking, not at the notice"
    );
    // One read before the wait and one per notice naming the document: no polling.
    // (The notice of the version-1 write may reach the waiter late on a loaded machine,
    // which costs one more read: three at most.)
    assert!(
        ["redis=2; sql=0", "redis=3; sql=0"].contains(&answer.lookups()),
        "lookups {}",
        answer.lookups()
    );

    // Already there: no wait, one lookup (the header form).
    let now = app
        .get(&format!("/api/v1/products/{id}"))
        .header("x-min-version", "2")
        .await;
    assert_eq!(
        (now.status, now.lookups()),
        (StatusCode::OK, "redis=1; sql=0")
    );
}

#[tokio::test]
async fn min_version_gives_up_with_503_and_retry_after_at_the_bound() {
    let app = TestApp::start_with(|c| c.min_version_wait_ms = 400).await;
    app.until_subscribed().await;
    let session = Uuid::now_v7();
    let cart =
        json!({"session_id": session, "version": 1, "items": [], "total_cents": 0}).to_string();
    project(&app, 1, &doc_key::cart(session), Some(&cart)).await;
    let started = Instant::now();
    let answer = app
        .get("/api/v1/cart/?min_version=5")
        .session(session)
        .await;
    let waited = started.elapsed();
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.header("retry-after"), "1");
    assert_eq!(answer.header("content-type"), "application/problem+json");
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500),
        "{waited:?}"
    );

    // An order that never arrives is a 503 too, an order that does arrives in time.
    let order_id = Uuid::now_v7();
    let waiting = {
        let uri = format!("/api/v1/orders/{order_id}/");
        let auth = bearer(session);
        let app = &app;
        async move {
            app.get(&uri)
                .header("authorization", &auth)
                .header("x-min-version", "1")
                .await
        }
    };
    let publish = async {
        app.until_waiting(1).await;
        let order =
            json!({"id": order_id, "session_id": session, "version": 1, "status": "placed"})
                .to_string();
        project(&app, 1, &doc_key::order(order_id), Some(&order)).await;
    };
    let (answer, ()) = tokio::join!(waiting, publish);
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["status"], "placed");
}
