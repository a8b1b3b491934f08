//! Every read on a Redis hit and on a miss: body, headers and exact lookup counts.

use crate::helpers::*;
use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, Sort};

const HIT: &str = "redis=1; sql=0";
/// HMGET, SELECT, then the EVALSHA write-back.
const MISS: &str = "redis=2; sql=1";

#[tokio::test]
async fn product_detail_misses_once_then_hits_with_one_redis_command() {
    let app = TestApp::start().await;
    let id = Uuid::now_v7();
    let doc = product_doc(id, 3, "Travel camera");
    let rev = project_to_postgres(&app, 1, &doc_key::product(id), Some(&doc)).await;

    let miss = app.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!(miss.status, StatusCode::OK);
    assert_eq!(miss.lookups(), MISS);
    assert_eq!(
        miss.text(),
        doc,
        "the document's bytes are served as stored"
    );
    assert_eq!(miss.header("content-type"), "application/json");
    assert_eq!(
        miss.header("cache-control"),
        "public, max-age=0, s-maxage=2, stale-while-revalidate=1"
    );
    assert_eq!(miss.header("etag"), format!("\"v1-{rev}\""));

    // The slash-less path is the same read, now from Redis.
    let hit = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.lookups(), HIT);
    assert_eq!(hit.text(), doc);
    assert_eq!(hit.header("etag"), miss.header("etag"));

    let etag = hit.header("etag").to_owned();
    let revalidated = app
        .get(&format!("/api/v1/products/{id}/"))
        .header("if-none-match", &etag)
        .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
    assert_eq!(revalidated.header("etag"), etag);

    let head = app
        .send(
            axum::http::Request::head(format!("/api/v1/products/{id}/"))
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.lookups(), HIT);
}

#[tokio::test]
async fn a_projector_write_changes_the_etag_and_the_body() {
    let app = TestApp::start().await;
    let id = Uuid::now_v7();
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Old name")),
    )
    .await;
    let first = app.get(&format!("/api/v1/products/{id}/")).await;
    assert_eq!(first.lookups(), HIT);
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 2, "New name")),
    )
    .await;
    let second = app
        .get(&format!("/api/v1/products/{id}/"))
        .header("if-none-match", first.header("etag"))
        .await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.json()["name"], "New name");
    assert_ne!(second.header("etag"), first.header("etag"));
}

