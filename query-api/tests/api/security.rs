//! Abuse from outside (issue 14): query strings that used to reach a 5xx.

use axum::http::StatusCode;
use uuid::Uuid;

use crate::helpers::{bearer, TestApp};

#[tokio::test]
async fn a_nul_character_in_a_query_parameter_is_a_400_naming_it_and_costs_no_lookup() {
    let app = TestApp::start().await;
    let order = Uuid::now_v7();
    for (uri, field) in [
        ("/api/v1/products/search/?q=%00", "q"),
        ("/api/v1/products/search/?q=camera%00lens", "q"),
        ("/api/v1/products/?category=%00", "category"),
        ("/api/v1/products/?sort=%00", "sort"),
        ("/api/v1/products/search/?q=camera&page=1%00", "page"),
        ("/api/v1/products/search/?q=camera&x%00=1", "query"),
        (
            &*format!("/api/v1/products/{}/?min_version=%00", Uuid::now_v7()),
            "min_version",
        ),
        (
            &*format!("/api/v1/orders/{order}/?min_version=1%00"),
            "min_version",
        ),
    ] {
        let answer = app
            .get_with(uri, &[("authorization", &bearer(Uuid::now_v7()))])
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri}: {}",
            answer.text()
        );
        assert_eq!(answer.header("content-type"), "application/problem+json");
        let problem = answer.json();
        assert_eq!(problem["errors"][0]["field"], field, "{uri}");
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("NUL"),
            "{uri}: {problem}"
        );
        assert_eq!(answer.lookups(), "redis=0; sql=0", "{uri}");
    }
}

