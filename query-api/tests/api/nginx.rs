//! Three real query-api processes behind a real nginx; one gets SIGTERM mid-load.

use std::process::Stdio;
use std::time::Duration;

use crate::helpers::*;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn instance(db_url: &str, prefix: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_query-api"))
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", db_url)
        .env("DB_POOL_MAX", "4")
        .env("REDIS_URL", vitrine_testkit::redis_url())
        .env("REDIS_PREFIX", prefix)
        .env("SESSION_SECRET", SECRET)
        .env("VITRINE_DEV_MODE", "1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("query-api binary starts")
}

async fn until_up(client: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never came up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_to_one_of_three_instances_behind_nginx_fails_no_request() {
    let app = TestApp::start().await;
    let id = Uuid::now_v7();
    project(
        &app,
        1,
        &doc_key::product(id),
        Some(&product_doc(id, 1, "Travel camera")),
    )
    .await;

    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut instances: Vec<Child> = ports
        .iter()
        .map(|p| instance(&app.db.url, &app.prefix, *p))
        .collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for port in &ports {
        until_up(&client, &format!("http://127.0.0.1:{port}/healthz")).await;
    }

    let dir = std::env::temp_dir().join(format!("vitrine-nginx-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let nginx_port = free_port();
    let render = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx/render.sh");
    let mut args = vec![nginx_port.to_string(), "127.0.0.1:8081".to_owned()];
    args.extend(ports.iter().map(|p| format!("127.0.0.1:{p}")));
    let rendered = std::process::Command::new(render)
        .args(&args)
        .env("PREFIX", &dir)
        .output()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let conf = dir.join("vitrine.conf");
    std::fs::write(&conf, rendered.stdout).unwrap();
    let _nginx = Command::new("/usr/sbin/nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        // One process (no master/worker pair), so dropping the handle ends nginx whole
        // and no orphaned worker keeps the test's output open.
        .args(["-g", "daemon off; master_process off;"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let url = format!("http://127.0.0.1:{nginx_port}/api/v1/products/{id}/");
    until_up(&client, &url).await;

    // Bounded read load: 4 clients for 5 s; one instance gets SIGTERM once the load flows.
    let load_for = Duration::from_secs(5);
    let started = Instant::now();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, served) = (client.clone(), url.clone(), served.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while started.elapsed() < load_for {
                    match client.get(&url).send().await {
                        Ok(r) if r.status().is_success() => {
                            r.bytes().await.ok();
                            ok += 1;
                            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        Ok(r) => failed.push(r.status().to_string()),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    // Mid-load: every instance has had its share of reads (polled, bounded).
    let deadline = Instant::now() + Duration::from_secs(3);
    while served.load(std::sync::atomic::Ordering::Relaxed) < 60 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = instances.remove(1);
    let pid = victim.id().expect("running").to_string();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let exit = tokio::time::timeout(Duration::from_secs(5), victim.wait_with_output()).await;
    let exit = exit
        .expect("the instance drains and exits within 5 s")
        .unwrap();
    assert!(
        exit.status.success(),
        "graceful exit, got {:?}",
        exit.status
    );

    let (mut ok, mut failed) = (0, Vec::new());
    for c in clients {
        let (o, f) = c.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(
        failed.is_empty(),
        "{} failed requests, e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(3)]
    );
    assert!(ok > 100, "only {ok} requests in {load_for:?}");
    eprintln!("{ok} reads through nginx, 0 failed, one instance stopped mid-load");
    std::fs::remove_dir_all(&dir).ok();
}