#[tokio::test]
async fn unknown_and_deleted_products_are_404_problems() {
    let app = TestApp::start().await;
    let unknown_uri = format!("/api/v1/products/{}/", Uuid::now_v7());
    let unknown = app.get(&unknown_uri).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.header("content-type"), "application/problem+json");
    assert_eq!(unknown.json()["status"], 404);
    // A document that never existed: its absence is remembered (negative cache)...
    assert_eq!(unknown.lookups(), "redis=2; sql=1");
    let again = app.get(&unknown_uri).await;
    assert_eq!(
        (again.status, again.lookups()),
        (StatusCode::NOT_FOUND, HIT)
    );

    let gone = Uuid::now_v7();
    project_to_postgres(&app, 1, &doc_key::product(gone), None).await;
    let miss = app.get(&format!("/api/v1/products/{gone}/")).await;
    assert_eq!((miss.status, miss.lookups()), (StatusCode::NOT_FOUND, MISS));
    // The tombstone was written back: the next 404 costs one Redis command.
    let hit = app.get(&format!("/api/v1/products/{gone}/")).await;
    assert_eq!((hit.status, hit.lookups()), (StatusCode::NOT_FOUND, HIT));

    let malformed = app.get("/api/v1/products/not-a-uuid/").await;
    assert_eq!(malformed.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_pages_categories_and_recommendations_miss_once_then_hit() {
    let app = TestApp::start().await;
    let product = Uuid::now_v7();
    let page = json!({"category": "cameras", "sort": "price", "page": 2, "page_size": 20, "total": 21, "pages": 2,
        "items": [{"id": product, "slug": "travel-camera", "name": "Travel camera", "price_cents": 12900,
                   "currency": "EUR", "image_url": null, "stock_status": "in_stock", "category_slug": "cameras"}]})
    .to_string();
    let categories = json!({"categories": [{"id": Uuid::now_v7(), "name": "Cameras", "slug": "cameras", "children": []}]}).to_string();
    let recs = json!({"product_id": product, "items": [{"id": Uuid::now_v7(), "name": "Tripod"}]})
        .to_string();
    project_to_postgres(
        &app,
        1,
        &doc_key::product_list("cameras", Sort::Price, 2),
        Some(&page),
    )
    .await;
    project_to_postgres(&app, 1, &doc_key::categories(), Some(&categories)).await;
    project_to_postgres(&app, 1, &doc_key::recommendations(product), Some(&recs)).await;

    let cases = [
        (
            "/api/v1/products/?category=cameras&sort=price&page=2",
            &page,
            "public, max-age=0, s-maxage=2, stale-while-revalidate=1",
        ),
        (
            "/api/v1/categories/",
            &categories,
            "public, max-age=0, s-maxage=2, stale-while-revalidate=1, stale-if-error=300",
        ),
        (
            &*format!("/api/v1/products/{product}/recommendations/"),
            &recs,
            "public, max-age=0, s-maxage=2, stale-while-revalidate=1",
        ),
    ];
    for (uri, body, cache_control) in cases {
        let miss = app.get(uri).await;
        assert_eq!(
            (miss.status, miss.lookups()),
            (StatusCode::OK, MISS),
            "{uri}"
        );
        assert_eq!(miss.text(), body.as_str(), "{uri}");
        assert_eq!(miss.header("cache-control"), cache_control, "{uri}");
        assert!(miss.header("etag").starts_with("\"v1-"), "{uri}");
        let slashless = uri.replacen("/?", "?", 1).trim_end_matches('/').to_owned();
        let hit = app.get(&slashless).await;
        assert_eq!(
            (hit.status, hit.lookups()),
            (StatusCode::OK, HIT),
            "{slashless}"
        );
        assert_eq!(hit.text(), body.as_str(), "{slashless}");
    }
}

#[tokio::test]
async fn absent_documents_answer_empty_bodies() {
    let app = TestApp::start().await;
    let categories = app.get("/api/v1/categories/").await;
    assert_eq!(categories.status, StatusCode::OK);
    assert_eq!(categories.json(), json!({"categories": []}));
    let product = Uuid::now_v7();
    let recs = app
        .get(&format!("/api/v1/products/{product}/recommendations/"))
        .await;
    assert_eq!(recs.json(), json!({"product_id": product, "items": []}));
    let first_page = app.get("/api/v1/products/").await;
    assert_eq!(first_page.status, StatusCode::OK);
    assert_eq!(first_page.json()["items"], json!([]));
    assert_eq!(first_page.json()["sort"], "name");
    let beyond = app.get("/api/v1/products/?page=7").await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    let session = Uuid::now_v7();
    let cart = app.get("/api/v1/cart/").session(session).await;
    assert_eq!(cart.status, StatusCode::OK);
    assert_eq!(cart.json()["lines"], json!([]));
    assert_eq!(cart.json()["session_id"], json!(session));
    assert_eq!(cart.header("cache-control"), "private, no-store");
    let orders = app.get("/api/v1/orders/").session(session).await;
    assert_eq!(orders.json(), json!({"session_id": session, "orders": []}));
}

#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case_as_command_api_accepts_it() {
    let app = TestApp::start().await;
    let session = Uuid::now_v7();
    let token = token(session);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let cart = app
            .get("/api/v1/cart/")
            .header("authorization", &format!("{scheme} {token}"))
            .await;
        assert_eq!(cart.status, StatusCode::OK, "{scheme}");
        assert_eq!(cart.json()["session_id"], json!(session));
    }
    let basic = app
        .get("/api/v1/cart/")
        .header("authorization", &format!("Basic {token}"))
        .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_parameters_are_400_problems_naming_the_field() {
    let app = TestApp::start().await;
    for (uri, field) in [
        ("/api/v1/products/?sort=cheapest", "sort"),
        ("/api/v1/products/?page=0", "page"),
        ("/api/v1/products/?page=two", "page"),
        ("/api/v1/products/?category=Bad%20Slug", "category"),
        ("/api/v1/products/search/?q=%20%20", "q"),
        ("/api/v1/products/search/", "q"),
        ("/api/v1/products/search/?q=camera&page=0", "page"),
        (
            &*format!("/api/v1/products/{}/?min_version=zero", Uuid::now_v7()),
            "min_version",
        ),
    ] {
        let answer = app.get(uri).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(
            answer.header("content-type"),
            "application/problem+json",
            "{uri}"
        );
        let problem = answer.json();
        assert_eq!(problem["status"], 400, "{uri}");
        assert_eq!(problem["errors"][0]["field"], field, "{uri}");
        assert!(
            problem["title"].is_string()
                && problem["type"].is_string()
                && problem["detail"].is_string()
        );
        assert_eq!(
            answer.lookups(),
            "redis=0; sql=0",
            "{uri}: bad input costs no lookup"
        );
    }
}

