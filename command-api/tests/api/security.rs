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
        // `pay/` takes no body any more (it starts a payment at the provider); the
        // payment callback's strings are checked by its own route (payments tests).
    ];
    for (method, path, body, field, token) in cases {
        let r = app
            .call(method.clone(), &path)
            .bearer(&token)
            .json(body)
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

/// Runs the command-api binary with only `vars` for configuration (and no tracing noise);
/// its exit status and what it printed.
fn run_binary(args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_command-api"));
    command
        .args(args)
        .env_remove("SESSION_SECRET")
        .env_remove("SESSION_SECRET_PREVIOUS")
        .env_remove("ADMIN_TOKEN")
        .env_remove("PAYMENT_WEBHOOK_SECRET")
        .env_remove("VITRINE_DEV_MODE")
        .env("LISTEN_ADDR", "127.0.0.1:0")
        // Nothing listens here: a program that got past the secrets fails on connecting.
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:9/none")
        .env("DB_ACQUIRE_TIMEOUT_MS", "200")
        .env("RUST_LOG", "warn");
    for (k, v) in vars {
        command.env(k, v);
    }
    let out = command.output().expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

const STRONG: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

#[test]
fn the_program_refuses_to_start_with_missing_default_or_short_secrets_outside_development_mode() {
    for (vars, names) in [
        (vec![], "SESSION_SECRET"),
        (
            vec![
                ("SESSION_SECRET", "dev-session-secret"),
                ("ADMIN_TOKEN", STRONG),
            ],
            "SESSION_SECRET",
        ),
        (
            vec![
                ("SESSION_SECRET", STRONG),
                ("ADMIN_TOKEN", "dev-admin-token"),
            ],
            "ADMIN_TOKEN",
        ),
        (
            vec![
                ("SESSION_SECRET", STRONG),
                ("ADMIN_TOKEN", "sixteen-bytes-ok"),
            ],
            "ADMIN_TOKEN",
        ),
        (
            vec![
                ("SESSION_SECRET", STRONG),
                ("ADMIN_TOKEN", STRONG),
                ("SESSION_SECRET_PREVIOUS", "short"),
                ("PAYMENT_WEBHOOK_SECRET", STRONG),
            ],
            "SESSION_SECRET_PREVIOUS",
        ),
        (
            vec![("SESSION_SECRET", STRONG), ("ADMIN_TOKEN", STRONG)],
            "PAYMENT_WEBHOOK_SECRET",
        ),
        (
            vec![
                ("SESSION_SECRET", STRONG),
                ("ADMIN_TOKEN", STRONG),
                (
                    "PAYMENT_WEBHOOK_SECRET",
                    "dev-payment-webhook-secret-not-for-production",
                ),
            ],
            "PAYMENT_WEBHOOK_SECRET",
        ),
    ] {
        let (code, text) = run_binary(&[], &vars);
        assert_ne!(code, Some(0), "{vars:?}: {text}");
        assert!(text.contains(names), "{vars:?} must name {names}: {text}");
        assert!(
            !text.contains("sixteen-bytes-ok"),
            "a secret was printed: {text}"
        );
    }
    // Strong secrets get past the check (and then fail on the unreachable database, a
    // different error); so does development mode, with a warning.
    let (code, text) = run_binary(
        &[],
        &[
            ("SESSION_SECRET", STRONG),
            ("ADMIN_TOKEN", STRONG),
            ("PAYMENT_WEBHOOK_SECRET", STRONG),
        ],
    );
    assert_ne!(code, Some(0));
    assert!(
        !text.contains("SESSION_SECRET")
            && !text.contains("ADMIN_TOKEN")
            && !text.contains("PAYMENT_WEBHOOK_SECRET")
            && !text.contains(STRONG),
        "{text}"
    );
    for (args, vars) in [
        (vec![], vec![("VITRINE_DEV_MODE", "1")]),
        (vec!["--dev"], vec![]),
    ] {
        let (code, text) = run_binary(&args, &vars);
        assert_ne!(code, Some(0));
        assert!(
            text.contains("development mode: SESSION_SECRET is not set"),
            "development mode warns: {text}"
        );
    }
}

#[test]
fn help_does_not_print_secrets_that_are_set() {
    let (code, help) = run_binary(
        &["--help"],
        &[
            ("SESSION_SECRET", "help-must-not-show-the-session-secret"),
            (
                "SESSION_SECRET_PREVIOUS",
                "help-must-not-show-the-previous-one",
            ),
            ("ADMIN_TOKEN", "help-must-not-show-the-admin-token"),
            (
                "PAYMENT_WEBHOOK_SECRET",
                "help-must-not-show-the-webhook-secret",
            ),
        ],
    );
    assert_eq!(code, Some(0), "{help}");
    assert!(
        help.contains("SESSION_SECRET")
            && help.contains("ADMIN_TOKEN")
            && help.contains("PAYMENT_WEBHOOK_SECRET"),
        "{help}"
    );
    assert!(!help.contains("help-must-not-show"), "{help}");
}

#[tokio::test]
async fn a_session_token_signed_with_the_previous_secret_still_works_after_a_rotation() {
    use vitrine_contract::secret::Secret;
    use vitrine_contract::session::SessionSigner;
    let mut app = TestApp::spawn_with(false).await;
    let old = app.config.session_secret.clone().expect("a secret");
    let session = Uuid::now_v7();
    let old_token = SessionSigner::new(old.clone())
        .issue(session, chrono::Utc::now() + chrono::Duration::hours(1));
    app.restart_with(|config| {
        config.session_secret = Some(Secret::new(STRONG));
        config.session_secret_previous = Some(old);
    })
    .await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 5).await;
    let r = app
        .call(Method::POST, "/api/v1/cart/")
        .bearer(&old_token)
        .json(json!({"product_id": product, "quantity": 1}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // New sessions are signed with the new secret; a third secret's tokens are refused.
    let (_, fresh) = app.new_session().await;
    SessionSigner::new(Secret::new(STRONG))
        .verify(&fresh, chrono::Utc::now())
        .expect("signed with the new secret");
    let forged = SessionSigner::new(Secret::new("x".repeat(32)))
        .issue(session, chrono::Utc::now() + chrono::Duration::hours(1));
    let r = app
        .call(Method::DELETE, "/api/v1/cart/")
        .bearer(&forged)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn two_clients_with_one_idempotency_key_never_share_a_session() {
    let app = TestApp::spawn_with(false).await;
    let key = "guessable-key-1";
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            app.call(Method::POST, "/api/v1/sessions/")
                .headers(&[("Idempotency-Key", key)])
                .await,
        );
    }
    for r in &answers {
        assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, Some("Idempotency-Key"));
        assert!(r.body.get("token").is_none(), "{:?}", r.body);
    }
    // Without a key every call is a new session; nothing about them is stored.
    let (a, token_a) = app.new_session().await;
    let (b, token_b) = app.new_session().await;
    assert_ne!(a, b);
    assert_ne!(token_a, token_b);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "a session token was kept at rest");
}

