//! What an operator reads of query-api: `/metrics` has every documented metric with its
//! documented labels (`docs/metrics.md`), and every answer carries a request id.

use crate::helpers::*;
use axum::http::StatusCode;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;
use vitrine_runtime::metric::{check_exposition, Program};

#[tokio::test]
async fn metrics_has_every_documented_metric_with_its_documented_labels() {
    let app = TestApp::start().await;
    // Reads that make the route-labelled series: a miss, then a hit.
    let id = Uuid::now_v7();
    project_to_postgres(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Lamp")),
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}/")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}/")).await.status,
        StatusCode::OK
    );

    let scrape = app.get("/metrics").await;
    assert_eq!(scrape.status, StatusCode::OK);
    let problems = check_exposition(scrape.text(), Program::QueryApi);
    assert!(problems.is_empty(), "{problems:#?}\n{}", scrape.text());
}

#[tokio::test]
async fn every_answer_echoes_the_request_id_it_was_given_or_a_new_one() {
    let app = TestApp::start().await;
    let given = app
        .get("/api/v1/categories/")
        .header("x-request-id", "0190f0c2-6c1e-7cc4-9a3e-4f3b1f0e2d11")
        .await;
    assert_eq!(
        given.header("x-request-id"),
        "0190f0c2-6c1e-7cc4-9a3e-4f3b1f0e2d11"
    );

    let first = app.get("/api/v1/products/not-a-uuid/").await;
    let second = app.get("/api/v1/products/not-a-uuid/").await;
    for answer in [&first, &second] {
        assert!(
            Uuid::parse_str(answer.header("x-request-id")).is_ok(),
            "a new UUID, also on an error answer: {:?}",
            answer.header("x-request-id")
        );
    }
    assert_ne!(first.header("x-request-id"), second.header("x-request-id"));
}
