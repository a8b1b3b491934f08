//! The HTTP contract of command-api against a real PostgreSQL (no relay: no broker needed).

use crate::helpers::{Reply, TestApp, ADMIN_TOKEN};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use vitrine_runtime::event_store;

fn id_of(r: &Reply, field: &str) -> Uuid {
    r.body[field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {:?}", r.body))
}

/// Asserts a success answer names its stream and version, in the body and the header.
fn assert_recorded(r: &Reply, status: StatusCode, stream_prefix: &str, version: i64) {
    assert_eq!(r.status, status, "{:?}", r.body);
    let stream = r.body["stream"].as_str().expect("stream");
    assert!(stream.starts_with(stream_prefix), "stream {stream}");
    assert_eq!(r.body["version"], json!(version), "{:?}", r.body);
    assert_eq!(r.header("x-stream-version"), format!("{stream}:{version}"));
}

pub(crate) fn assert_problem(r: &Reply, status: StatusCode, field: Option<&str>) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert_eq!(r.body["status"], json!(status.as_u16()));
    for key in ["type", "title", "detail"] {
        assert!(
            r.body[key].is_string(),
            "problem without {key}: {:?}",
            r.body
        );
    }
    if let Some(field) = field {
        let fields: Vec<&str> = r.body["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(
            fields.contains(&field),
            "expected field {field} in {:?}",
            r.body
        );
    }
}

async fn stream_versions(app: &TestApp, stream: &str) -> Vec<i64> {
    let stream = stream.parse().expect("a stream id");
    event_store::read_stream(&app.pool, &stream)
        .await
        .unwrap()
        .iter()
        .map(|e| e.version)
        .collect()
}

#[tokio::test]
async fn every_command_succeeds_and_answers_its_stream_version() {
    let app = TestApp::spawn_with(false).await;
    let (session_id, token) = app.new_session().await;

    let r = app
        .admin(
            Method::POST,
            "/api/v1/categories/",
            Some(json!({"name": "Lamps", "slug": "lamps"})),
        )
        .await;
    assert_recorded(&r, StatusCode::CREATED, "category-", 1);
    let category = id_of(&r, "id");
    let r = app
        .patch(&format!("/api/v1/categories/{category}"))
        .admin()
        .json(json!({"name": "Lights"}))
        .header("If-Match", "\"1\"")
        .await;
    assert_recorded(&r, StatusCode::OK, "category-", 2);

    let r = app
        .admin(
            Method::POST,
            "/api/v1/products",
            Some(json!({"sku": "L-1", "name": "Desk Lamp 3000", "description": "bright", "price_cents": 2500,
                        "currency": "EUR", "category_id": category, "stock": 10})),
        )
        .await;
    assert_recorded(&r, StatusCode::CREATED, "product-", 1);
    assert_eq!(r.body["slug"], json!("desk-lamp-3000"));
    let lamp = id_of(&r, "id");
    let attributes: Value = sqlx::query_scalar("SELECT attributes FROM products WHERE id = $1")
        .bind(lamp)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attributes, json!({}));

    let r = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/products/{lamp}/"),
            Some(json!({"price_cents": 2000})),
        )
        .await;
    assert_recorded(&r, StatusCode::OK, "product-", 2);
    let r = app
        .admin(
            Method::POST,
            &format!("/api/v1/products/{lamp}/stock/"),
            Some(json!({"delta": -2})),
        )
        .await;
    assert_recorded(&r, StatusCode::OK, "product-", 3);
    assert_eq!(app.stock(lamp).await, 8);

    let cart = format!("cart-{session_id}");
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": lamp, "quantity": 2})),
        )
        .await;
    assert_recorded(&r, StatusCode::OK, &cart, 1);
    let r = app
        .shopper(
            &token,
            Method::PUT,
            &format!("/api/v1/cart/items/{lamp}/"),
            Some(json!({"quantity": 3})),
        )
        .await;
    assert_recorded(&r, StatusCode::OK, &cart, 2);
    let r = app
        .shopper(
            &token,
            Method::DELETE,
            &format!("/api/v1/cart/items/{lamp}"),
            None,
        )
        .await;
    assert_recorded(&r, StatusCode::OK, &cart, 3);
    assert_eq!(r.body["items"], json!([]));

    let r = app.buy(&token, lamp, 3).await;
    assert_recorded(&r, StatusCode::CREATED, "order-", 1);
    assert_eq!(r.body["total_cents"], json!(6000));
    let order = id_of(&r, "order_id");
    assert_eq!(app.stock(lamp).await, 5);
    let r = app.start_payment(&token, order).await;
    assert_recorded(&r, StatusCode::ACCEPTED, "order-", 2);
    let callback = app.provider().callback(
        vitrine_contract::payment::WebhookKind::Succeeded,
        order,
        r.body["intent_id"].as_str().unwrap(),
        6000,
        "EUR",
    );
    let r = app.deliver(&callback).await;
    assert_recorded(&r, StatusCode::OK, "order-", 3);
    assert_eq!(r.body["status"], json!("paid"));
    let r = app
        .admin(Method::POST, &format!("/api/v1/orders/{order}/ship"), None)
        .await;
    assert_recorded(&r, StatusCode::OK, "order-", 4);
    assert_eq!(r.body["status"], json!("shipped"));

    // A cancelled order gives its units back.
    let r = app.buy(&token, lamp, 4).await;
    let second = id_of(&r, "order_id");
    assert_eq!(app.stock(lamp).await, 1);
    let r = app
        .shopper(
            &token,
            Method::POST,
            &format!("/api/v1/orders/{second}/cancel/"),
            None,
        )
        .await;
    assert_recorded(&r, StatusCode::OK, "order-", 2);
    assert_eq!(app.stock(lamp).await, 5);

    let r = app
        .admin(Method::DELETE, &format!("/api/v1/products/{lamp}/"), None)
        .await;
    assert_recorded(&r, StatusCode::OK, "product-", 7);
    assert_eq!(r.body["discontinued"], json!(true));

    // Every stream's versions are 1, 2, 3 … in position order, and the store holds each event's metadata.
    assert_eq!(
        stream_versions(&app, &format!("product-{lamp}")).await,
        (1..=7).collect::<Vec<_>>()
    );
    assert_eq!(
        stream_versions(&app, &cart).await,
        (1..=7).collect::<Vec<_>>()
    );
    let actor: String =
        sqlx::query_scalar("SELECT metadata->>'actor' FROM events WHERE stream_id = $1 LIMIT 1")
            .bind(&cart)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, format!("session:{session_id}"));
    let outbox: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        outbox,
        app.event_count().await,
        "every event is enqueued for the relay"
    );
}