#[tokio::test]
async fn a_write_held_up_by_a_row_lock_answers_503_with_retry_after_and_records_nothing() {
    let mut app = TestApp::spawn_with(false).await;
    app.restart_with(|config| config.limits.db_lock_timeout_ms = 300)
        .await;
    let category = app.create_category().await;
    let product = app.create_product(category, 100, 5).await;
    let events = app.event_count().await;

    // Another connection holds the product's row, as a stuck transaction would.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM products WHERE id = $1 FOR UPDATE")
        .bind(product)
        .execute(&mut *holder)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = app
        .call(Method::PATCH, &format!("/api/v1/products/{product}/"))
        .bearer(ADMIN_TOKEN)
        .json(json!({"price_cents": 200}))
        .headers(&[("Idempotency-Key", "held-up-1")])
        .await;
    assert_problem(&r, StatusCode::SERVICE_UNAVAILABLE, None);
    assert_eq!(r.header("retry-after"), "1", "{:?}", r.headers);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the lock wait was not bounded"
    );
    holder.rollback().await.unwrap();

    assert_eq!(
        app.event_count().await,
        events,
        "a refused write recorded events"
    );
    let price: i64 = sqlx::query_scalar("SELECT price_cents FROM products WHERE id = $1")
        .bind(product)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(price, 100);
    // The key was not kept either: the retry the 503 asks for goes through.
    let r = app
        .call(Method::PATCH, &format!("/api/v1/products/{product}/"))
        .bearer(ADMIN_TOKEN)
        .json(json!({"price_cents": 200}))
        .headers(&[("Idempotency-Key", "held-up-1")])
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
