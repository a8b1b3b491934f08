//! Read throughput of one instance: product detail, a list page, search (cached and not).
//!
//! `cargo run --release -p query-api --example read-bench [-- SECONDS CONNECTIONS]`
//! Seeds a fresh database and Redis prefix (testkit), serves one instance on port 0 and
//! points `wrk --latency` (installed on the machine) at each URL in turn.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, RedisKeys, Sort, FENCED_SET_LUA};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let connections: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let db = vitrine_testkit::fresh_database().await;
    let prefix = vitrine_testkit::unique_prefix();
    let keys = RedisKeys::new(prefix.clone(), 1);
    let mut redis = vitrine_testkit::redis().await;

    // One product detail, one full list page, 500 searchable products.
    let id = Uuid::now_v7();
    let item = |i: usize| {
        json!({"id": Uuid::now_v7(), "slug": format!("camera-{i}"), "name": format!("Camera model {i}"),
               "price_cents": 1000 + i, "currency": "EUR", "image_url": format!("/static/img/camera-{i}.3f9a.jpg"),
               "stock_status": "in_stock", "category_slug": "cameras"})
    };
    let product = json!({"id": id, "version": 4, "sku": "CAM-1", "slug": "travel-camera", "name": "Travel camera",
        "description": "A compact travel camera with a 24-70 zoom and a fold-out screen.", "price_cents": 12900,
        "currency": "EUR", "category": {"id": Uuid::now_v7(), "name": "Cameras", "slug": "cameras"}, "stock": 12,
        "stock_status": "in_stock", "image_url": "/static/img/travel-camera.3f9a.jpg", "attributes": {"zoom": "24-70"}})
    .to_string();
    let page = json!({"category": "all", "sort": "name", "page": 1, "page_size": 20, "total": 500, "pages": 25,
        "items": (0..20).map(item).collect::<Vec<_>>()})
    .to_string();
    for (key, doc) in [
        (doc_key::product(id), &product),
        (doc_key::product_list("all", Sort::Name, 1), &page),
    ] {
        let (rev,): (i64,) = sqlx::query_as(
            "INSERT INTO rm_docs (rm_version, key, rev, doc) VALUES (1, $1, nextval('rm_rev'), $2) RETURNING rev",
        )
        .bind(&key)
        .bind(doc)
        .fetch_one(&db.pool)
        .await?;
        let _: i64 = redis::Script::new(FENCED_SET_LUA)
            .key(keys.key(&key))
            .arg(rev)
            .arg(doc)
            .invoke_async(&mut redis)
            .await?;
    }
    for i in 0..500 {
        let name = format!("{} model {i}", ["Camera", "Tripod", "Lens", "Bag"][i % 4]);
        sqlx::query(
            "INSERT INTO rm_search (rm_version, product_id, item, name, tsv)
             VALUES (1, $1, $2, $3, to_tsvector('english', $3 || ' compact travel gear'))",
        )
        .bind(Uuid::now_v7())
        .bind(item(i))
        .bind(&name)
        .execute(&db.pool)
        .await?;
    }
    sqlx::query("ANALYZE rm_search").execute(&db.pool).await?;

    let mut config = query_api::Config::local();
    config.database_url = db.url.clone();
    config.redis_prefix = prefix.clone();
    config.dev_mode = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(query_api::run(config, listener, async move {
        let _ = stop_rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Uncached search: every request asks another query ("camera 1", "camera 2", ...),
    // so each one misses the cache and runs the full-text statement.
    let script = std::env::temp_dir().join("vitrine-search-miss.lua");
    std::fs::write(
        &script,
        "counter = 0\nrequest = function()\n  counter = counter + 1\n  return wrk.format(nil, '/api/v1/products/search/?q=camera%20' .. counter .. '&page=1')\nend\n",
    )?;
    let base = format!("http://{addr}");
    let runs = [
        (
            "product detail",
            format!("{base}/api/v1/products/{id}/"),
            None,
        ),
        (
            "list page (20 items)",
            format!("{base}/api/v1/products/?sort=name&page=1"),
            None,
        ),
        (
            "search, cached",
            format!("{base}/api/v1/products/search/?q=camera"),
            None,
        ),
        ("search, uncached", base.clone(), Some(script.clone())),
    ];
    println!("one query-api instance at {addr}; wrk -t2 -c{connections} -d{seconds}s --latency");
    for (name, url, lua) in runs {
        let mut cmd = std::process::Command::new("wrk");
        cmd.args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ]);
        if let Some(lua) = &lua {
            cmd.arg("-s").arg(lua);
        }
        let out = cmd.arg(&url).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let pick = |label: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
                .unwrap_or_else(|| "?".into())
        };
        let non2xx = text
            .lines()
            .find(|l| l.contains("Non-2xx"))
            .unwrap_or("")
            .trim()
            .to_owned();
        println!(
            "{name:<22} {:>10} req/s   p50 {:>8}   p99 {:>8}   {non2xx}",
            pick("Requests/sec:"),
            pick("50%"),
            pick("99%")
        );
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}