#[tokio::test]
async fn session_reads_need_a_valid_token_and_hide_other_sessions_orders() {
    let app = TestApp::start().await;
    let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
    let cart = json!({"session_id": mine, "version": 2, "items": [{"product_id": Uuid::now_v7(), "quantity": 1}], "total_cents": 12900}).to_string();
    let order_id = Uuid::now_v7();
    let order = json!({"id": order_id, "session_id": mine, "version": 1, "status": "placed", "total_cents": 12900}).to_string();
    let orders =
        json!({"session_id": mine, "orders": [{"id": order_id, "status": "placed"}]}).to_string();
    project_to_postgres(&app, 1, &doc_key::cart(mine), Some(&cart)).await;
    project_to_postgres(&app, 1, &doc_key::order(order_id), Some(&order)).await;
    project_to_postgres(&app, 1, &doc_key::orders(mine), Some(&orders)).await;

    let auth = bearer(mine);
    for (uri, body) in [
        ("/api/v1/cart/", &cart),
        ("/api/v1/orders/", &orders),
        (&*format!("/api/v1/orders/{order_id}/"), &order),
    ] {
        let miss = app.get(uri).header("authorization", &auth).await;
        assert_eq!(
            (miss.status, miss.lookups()),
            (StatusCode::OK, MISS),
            "{uri}"
        );
        assert_eq!(miss.text(), body.as_str());
        assert_eq!(miss.header("cache-control"), "private, no-store");
        let hit = app
            .get(uri.trim_end_matches('/'))
            .header("authorization", &auth)
            .await;
        assert_eq!((hit.status, hit.lookups()), (StatusCode::OK, HIT), "{uri}");
        assert_eq!(hit.text(), body.as_str());
        let anonymous = app.get(uri).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(anonymous.header("content-type"), "application/problem+json");
        let forged = app
            .get(uri)
            .header("authorization", &format!("Bearer {mine}.9999999999.00ff"))
            .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{uri}");
    }

    // Another session sees its own (empty) cart, and no trace of the order.
    let other = bearer(theirs);
    let their_order = app
        .get(&format!("/api/v1/orders/{order_id}/"))
        .header("authorization", &other)
        .await;
    assert_eq!(their_order.status, StatusCode::NOT_FOUND);
    assert_eq!(their_order.json()["status"], 404);
    let their_cart = app
        .get("/api/v1/cart/")
        .header("authorization", &other)
        .await;
    assert_eq!(their_cart.json()["lines"], json!([]));
}

#[tokio::test]
async fn search_runs_one_statement_on_a_miss_and_one_get_on_a_hit() {
    let app = TestApp::start().await;
    for (name, description) in [
        ("Travel camera", "compact zoom"),
        ("Camera bag", "padded"),
        ("Tripod", "for any camera"),
    ] {
        let id = Uuid::now_v7();
        let item = json!({"id": id, "slug": name.to_lowercase().replace(' ', "-"), "name": name, "price_cents": 1000,
            "currency": "EUR", "image_url": null, "stock_status": "in_stock", "category_slug": "cameras"});
        sqlx::query(
            "INSERT INTO rm_search (rm_version, product_id, item, name, tsv)
             VALUES (1, $1, $2, $3, to_tsvector('english', $3 || ' ' || $4))",
        )
        .bind(id)
        .bind(item)
        .bind(name)
        .bind(description)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let miss = app
        .get("/api/v1/products/search/?q=%20Camera%20&page=1")
        .await;
    assert_eq!(
        (miss.status, miss.lookups()),
        (StatusCode::OK, "redis=2; sql=1")
    );
    let results = miss.json();
    assert_eq!(results["query"], "camera");
    assert_eq!(results["total"], 3);
    assert_eq!(results["pages"], 1);
    assert_eq!(results["items"].as_array().unwrap().len(), 3);
    assert_eq!(
        miss.header("cache-control"),
        "public, max-age=0, s-maxage=2, stale-while-revalidate=1"
    );
    // Another spelling of the same normalized query hits the cache.
    let hit = app.get("/api/v1/products/search?q=CAMERA").await;
    assert_eq!(
        (hit.status, hit.lookups()),
        (StatusCode::OK, "redis=1; sql=0")
    );
    assert_eq!(hit.body, miss.body);
    let none = app.get("/api/v1/products/search/?q=submarine").await;
    assert_eq!(none.json()["total"], 0);
    assert_eq!(none.json()["items"], json!([]));

    // A catalog change moves the cache key: the next search misses, with no extra lookup on hits.
    sqlx::query("UPDATE rm_live SET catalog_gen = catalog_gen + 1")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let after = app.get("/api/v1/products/search/?q=camera").await;
        if after.lookups() == "redis=2; sql=1" {
            assert_ne!(after.header("etag"), hit.header("etag"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "catalog generation not followed within 2 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn instances_follow_a_read_model_version_flip_within_a_second() {
    let app = TestApp::start().await;
    let id = Uuid::now_v7();
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Shape one")),
    )
    .await;
    project(
        &app,
        2,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Shape two")),
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/v1/products/{id}/")).await.json()["name"],
        "Shape one"
    );
    sqlx::query("UPDATE rm_live SET version = 2, flipped_at = now()")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let flipped = tokio::time::Instant::now();
    loop {
        let answer = app.get(&format!("/api/v1/products/{id}/")).await;
        if answer.json()["name"] == "Shape two" {
            assert_eq!(answer.lookups(), HIT);
            assert!(answer.header("etag").starts_with("\"v2-"));
            break;
        }
        assert!(
            flipped.elapsed() < std::time::Duration::from_secs(1),
            "flip not followed within a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_export_lookups_per_route() {
    let app = TestApp::start().await;
    app.get("/api/v1/categories/").await;
    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    // Several apps share one process recorder; whichever installed it renders the counters.
    let text = metrics.text();
    if text.contains("vitrine_") {
        assert!(text.contains("vitrine_db_pool_connections"));
    }
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ok");
}
