//! Abuse from outside (issue 14): input that used to reach a 5xx, session idempotency,
//! secrets, lock waits. Each test asserts what a client sees and that a refused request
//! changed nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{TestApp, ADMIN_TOKEN};
use crate::http::assert_problem;

#[tokio::test]
async fn a_nul_character_in_any_text_field_is_refused_with_422_naming_the_field() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 5).await;
    let token = app.session().await;
    let events = app.event_count().await;
    let product_body = |field: &str, value: serde_json::Value| {
        let mut body = json!({
            "sku": format!("S-{}", Uuid::now_v7().simple()), "name": "Lamp", "description": "d",
            "price_cents": 100, "currency": "EUR", "category_id": category, "stock": 1,
        });
        body[field] = value;
        body
    };
    let cases = [
        (
            Method::POST,
            "/api/v1/categories/".to_owned(),
            json!({"name": "La\u{0}mps", "slug": "lamps"}),
            "name",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/categories/{category}/"),
            json!({"name": "\u{0}"}),
            "name",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/products/".to_owned(),
            product_body("sku", json!("A\u{0}B")),
            "sku",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/products/".to_owned(),
            product_body("description", json!("x\u{0}")),
            "description",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/products/".to_owned(),
            product_body("attributes", json!({"colour": "re\u{0}d"})),
            "attributes.colour",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::POST,
            "/api/v1/products/".to_owned(),
            product_body("attributes", json!({"col\u{0}our": "red"})),
            "attributes",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::PATCH,
            format!("/api/v1/products/{product}/"),
            json!({"image": "\u{0}.png"}),
            "image",
            ADMIN_TOKEN.to_owned(),
        ),
        (
            Method::POST,
            format!("/api/v1/orders/{}/pay/", Uuid::now_v7()),
            json!({"payment_reference": "ref\u{0}"}),
            "payment_reference",
            token.clone(),
        ),
    ];
    for (method, path, body, field, token) in cases {
        let r = app
            .request(method.clone(), &path, Some(&token), Some(body), &[])
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
        assert!(
            r.body["detail"].as_str().unwrap_or("").contains("NUL"),
            "{method} {path}: {:?}",
            r.body
        );
    }
    assert_eq!(
        app.event_count().await,
        events,
        "a refused request recorded events"
    );
    // The escaped text `\u0000` (a backslash, not a NUL) is ordinary text.
    let r = app
        .admin(
            Method::POST,
            "/api/v1/products/",
            Some(product_body("description", json!("C:\\u0000 is fine"))),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

