//! Payment deadlines and per-session limits: an unpaid order expires and its stock
//! returns, across a restart and exactly once across instances; a paid order never
//! expires; a session holds at most three unpaid orders and ten units per line.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use command_api::deadlines::{self, Outcome};

use crate::helpers::{Reply, TestApp};

fn order_id(r: &Reply) -> Uuid {
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["order_id"].as_str().unwrap().parse().unwrap()
}

/// Polls (bounded) until `order` has `status`.
async fn wait_for_status(app: &TestApp, order: Uuid, status: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let now = app.order_status(order).await;
        if now == status {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "order {order} is still {now}, not {status}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls (bounded) until the store's clock is past `order`'s deadline.
async fn wait_past_deadline(app: &TestApp, order: Uuid) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let past: bool = sqlx::query_scalar("SELECT now() > pay_by FROM orders WHERE id = $1")
            .bind(order)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        if past {
            return;
        }
        assert!(Instant::now() < deadline, "the deadline never passed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn timers(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM order_deadlines")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unpaid_order_expires_and_its_stock_returns_across_a_restart() {
    let timeout = |c: &mut command_api::Config| {
        c.orders.order_payment_timeout = Duration::from_secs(2);
    };
    let first = TestApp::spawn_custom(false, None, timeout).await;
    let category = first.create_category().await;
    let product = first.create_product(category, 700, 5).await;
    let token = first.session().await;
    let placed = first.buy(&token, product, 3).await;
    let order = order_id(&placed);
    assert!(placed.body["pay_by"].is_string(), "{:?}", placed.body);
    // Started, never confirmed: still unpaid.
    assert_eq!(
        first.start_payment(&token, order).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(first.stock(product).await, 2);
    assert_eq!(timers(&first).await, 1);

    // The instance holding the timer goes away before the deadline.
    first.stop();
    assert_eq!(first.order_status(order).await, "placed");

    // Another instance of the store (same database) acts on the deadline it never saw set.
    let second = TestApp::spawn_custom(false, Some(&first.config.database_url), timeout).await;
    wait_for_status(&second, order, "expired", Duration::from_secs(15)).await;
    assert_eq!(
        second.stock(product).await,
        5,
        "the reserved units returned"
    );
    assert_eq!(second.events_of("order_expired").await, 1);
    assert_eq!(second.events_of("stock_released").await, 1);
    assert_eq!(timers(&second).await, 0);
    let actor: String = sqlx::query_scalar(
        "SELECT metadata->>'actor' FROM events WHERE event_type = 'order_expired'",
    )
    .fetch_one(&second.pool)
    .await
    .unwrap();
    assert_eq!(actor, "system:order-deadlines");
    // An expired order can be neither paid nor cancelled.
    let cancel = format!("/api/v1/orders/{order}/cancel/");
    assert_eq!(
        second
            .shopper(&token, Method::POST, &cancel, None)
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        second.start_payment(&token, order).await.status,
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn a_paid_order_never_expires() {
    let app = TestApp::spawn_custom(false, None, |c| {
        c.orders.order_payment_timeout = Duration::from_secs(1);
        // The test drives the process manager by hand.
        c.orders.order_deadline_poll_ms = 3_600_000;
    })
    .await;
    let category = app.create_category().await;
    let product = app.create_product(category, 700, 5).await;
    let token = app.session().await;
    let order = order_id(&app.buy(&token, product, 2).await);
    assert_eq!(app.pay(&token, order).await.status, StatusCode::OK);
    assert_eq!(timers(&app).await, 0, "paying removed the timer");
    wait_past_deadline(&app, order).await;
    assert_eq!(deadlines::expire_one(&app.state).await.unwrap(), None);
    assert_eq!(app.order_status(order).await, "paid");
    assert_eq!(app.stock(product).await, 3);
    assert_eq!(app.events_of("order_expired").await, 0);
}

#[tokio::test]
async fn an_order_paid_while_its_timer_is_due_is_dropped_not_expired() {
    let app = TestApp::spawn_custom(false, None, |c| {
        c.orders.order_payment_timeout = Duration::from_secs(1);
        c.orders.order_deadline_poll_ms = 3_600_000;
    })
    .await;
    let category = app.create_category().await;
    let product = app.create_product(category, 700, 5).await;
    let token = app.session().await;
    let order = order_id(&app.buy(&token, product, 1).await);
    // The order went its way without removing its timer (as if paid by an older build).
    sqlx::query("UPDATE orders SET status = 'paid' WHERE id = $1")
        .bind(order)
        .execute(&app.pool)
        .await
        .unwrap();
    wait_past_deadline(&app, order).await;
    assert_eq!(
        deadlines::expire_one(&app.state).await.unwrap(),
        Some(Outcome::Dropped(order))
    );
    assert_eq!(timers(&app).await, 0);
    assert_eq!(app.events_of("order_expired").await, 0);
}

#[tokio::test]
async fn two_instances_never_expire_one_order_twice() {
    let config = |c: &mut command_api::Config| {
        c.orders.order_payment_timeout = Duration::from_secs(1);
        c.orders.order_deadline_poll_ms = 3_600_000;
    };
    let a = TestApp::spawn_custom(false, None, config).await;
    let b = TestApp::spawn_custom(false, Some(&a.config.database_url), config).await;
    let category = a.create_category().await;
    let product = a.create_product(category, 100, 40).await;
    let mut orders = Vec::new();
    for _ in 0..12 {
        let token = a.session().await;
        orders.push(order_id(&a.buy(&token, product, 2).await));
    }
    assert_eq!(a.stock(product).await, 16);
    wait_past_deadline(&a, *orders.last().unwrap()).await;
    // Both instances claim as fast as they can, at the same time, until nothing is due.
    let drain = |app: &TestApp| {
        let state = app.state.clone();
        async move {
            let mut mine = Vec::new();
            while let Some(outcome) = deadlines::expire_one(&state).await.unwrap() {
                mine.push(outcome);
            }
            mine
        }
    };
    let results = join_all([drain(&a), drain(&b), drain(&a), drain(&b)]).await;
    let mut expired: Vec<Uuid> = results
        .iter()
        .flatten()
        .map(|o| match o {
            Outcome::Expired(id) => *id,
            Outcome::Dropped(id) => panic!("{id} was dropped, not expired"),
        })
        .collect();
    expired.sort();
    orders.sort();
    assert_eq!(expired, orders, "each order expired by exactly one claim");
    assert_eq!(a.events_of("order_expired").await, 12);
    assert_eq!(a.stock(product).await, 40);
    assert_eq!(timers(&a).await, 0);
}

#[tokio::test]
async fn a_session_holds_at_most_three_unpaid_orders() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 50).await;
    let token = app.session().await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        orders.push(order_id(&app.buy(&token, product, 1).await));
    }
    let before = app.event_count().await;
    let fourth = app.buy(&token, product, 1).await;
    assert_eq!(fourth.status, StatusCode::CONFLICT, "{:?}", fourth.body);
    assert_eq!(fourth.header("content-type"), "application/problem+json");
    assert!(fourth.body["detail"].as_str().unwrap().contains("unpaid"));
    assert_eq!(
        app.event_count().await,
        before + 1,
        "only the add to cart; the checkout recorded nothing"
    );
    assert_eq!(app.stock(product).await, 47);
    // Another session is not limited by this one.
    let other = app.session().await;
    order_id(&app.buy(&other, product, 1).await);
    // Paying one frees a place (the cart still holds the line).
    assert_eq!(app.pay(&token, orders[0]).await.status, StatusCode::OK);
    let key = Uuid::now_v7().to_string();
    let r = app
        .post("/api/v1/checkout/")
        .bearer(&token)
        .header("Idempotency-Key", &key)
        .await;
    order_id(&r);
}

#[tokio::test]
async fn a_cart_line_holds_at_most_the_configured_quantity() {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 500).await;
    let token = app.session().await;
    let add = |quantity: i32| {
        app.shopper(
            &token,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": quantity})),
        )
    };
    let r = add(11).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["errors"][0]["field"], json!("quantity"));
    assert!(r.body["detail"].as_str().unwrap().contains("10"));
    assert_eq!(add(8).await.status, StatusCode::OK);
    let r = add(3).await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "8 + 3 is over 10"
    );
    assert_eq!(add(2).await.status, StatusCode::OK);
    let set = app
        .shopper(
            &token,
            Method::PUT,
            &format!("/api/v1/cart/items/{product}/"),
            Some(json!({"quantity": 11})),
        )
        .await;
    assert_eq!(set.status, StatusCode::UNPROCESSABLE_ENTITY);
    let line: i32 = sqlx::query_scalar("SELECT quantity FROM cart_lines WHERE product_id = $1")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(line, 10);
}
