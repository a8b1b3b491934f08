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

#[tokio::test]
async fn a_session_token_signed_with_the_previous_secret_still_reads_after_a_rotation() {
    use vitrine_contract::secret::Secret;
    let app = TestApp::start_with(|config| {
        config.session_secret = Some(Secret::new("n".repeat(40)));
        config.session_secret_previous = Some(Secret::new(crate::helpers::SECRET));
    })
    .await;
    // `bearer` signs with the helpers' secret: the previous one here.
    let answer = app
        .get_with(
            "/api/v1/cart/",
            &[("authorization", &bearer(Uuid::now_v7()))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let other = vitrine_contract::session::SessionSigner::new(Secret::new("o".repeat(40))).issue(
        Uuid::now_v7(),
        chrono::Utc::now() + chrono::Duration::hours(1),
    );
    let answer = app
        .get_with(
            "/api/v1/cart/",
            &[("authorization", &format!("Bearer {other}"))],
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_program_refuses_a_missing_default_or_short_session_secret_outside_development_mode() {
    let run = |vars: &[(&str, &str)], args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_query-api"));
        command
            .args(args)
            .env_remove("SESSION_SECRET")
            .env_remove("SESSION_SECRET_PREVIOUS")
            .env_remove("VITRINE_DEV_MODE")
            .env("LISTEN_ADDR", "127.0.0.1:0")
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
    };
    for vars in [
        vec![],
        vec![("SESSION_SECRET", "dev-session-secret")],
        vec![("SESSION_SECRET", "0123456789")],
    ] {
        let (code, text) = run(&vars, &[]);
        assert_ne!(code, Some(0), "{vars:?}: {text}");
        assert!(text.contains("SESSION_SECRET"), "{vars:?}: {text}");
        assert!(
            !text.contains("0123456789"),
            "the secret was printed: {text}"
        );
    }
    let (code, help) = run(
        &[("SESSION_SECRET", "help-must-not-show-this-secret")],
        &["--help"],
    );
    assert_eq!(code, Some(0));
    assert!(
        help.contains("SESSION_SECRET") && !help.contains("help-must-not-show"),
        "{help}"
    );
}