#[tokio::test]
async fn bad_input_gets_a_problem_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 1).await;
    let (_, token) = app.new_session().await;
    let (_, other) = app.new_session().await;
    let order = id_of(&app.buy(&token, product, 1).await, "order_id");
    let before = app.event_count().await;
    let products_before: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let raw = |path: &str, content_type: &str, body: Vec<u8>| {
        app.client()
            .post(app.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let new_product = |field: &str, value: Value| {
        let mut body = json!({"sku": "X-1", "name": "X", "description": "", "price_cents": 1,
                              "currency": "EUR", "category_id": category, "stock": 1});
        body[field] = value;
        body
    };

    // 400: not JSON at all.
    let r = Reply::from(
        raw(
            "/api/v1/categories/",
            "application/json",
            b"{\"name\": ".to_vec(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(&r, StatusCode::BAD_REQUEST, None);
    // 401: no token, a bad token, a session token where the admin's is needed.
    let r = app
        .post("/api/v1/categories/")
        .json(json!({"name": "a", "slug": "a"}))
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, None);
    let r = app
        .shopper(
            "forged.123.abc",
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": 1})),
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, None);
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/categories/",
            Some(json!({"name": "a", "slug": "a"})),
        )
        .await;
    assert_problem(&r, StatusCode::UNAUTHORIZED, None);
    // 404: unknown ids, another session's order.
    let r = app
        .admin(
            Method::PATCH,
            &format!("/api/v1/products/{}/", Uuid::now_v7()),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, None);
    let r = app
        .admin(
            Method::PATCH,
            "/api/v1/products/not-a-uuid/",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, None);
    let r = app
        .shopper(
            &other,
            Method::POST,
            &format!("/api/v1/orders/{order}/pay/"),
            Some(json!({"payment_reference": "p"})),
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, None);
    let r = app
        .shopper(
            &other,
            Method::POST,
            &format!("/api/v1/orders/{order}/cancel/"),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::NOT_FOUND, None);
    // 409: a taken slug, a taken sku, short stock (listing the product).
    let slug: String = sqlx::query_scalar("SELECT slug FROM categories LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = app
        .admin(
            Method::POST,
            "/api/v1/categories/",
            Some(json!({"name": "Dup", "slug": slug})),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, Some("slug"));
    let sku: String = sqlx::query_scalar("SELECT sku FROM products LIMIT 1")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = app
        .admin(
            Method::POST,
            "/api/v1/products/",
            Some(new_product("sku", json!(sku))),
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, Some("sku"));
    let (_, late) = app.new_session().await;
    let r = app.buy(&late, product, 1).await;
    assert_problem(
        &r,
        StatusCode::CONFLICT,
        Some(&format!("product:{product}")),
    );
    assert_eq!(r.body["insufficient"][0]["product_id"], json!(product));
    let before = before + 1; // the late shopper's cart line was a legitimate write
                             // 413: over the 64 KiB body limit.
    let big = json!({"name": "x".repeat(70 * 1024), "slug": "big"})
        .to_string()
        .into_bytes();
    let r = Reply::from(
        raw("/api/v1/categories/", "application/json", big)
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, None);
    // 415: not JSON.
    let r = Reply::from(
        raw("/api/v1/categories/", "text/plain", b"name=x".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_problem(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
    // 422: unknown field, wrong type, out of range, bad format, unknown reference, reserved slug.
    let cases = [
        (new_product("colour", json!("red")), "colour"),
        (new_product("price_cents", json!("cheap")), "price_cents"),
        (new_product("price_cents", json!(-1)), "price_cents"),
        (new_product("stock", json!(-5)), "stock"),
        (new_product("currency", json!("eur")), "currency"),
        (
            new_product("category_id", json!(Uuid::now_v7())),
            "category_id",
        ),
        (new_product("attributes", json!([1, 2])), "attributes"),
    ];
    for (body, field) in cases {
        let r = app
            .admin(Method::POST, "/api/v1/products/", Some(body))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some(field));
    }
    let r = app
        .admin(
            Method::POST,
            "/api/v1/categories/",
            Some(json!({"name": "All", "slug": "all"})),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("slug"));
    let r = app
        .admin(
            Method::POST,
            "/api/v1/categories/",
            Some(json!({"name": "Bad", "slug": "Bad Slug"})),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("slug"));
    for quantity in [0, -1, 1000] {
        let r = app
            .shopper(
                &token,
                Method::POST,
                "/api/v1/cart/",
                Some(json!({"product_id": product, "quantity": quantity})),
            )
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("quantity"));
    }
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": Uuid::now_v7(), "quantity": 1})),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("product_id"));
    let r = app
        .admin(
            Method::POST,
            &format!("/api/v1/products/{product}/stock/"),
            Some(json!({"delta": -1})),
        )
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, Some("delta"));
    // Checkout: no key, then an empty cart.
    let r = app
        .shopper(&token, Method::POST, "/api/v1/checkout/", None)
        .await;
    assert_problem(
        &r,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Idempotency-Key"),
    );
    let r = app
        .post("/api/v1/checkout/")
        .bearer(&token)
        .header("Idempotency-Key", "k-empty")
        .await;
    assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY, None);

    assert_eq!(
        app.event_count().await,
        before,
        "rejected commands wrote events"
    );
    let products_after: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(products_after, products_before);
    let keys: i64 =
        sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE key = 'k-empty'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(keys, 0, "a rejected checkout keeps no idempotency key");
}

#[tokio::test]
async fn a_stale_if_match_is_a_conflict_and_changes_nothing() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 1).await;
    let path = format!("/api/v1/products/{product}/");
    let r = app
        .patch(&path)
        .admin()
        .json(json!({"name": "A"}))
        .header("If-Match", "\"1\"")
        .await;
    assert_recorded(&r, StatusCode::OK, "product-", 2);
    let before = app.event_count().await;
    let r = app
        .patch(&path)
        .admin()
        .json(json!({"name": "B"}))
        .header("If-Match", "\"1\"")
        .await;
    assert_problem(&r, StatusCode::CONFLICT, Some("If-Match"));
    assert_eq!(r.body["current_version"], json!(2));
    assert_eq!(app.event_count().await, before);
    let name: String = sqlx::query_scalar("SELECT name FROM products WHERE id = $1")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(name, "A");
}

