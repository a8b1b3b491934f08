//! The whole pipeline with every program in-process and on the real services:
//! command-api (its relay publishing to a topic of its own) → Kafka → projector (its own
//! consumer group and Redis prefix) → Redis and PostgreSQL → query-api over HTTP. A
//! command's answer names the stream and version; a read given that `min_version` must
//! answer with the change, waiting (bounded) instead of the test sleeping.

use std::time::{Duration, Instant};

use crate::helpers::*;
use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;
use vitrine_contract::StreamId;

fn version_of(answer: &crate::helpers::Reply) -> i64 {
    answer.body["version"]
        .as_i64()
        .unwrap_or_else(|| panic!("a command answer carries its version: {:?}", answer.body))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_readable_with_min_version_through_the_whole_pipeline() {
    let mut p = Pipeline::start().await;
    let cmd = &p.command;

    // The catalog: a category, then a product in it (names and prices the test knows).
    let slug = format!("lamps-{}", Uuid::now_v7().simple());
    let created = cmd
        .admin(
            Method::POST,
            "/api/v1/categories/",
            Some(json!({ "name": "Desk Lamps", "slug": slug })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let category: Uuid = serde_json::from_value(created.body["id"].clone()).unwrap();
    // The category tree is a multi-stream read (no min_version): poll it, bounded, so
    // the product document below certainly names its category.
    p.wait_for_category(category, Instant::now() + Duration::from_secs(10))
        .await;
    let sku = format!("LAMP-{}", Uuid::now_v7().simple());
    let created = cmd
        .admin(
            Method::POST,
            "/api/v1/products/",
            Some(json!({
                "sku": sku, "name": "Brass Desk Lamp", "description": "Warm light",
                "price_cents": 4_990, "currency": "EUR", "category_id": category, "stock": 10,
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let product: Uuid = serde_json::from_value(created.body["id"].clone()).unwrap();
    assert_eq!(
        created.header("x-stream-version"),
        format!("{}:1", StreamId::product(product))
    );

    // The product document, read with the version the command answered.
    let detail = p
        .get(
            &format!(
                "/api/v1/products/{product}/?min_version={}",
                version_of(&created)
            ),
            &[],
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail);
    let doc = detail.json();
    assert_eq!(
        (&doc["name"], &doc["price_cents"], &doc["stock"]),
        (&json!("Brass Desk Lamp"), &json!(4_990), &json!(10))
    );

    // Add to cart as a shopper; the cart read waits for the cart stream's version.
    let (session, token) = cmd.new_session().await;
    let added = cmd
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({ "product_id": product, "quantity": 2 })),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    let cart = p
        .get(
            &format!("/api/v1/cart/?min_version={}", version_of(&added)),
            &[("authorization", &bearer(&token))],
        )
        .await;
    assert_eq!(cart.status, StatusCode::OK, "{:?}", cart);
    assert_eq!(cart.header("cache-control"), "private, no-store");
    let doc = cart.json();
    assert_eq!(doc["session_id"], json!(session));
    assert_eq!(doc["version"], json!(version_of(&added)));
    assert_eq!(
        doc["lines"],
        json!([{
            "product_id": product, "name": "Brass Desk Lamp", "unit_price_cents": 4_990,
            "currency": "EUR", "quantity": 2, "line_total_cents": 9_980,
        }]),
        "{doc}"
    );
    assert_eq!(
        (&doc["total_cents"], &doc["item_count"], &doc["currency"]),
        (&json!(9_980), &json!(2), &json!("EUR"))
    );

    // A price change, read back with the header form of min_version.
    let patched = cmd
        .admin(
            Method::PATCH,
            &format!("/api/v1/products/{product}/"),
            Some(json!({ "price_cents": 3_990 })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{:?}", patched.body);
    let v = version_of(&patched).to_string();
    let detail = p
        .get(
            &format!("/api/v1/products/{product}/"),
            &[("x-min-version", &v)],
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail);
    assert!(detail.header("etag").starts_with("\"v1-"), "{detail:?}");
    let doc = detail.json();
    assert_eq!(doc["version"], json!(2));
    assert_eq!(doc["price_cents"], json!(3_990));
    assert_eq!(doc["category"]["name"], json!("Desk Lamps"), "{doc}");
    assert_eq!(doc["stock_status"], json!("in_stock"));

    // Checkout: the order reads back placed; the product's stock went down by 2.
    let key = Uuid::now_v7().to_string();
    let placed = cmd
        .post("/api/v1/checkout/")
        .bearer(&token)
        .header("Idempotency-Key", &key)
        .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    let order: Uuid = serde_json::from_value(placed.body["order_id"].clone()).unwrap();
    assert_eq!(placed.body["total_cents"], json!(7_980));
    let read = p
        .get(
            &format!(
                "/api/v1/orders/{order}/?min_version={}",
                version_of(&placed)
            ),
            &[("authorization", &bearer(&token))],
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read);
    let doc = read.json();
    assert_eq!(doc["status"], json!("placed"), "{doc}");
    assert_eq!(doc["session_id"], json!(session));
    assert_eq!(doc["total_cents"], json!(7_980));
    assert_eq!(doc["lines"][0]["product_id"], json!(product));
    assert_eq!(doc["lines"][0]["quantity"], json!(2));
    assert_eq!(doc["lines"][0]["unit_price_cents"], json!(3_990));

    // The checkout's other streams: the product (stock reserved) and the emptied cart.
    // Their versions come from the event store, as a client would get them from the
    // product's next answer.
    let product_version = p.stream_version(&StreamId::product(product)).await;
    assert_eq!(product_version, 3, "created, patched, stock reserved");
    let detail = p
        .get(
            &format!("/api/v1/products/{product}/?min_version={product_version}"),
            &[],
        )
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail);
    let doc = detail.json();
    assert_eq!(
        (&doc["version"], &doc["stock"]),
        (&json!(3), &json!(8)),
        "{doc}"
    );
    assert_eq!(cmd.stock(product).await, 8, "the write model agrees");
    let cart_version = p.stream_version(&StreamId::cart(session)).await;
    let cart = p
        .get(
            &format!("/api/v1/cart/?min_version={cart_version}"),
            &[("authorization", &bearer(&token))],
        )
        .await;
    assert_eq!(cart.status, StatusCode::OK, "{:?}", cart);
    assert_eq!(
        cart.json()["lines"],
        json!([]),
        "the cart is empty after checkout"
    );

    // Another session sees nothing of this order.
    let stranger = cmd.session().await;
    let theirs = p
        .get(
            &format!("/api/v1/orders/{order}/?min_version=1"),
            &[("authorization", &bearer(&stranger))],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // Every read model agrees with a fresh fold of the event store, in both stores.
    let diffs = p.verify_settles(1, Duration::from_secs(10)).await;
    assert!(
        diffs.is_empty(),
        "verify found {} difference(s):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    p.stop_projector().await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_to_readable_delay_stays_bounded() {
    let mut p = Pipeline::start().await;
    let cmd = &p.command;
    let category = cmd.create_category().await;
    let product = cmd.create_product(category, 1_250, 500).await;
    // the cart lines carry the product's name: have it projected first
    let detail = p
        .get(&format!("/api/v1/products/{product}/?min_version=1"), &[])
        .await;
    assert_eq!(detail.status, StatusCode::OK, "{:?}", detail);

    let token = cmd.session().await;
    let auth = bearer(&token);
    let mut delays = Vec::with_capacity(50);
    for i in 1..=50i64 {
        let added = cmd
            .shopper(
                &token,
                Method::POST,
                "/api/v1/cart/",
                Some(json!({ "product_id": product, "quantity": 1 })),
            )
            .await;
        assert_eq!(
            added.status,
            StatusCode::OK,
            "command {i}: {:?}",
            added.body
        );
        let answered = Instant::now();
        let read = p
            .get(
                &format!("/api/v1/cart/?min_version={}", version_of(&added)),
                &[("authorization", &auth)],
            )
            .await;
        let delay = answered.elapsed();
        assert_eq!(read.status, StatusCode::OK, "read {i}: {:?}", read);
        let doc: Value = read.json();
        assert_eq!(doc["version"], json!(version_of(&added)), "read {i}");
        assert_eq!(doc["lines"][0]["quantity"], json!(i), "read {i}: {doc}");
        assert_eq!(doc["total_cents"], json!(1_250 * i), "read {i}");
        assert!(
            delay < Duration::from_secs(2),
            "read {i} took {delay:?}: past the min_version bound"
        );
        delays.push(delay);
    }
    delays.sort();
    eprintln!(
        "write→readable (command answer → min_version read answered) over {} commands: \
         p50 {:.1?}, p99 {:.1?}, max {:.1?}",
        delays.len(),
        percentile(&delays, 50.0),
        percentile(&delays, 99.0),
        delays[delays.len() - 1]
    );
    let diffs = p.verify_settles(1, Duration::from_secs(10)).await;
    assert!(diffs.is_empty(), "verify:\n{}", diffs.join("\n"));
    p.stop_projector().await;
}
