//! N concurrent shoppers doing add-to-cart then checkout against a running command-api
//! for S seconds; prints commands/s and p50/p99 per command.
//!
//! `cargo run --release -p command-api --example command-bench -- [URL] [SHOPPERS] [SECONDS]`
//! (defaults `http://127.0.0.1:8081 16 10`; admin token from `ADMIN_TOKEN`, default `dev-admin-token`).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Option<Value>,
    key: Option<String>,
) -> (u16, Value) {
    let mut req = client.post(url).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    match req.send().await {
        Ok(res) => (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8081".into());
    let shoppers: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    let admin = std::env::var("ADMIN_TOKEN").unwrap_or_else(|_| "dev-admin-token".into());
    let client = reqwest::Client::new();
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let (s, cat) = post(
        &client,
        format!("{base}/api/v1/categories/"),
        &admin,
        Some(json!({"name": "Bench", "slug": format!("bench-{tag}")})),
        None,
    )
    .await;
    anyhow::ensure!(s == 201, "create category: {s} {cat}");
    let mut products = Vec::new();
    for i in 0..20 {
        let body = json!({"sku": format!("B-{tag}-{i}"), "name": format!("Bench {i}"), "description": "",
            "price_cents": 100 + i, "currency": "EUR", "category_id": cat["id"], "stock": 1_000_000});
        let (s, p) = post(
            &client,
            format!("{base}/api/v1/products/"),
            &admin,
            Some(body),
            None,
        )
        .await;
        anyhow::ensure!(s == 201, "create product: {s} {p}");
        products.push(p["id"].clone());
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks = (0..shoppers).map(|n| {
        let (client, base, products) = (client.clone(), base.clone(), products.clone());
        tokio::spawn(async move {
            let (mut add, mut checkout, mut errors) = (Vec::new(), Vec::new(), 0usize);
            let (_, session) =
                post(&client, format!("{base}/api/v1/sessions/"), "", None, None).await;
            let token = session["token"].as_str().unwrap_or_default().to_owned();
            let mut i = n;
            while Instant::now() < deadline {
                let t = Instant::now();
                let body = json!({"product_id": products[i % products.len()], "quantity": 1});
                let (s, _) = post(
                    &client,
                    format!("{base}/api/v1/cart/"),
                    &token,
                    Some(body),
                    None,
                )
                .await;
                if s == 200 {
                    add.push(t.elapsed())
                } else {
                    errors += 1
                }
                i += 1;
                if i % 3 == 0 {
                    let t = Instant::now();
                    let key = Some(uuid::Uuid::now_v7().to_string());
                    let (s, _) = post(
                        &client,
                        format!("{base}/api/v1/checkout/"),
                        &token,
                        None,
                        key,
                    )
                    .await;
                    if s == 201 {
                        checkout.push(t.elapsed())
                    } else {
                        errors += 1
                    }
                }
            }
            (add, checkout, errors)
        })
    });
    let started = Instant::now();
    let (mut add, mut checkout, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks.collect::<Vec<_>>() {
        let (a, c, e) = t.await?;
        add.extend(a);
        checkout.extend(c);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    add.sort();
    checkout.sort();
    println!("shoppers={shoppers} seconds={elapsed:.1} errors={errors}");
    for (name, lat) in [("add-to-cart", &add), ("checkout", &checkout)] {
        println!(
            "{name:12} {:8.0} commands/s  p50 {:6.2} ms  p99 {:6.2} ms  (n={})",
            lat.len() as f64 / elapsed,
            pct(lat, 0.50),
            pct(lat, 0.99),
            lat.len()
        );
    }
    Ok(())
}