#[tokio::test]
async fn illegal_order_transitions_are_conflicts() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 10).await;
    let token = app.session().await;
    let order = id_of(&app.buy(&token, product, 1).await, "order_id");
    let pay = |order: Uuid| app.start_payment(&token, order);
    // placed → shipped is not a move.
    let r = app
        .admin(Method::POST, &format!("/api/v1/orders/{order}/ship/"), None)
        .await;
    assert_problem(&r, StatusCode::CONFLICT, None);
    assert_eq!(app.pay(&token, order).await.status, StatusCode::OK);
    assert_problem(&pay(order).await, StatusCode::CONFLICT, None);
    assert_eq!(
        app.admin(Method::POST, &format!("/api/v1/orders/{order}/ship/"), None)
            .await
            .status,
        StatusCode::OK
    );
    let before = app.event_count().await;
    let r = app
        .shopper(
            &token,
            Method::POST,
            &format!("/api/v1/orders/{order}/cancel/"),
            None,
        )
        .await;
    assert_problem(&r, StatusCode::CONFLICT, None);
    assert_eq!(
        app.stock(product).await,
        9,
        "a refused cancel returns no stock"
    );
    // cancelled is final.
    let second = id_of(&app.buy(&token, product, 1).await, "order_id");
    let cancel = format!("/api/v1/orders/{second}/cancel/");
    assert_eq!(
        app.shopper(&token, Method::POST, &cancel, None)
            .await
            .status,
        StatusCode::OK
    );
    assert_problem(
        &app.shopper(&token, Method::POST, &cancel, None).await,
        StatusCode::CONFLICT,
        None,
    );
    assert_problem(&pay(second).await, StatusCode::CONFLICT, None);
    assert_eq!(app.stock(product).await, 9);
    assert_eq!(
        app.event_count().await,
        before + 1 + 3 + 2,
        "only the second order's add, checkout and cancel"
    );
}

