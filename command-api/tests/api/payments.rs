//! Payments: the shopper starts one, only the provider's signed callback pays; forged,
//! stale, replayed or mismatched callbacks change nothing.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;
use vitrine_contract::payment::{sign, WebhookKind};

use crate::helpers::{Reply, TestApp, WEBHOOK_SECRET};

fn order_id(r: &Reply) -> Uuid {
    r.body["order_id"].as_str().unwrap().parse().unwrap()
}

fn assert_problem(r: &Reply, status: StatusCode) {
    assert_eq!(r.status, status, "{:?}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
}

/// A placed order of 2 units at 1500: `(app, token, order, product)`.
async fn placed_order() -> (TestApp, String, Uuid, Uuid) {
    let app = TestApp::spawn_with(false).await;
    let category = app.create_category().await;
    let product = app.create_product(category, 1500, 10).await;
    let token = app.session().await;
    let r = app.buy(&token, product, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let order = order_id(&r);
    (app, token, order, product)
}

async fn webhook_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM payment_webhook_events")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn starting_a_payment_does_not_pay_and_only_the_signed_callback_does() {
    let (app, token, order, _) = placed_order().await;
    let started = app.start_payment(&token, order).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{:?}", started.body);
    let intent = started.body["intent_id"].as_str().unwrap().to_owned();
    assert!(intent.starts_with("pi_"));
    assert!(started.body["client_secret"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{intent}_secret_")));
    assert_eq!(
        (
            started.body["amount_cents"].clone(),
            started.body["currency"].clone(),
            started.body["status"].clone(),
            started.body["payment_status"].clone()
        ),
        (json!(3000), json!("EUR"), json!("placed"), json!("pending"))
    );
    assert_eq!(app.order_status(order).await, "placed");
    // A retried start answers the same pending intent.
    let again = app.start_payment(&token, order).await;
    assert_eq!(again.body["intent_id"], json!(intent));
    assert_eq!(app.events_of("payment_started").await, 1);
    // Not paid: the admin cannot ship it.
    let ship = format!("/api/v1/orders/{order}/ship/");
    assert_problem(
        &app.admin(Method::POST, &ship, None).await,
        StatusCode::CONFLICT,
    );

    let callback = app
        .provider()
        .callback(WebhookKind::Succeeded, order, &intent, 3000, "EUR");
    let r = app.deliver(&callback).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["status"].clone(), r.body["payment_status"].clone()),
        (json!("paid"), json!("paid"))
    );
    assert_eq!(app.order_status(order).await, "paid");
    let actor: String =
        sqlx::query_scalar("SELECT metadata->>'actor' FROM events WHERE event_type = 'order_paid'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(actor, "system:payment-provider");
    assert_eq!(
        app.admin(Method::POST, &ship, None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_forged_stale_unsigned_or_unknown_callback_is_refused_and_records_nothing() {
    let (app, token, order, _) = placed_order().await;
    let started = app.start_payment(&token, order).await;
    let intent = started.body["intent_id"].as_str().unwrap().to_owned();
    let before = app.event_count().await;
    let good = app
        .provider()
        .callback(WebhookKind::Succeeded, order, &intent, 3000, "EUR");
    let now = chrono::Utc::now().timestamp();

    // Signed with another secret.
    let forged =
        vitrine_contract::payment::FakeProvider::new("not-the-shared-secret-not-the-shared")
            .callback(WebhookKind::Succeeded, order, &intent, 3000, "EUR");
    assert_problem(&app.deliver(&forged).await, StatusCode::UNAUTHORIZED);
    // A captured callback replayed after the tolerance window (5 minutes).
    let stale = app.provider().sign(good.event.clone(), now - 301);
    assert_problem(&app.deliver(&stale).await, StatusCode::UNAUTHORIZED);
    // No signature, a malformed one, and a body changed after signing.
    assert_problem(
        &app.deliver_raw(None, good.body.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    assert_problem(
        &app.deliver_raw(Some("v1=zz"), good.body.clone()).await,
        StatusCode::UNAUTHORIZED,
    );
    let mut tampered: Value = serde_json::from_slice(&good.body).unwrap();
    tampered["data"]["amount_cents"] = json!(1);
    assert_problem(
        &app.deliver_raw(
            Some(&good.signature),
            serde_json::to_vec(&tampered).unwrap(),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    );
    // Correctly signed, but for an order this store never had.
    let unknown =
        app.provider()
            .callback(WebhookKind::Succeeded, Uuid::now_v7(), &intent, 3000, "EUR");
    assert_problem(&app.deliver(&unknown).await, StatusCode::BAD_REQUEST);
    // Correctly signed, not JSON of the right shape.
    let body = br#"{"id":"evt_x","type":"payment.refunded","created":0,"data":{}}"#.to_vec();
    let signature = sign(WEBHOOK_SECRET.as_bytes(), now, &body);
    assert_problem(
        &app.deliver_raw(Some(&signature), body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );

    assert_eq!(app.event_count().await, before, "nothing recorded");
    assert_eq!(webhook_rows(&app).await, 0, "no event id remembered");
    assert_eq!(app.order_status(order).await, "placed");
    // The genuine callback still goes through.
    assert_eq!(app.deliver(&good).await.status, StatusCode::OK);
    assert_eq!(app.order_status(order).await, "paid");
}

#[tokio::test]
async fn a_redelivered_callback_answers_200_and_pays_once() {
    let (app, token, order, _) = placed_order().await;
    let started = app.start_payment(&token, order).await;
    let intent = started.body["intent_id"].as_str().unwrap().to_owned();
    let first = app
        .provider()
        .callback(WebhookKind::Succeeded, order, &intent, 3000, "EUR");
    // Providers retry: the same event, signed again at delivery time, sent at once.
    let app = &app;
    let replies = join_all((0..4).map(|_| {
        let retry = app
            .provider()
            .sign(first.event.clone(), chrono::Utc::now().timestamp());
        async move { app.deliver(&retry).await }
    }))
    .await;
    for r in &replies {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["status"], json!("paid"));
    }
    assert_eq!(app.events_of("order_paid").await, 1);
    assert_eq!(webhook_rows(app).await, 1);
    // A different event reporting the same success changes nothing either.
    let other = app
        .provider()
        .callback(WebhookKind::Succeeded, order, &intent, 3000, "EUR");
    assert_eq!(app.deliver(&other).await.status, StatusCode::OK);
    assert_eq!(app.events_of("order_paid").await, 1);
}

#[tokio::test]
async fn a_callback_for_another_amount_currency_or_intent_is_refused() {
    let (app, token, order, _) = placed_order().await;
    let started = app.start_payment(&token, order).await;
    let intent = started.body["intent_id"].as_str().unwrap().to_owned();
    let before = app.event_count().await;
    let provider = app.provider();
    for (intent, amount, currency, field) in [
        (intent.as_str(), 2999, "EUR", "data.amount_cents"),
        (intent.as_str(), 3000, "USD", "data.amount_cents"),
        ("pi_someone_elses", 3000, "EUR", "data.intent_id"),
    ] {
        let r = app
            .deliver(&provider.callback(WebhookKind::Succeeded, order, intent, amount, currency))
            .await;
        assert_problem(&r, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["errors"][0]["field"], json!(field), "{:?}", r.body);
    }
    assert_eq!(app.event_count().await, before);
    assert_eq!(webhook_rows(&app).await, 0);
}

#[tokio::test]
async fn a_failed_payment_keeps_the_order_placed_and_a_new_attempt_can_pay_it() {
    let (app, token, order, _) = placed_order().await;
    let started = app.start_payment(&token, order).await;
    let first = started.body["intent_id"].as_str().unwrap().to_owned();
    let failed = app
        .provider()
        .callback(WebhookKind::Failed, order, &first, 3000, "EUR");
    let r = app.deliver(&failed).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        (r.body["status"].clone(), r.body["payment_status"].clone()),
        (json!("placed"), json!("failed"))
    );
    let reason: String = sqlx::query_scalar(
        "SELECT payload->>'reason' FROM events WHERE event_type = 'payment_failed'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(reason, "card_declined");
    let retry = app.start_payment(&token, order).await;
    let second = retry.body["intent_id"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "a new attempt gets a new intent");
    let paid = app
        .provider()
        .callback(WebhookKind::Succeeded, order, &second, 3000, "EUR");
    assert_eq!(app.deliver(&paid).await.body["status"], json!("paid"));
    // Paid orders cannot be paid again.
    assert_problem(
        &app.start_payment(&token, order).await,
        StatusCode::CONFLICT,
    );
}
