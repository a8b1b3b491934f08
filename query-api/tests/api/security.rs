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
            .get(uri)
            .header("authorization", &bearer(Uuid::now_v7()))
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
        .get("/api/v1/cart/")
        .header("authorization", &bearer(Uuid::now_v7()))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let other = vitrine_contract::session::SessionSigner::new(Secret::new("o".repeat(40))).issue(
        Uuid::now_v7(),
        chrono::Utc::now() + chrono::Duration::hours(1),
    );
    let answer = app
        .get("/api/v1/cart/")
        .header("authorization", &format!("Bearer {other}"))
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

/// A Redis of our own with a small `maxmemory` and the store's eviction policy.
async fn small_redis(maxmemory: &str) -> (tokio::process::Child, u16) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
            "--maxmemory",
            maxmemory,
            // What deploy/services.sh sets for the store.
            "--maxmemory-policy",
            "volatile-lru",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server runs");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let url = format!("redis://127.0.0.1:{port}");
    loop {
        if let Ok(mut conn) = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
        {
            let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
            if pong.is_ok() {
                return (server, port);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "redis-server never answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_maxmemory_reads_stay_correct_and_documents_stay_cached_while_garbage_is_evicted() {
    use crate::helpers::{product_doc, project_to_postgres};
    use vitrine_contract::read_model::{doc_key, store_marker_key};

    let (_redis_server, port) = small_redis("4mb").await;
    let url = format!("redis://127.0.0.1:{port}");
    let app = TestApp::start_with(|c| c.redis_url = url.clone()).await;
    let mut redis = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let marker = store_marker_key(&app.prefix);
    let _: () = redis::cmd("SET")
        .arg(&marker)
        .arg("the-store-id")
        .query_async(&mut redis)
        .await
        .unwrap();

    // 200 products: read once each, so query-api writes them back into Redis.
    let mut products = Vec::new();
    for i in 0..200 {
        let id = Uuid::now_v7();
        let doc = product_doc(id, 1, &format!("Camera {i}"));
        project_to_postgres(&app, 1, &doc_key::product(id), Some(&doc)).await;
        assert_eq!(
            app.get(&format!("/api/v1/products/{id}/")).await.status,
            StatusCode::OK
        );
        products.push((id, doc));
    }

    // What anonymous traffic leaves behind, far more than fits: made-up ids (negative
    // cache), unique searches (cached pages), plus 12 MB of big expiring entries.
    for i in 0..150 {
        let absent = app
            .get(&format!("/api/v1/products/{}/", Uuid::now_v7()))
            .await;
        assert_eq!(absent.status, StatusCode::NOT_FOUND);
        let search = app
            .get(&format!("/api/v1/products/search/?q=nothing{i}"))
            .await;
        assert_eq!(search.status, StatusCode::OK, "{}", search.text());
    }
    let filler = "x".repeat(64 * 1024);
    for i in 0..200 {
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("{}v1:search:0:1:filler{i}", app.prefix))
            .arg(&filler)
            .arg("EX")
            .arg(600)
            .query_async(&mut redis)
            .await;
        set.expect("expiring keys are evicted to make room, never refused");
    }
    let evicted: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut redis)
        .await
        .unwrap();
    let evicted: u64 = evicted
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(evicted > 0, "the test never filled Redis");

    // Every product still reads correctly, from Redis.
    let mut hits = 0;
    for (id, doc) in &products {
        let answer = app.get(&format!("/api/v1/products/{id}/")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), doc);
        if answer.lookups() == "redis=1; sql=0" {
            hits += 1;
        }
    }
    let hit_rate = hits as f64 / products.len() as f64;
    eprintln!("maxmemory 4mb, {evicted} keys evicted: document hit rate {hit_rate:.3}");
    assert_eq!(hits, products.len(), "documents were evicted");
    let kept: Option<String> = redis::cmd("GET")
        .arg(&marker)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some("the-store-id"),
        "the store marker was evicted"
    );
}