#[tokio::test]
async fn a_discontinued_product_in_the_cart_blocks_checkout() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 10).await;
    let token = app.session().await;
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        app.admin(
            Method::DELETE,
            &format!("/api/v1/products/{product}/"),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    let r = app
        .post("/api/v1/checkout/")
        .bearer(&token)
        .header("Idempotency-Key", "k1")
        .await;
    assert_problem(&r, StatusCode::CONFLICT, None);
    assert_eq!(app.stock(product).await, 10);
}

#[tokio::test]
async fn clearing_the_cart_removes_every_line_and_an_empty_cart_cannot_be_cleared() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let (a, b) = (
        app.create_product(category, 100, 10).await,
        app.create_product(category, 200, 10).await,
    );
    let (session_id, token) = app.new_session().await;
    for product in [a, b] {
        let body = json!({"product_id": product, "quantity": 2});
        let r = app
            .shopper(&token, Method::POST, "/api/v1/cart/", Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let stale = app
        .delete("/api/v1/cart/")
        .bearer(&token)
        .header("If-Match", "\"1\"")
        .await;
    assert_problem(&stale, StatusCode::CONFLICT, Some("If-Match"));

    let r = app
        .delete("/api/v1/cart")
        .bearer(&token)
        .header("If-Match", "\"2\"")
        .await;
    assert_recorded(&r, StatusCode::OK, "cart-", 4);
    assert_eq!(r.body["items"], json!([]));
    let cart = format!("cart-{session_id}");
    assert_eq!(stream_versions(&app, &cart).await, vec![1, 2, 3, 4]);
    let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_lines WHERE session_id = $1")
        .bind(session_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(lines, 0);

    let again = app
        .shopper(&token, Method::DELETE, "/api/v1/cart/", None)
        .await;
    assert_problem(&again, StatusCode::UNPROCESSABLE_ENTITY, None);
    let anonymous = app.delete("/api/v1/cart/").await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, None);
    assert_eq!(stream_versions(&app, &cart).await.len(), 4);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_another_body() {
    let app = TestApp::spawn_with(false).await;
    let body = json!({"name": "Garden", "slug": "garden"});
    let key = [("Idempotency-Key", "cat-garden")];
    let first = app
        .post("/api/v1/categories/")
        .admin()
        .json(body.clone())
        .headers(&key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let events = app.event_count().await;
    let again = app
        .post("/api/v1/categories/")
        .admin()
        .json(body)
        .headers(&key)
        .await;
    assert_eq!((again.status, &again.body), (first.status, &first.body));
    assert_eq!(
        again.header("x-stream-version"),
        first.header("x-stream-version")
    );
    let other = app
        .post("/api/v1/categories/")
        .admin()
        .json(json!({"name": "G", "slug": "g"}))
        .headers(&key)
        .await;
    assert_problem(
        &other,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some("Idempotency-Key"),
    );
    assert_eq!(app.event_count().await, events);
}

#[tokio::test]
async fn fifty_concurrent_checkouts_for_five_units_make_exactly_five_orders() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 999, 5).await;
    let mut tokens = Vec::new();
    for _ in 0..50 {
        let token = app.session().await;
        let r = app
            .shopper(
                &token,
                Method::POST,
                "/api/v1/cart/",
                Some(json!({"product_id": product, "quantity": 1})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        tokens.push(token);
    }
    let app = &app;
    let replies = join_all(tokens.iter().map(|token| {
        let key = Uuid::now_v7().to_string();
        async move {
            app.post("/api/v1/checkout/")
                .bearer(token)
                .header("Idempotency-Key", &key)
                .await
        }
    }))
    .await;
    let placed = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let short = replies
        .iter()
        .filter(|r| r.status == StatusCode::CONFLICT)
        .count();
    assert_eq!(
        (placed, short),
        (5, 45),
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(app.stock(product).await, 0);
    let orders: i64 = sqlx::query_scalar("SELECT count(*) FROM orders")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(orders, 5);
    let reserved: Vec<i64> = sqlx::query_scalar(
        "SELECT (payload->>'stock')::bigint FROM events WHERE event_type = 'stock_reserved' ORDER BY version",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        reserved,
        vec![4, 3, 2, 1, 0],
        "each reservation saw the previous one's stock"
    );
}

#[tokio::test]
async fn a_retried_checkout_returns_the_same_order_and_writes_once() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 250, 100).await;

    // Sequential retry.
    let token = app.session().await;
    let first = app.buy(&token, product, 2).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let events = app.event_count().await;
    let key = [("Idempotency-Key", "retry-me")];
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let a = app
        .post("/api/v1/checkout/")
        .bearer(&token)
        .headers(&key)
        .await;
    let b = app
        .post("/api/v1/checkout/")
        .bearer(&token)
        .headers(&key)
        .await;
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!((b.status, &b.body), (a.status, &a.body));
    assert_eq!(
        app.event_count().await,
        events + 1 + 3,
        "one add, one checkout"
    );

    // Eight concurrent retries of one checkout.
    let token = app.session().await;
    let r = app
        .shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let before = app.event_count().await;
    let stock = app.stock(product).await;
    let replies = join_all((0..8).map(|_| {
        app.post("/api/v1/checkout/")
            .bearer(&token)
            .header("Idempotency-Key", "same-key")
            .send()
    }))
    .await;
    for r in &replies {
        assert_eq!((r.status, &r.body), (replies[0].status, &replies[0].body));
    }
    assert_eq!(replies[0].status, StatusCode::CREATED);
    assert_eq!(
        app.event_count().await,
        before + 3,
        "OrderPlaced, StockReserved, CartCheckedOut once"
    );
    assert_eq!(app.stock(product).await, stock - 3);
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let app = TestApp::spawn_with(false).await;
    app.create_category().await;
    let get = |path: &'static str| app.client().get(app.url(path)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(metrics.contains("vitrine_db_pool_connections"), "{metrics}");
}

#[tokio::test]
async fn idempotency_keys_are_forgotten_after_their_ttl_and_fresh_ones_are_kept() {
    let app = TestApp::spawn_with(false).await;
    let post = |slug: &'static str, key: &'static str| {
        let app = &app;
        async move {
            app.post("/api/v1/categories/")
                .admin()
                .json(json!({"name": slug, "slug": slug}))
                .header("Idempotency-Key", key)
                .await
        }
    };
    assert_eq!(post("old", "k-old").await.status, StatusCode::CREATED);
    assert_eq!(post("new", "k-new").await.status, StatusCode::CREATED);
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'k-old'",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let expired =
        command_api::idempotency::expire(&app.pool, std::time::Duration::from_secs(24 * 3600))
            .await
            .unwrap();
    assert_eq!(expired, 1);

    // The fresh key still replays its first answer...
    let events = app.event_count().await;
    let replay = post("new", "k-new").await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(app.event_count().await, events, "a replay writes nothing");
    // ...while the forgotten one is a new request: here a duplicate slug, so a conflict.
    assert_eq!(post("old", "k-old").await.status, StatusCode::CONFLICT);
}
