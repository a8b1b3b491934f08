//! Apply throughput into both stores: records a synthetic history (catalog, carts,
//! orders) in a fresh test database, then applies it in batches of 2,000 and prints
//! events per second. `cargo run --release -p projector --example apply-bench [events]`

use std::time::Instant;

use projector::{apply_batch, Incoming};
use uuid::Uuid;
use vitrine_contract::{Event, Metadata, OrderLine};
use vitrine_runtime::event_store::{self, EventRows};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let target: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let db = vitrine_testkit::fresh_database().await;
    let prefix = vitrine_testkit::unique_prefix();
    let mut redis = vitrine_testkit::redis().await;

    let cats: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    let mut events: Vec<Event> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| Event::CategoryCreated {
            category_id: *c,
            name: format!("Category {i}"),
            slug: format!("category-{i}"),
            parent_id: None,
        })
        .collect();
    let products: Vec<Uuid> = (0..500).map(|_| Uuid::now_v7()).collect();
    for (i, p) in products.iter().enumerate() {
        events.push(Event::ProductCreated {
            product_id: *p,
            sku: format!("SKU-{i}"),
            slug: format!("product-{i}"),
            name: format!("Product {i}"),
            description: "A fine thing".into(),
            price_cents: 100 + i as i64,
            currency: "EUR".into(),
            category_id: cats[i % cats.len()],
            stock: 1000,
            image: None,
            attributes: serde_json::json!({}),
        });
    }
    let mut i = 0usize;
    while events.len() < target {
        let s = Uuid::now_v7();
        let (a, b) = (products[i % 500], products[(i * 7 + 3) % 500]);
        events.push(Event::CartItemAdded {
            session_id: s,
            product_id: a,
            added: 1,
            quantity: 1,
        });
        events.push(Event::CartItemAdded {
            session_id: s,
            product_id: b,
            added: 2,
            quantity: 2,
        });
        let o = Uuid::now_v7();
        events.push(Event::CartCheckedOut {
            session_id: s,
            order_id: o,
        });
        let line = |p: Uuid, q: i32| OrderLine {
            product_id: p,
            sku: "S".into(),
            name: "N".into(),
            unit_price_cents: 100,
            quantity: q,
            line_total_cents: 100 * i64::from(q),
        };
        events.push(Event::OrderPlaced {
            order_id: o,
            session_id: s,
            lines: vec![line(a, 1), line(b, 2)],
            total_cents: 300,
            currency: "EUR".into(),
            pay_by: None,
        });
        events.push(Event::StockAdjusted {
            product_id: a,
            delta: -1,
            stock: 999 - (i as i32 % 900),
        });
        i += 1;
    }
    let mut versions = std::collections::HashMap::new();
    let mut rows = EventRows::new(&Metadata {
        actor: "admin".into(),
        ..Metadata::default()
    });
    for e in &events {
        let v = versions.entry(e.stream()).or_insert(0i64);
        *v += 1;
        rows.push(*v, e);
    }
    let recs = event_store::insert_returning(&db.pool, &rows).await?;
    let items: Vec<Incoming> = recs.into_iter().map(Incoming::Event).collect();

    let started = Instant::now();
    let mut docs = 0;
    for chunk in items.chunks(2000) {
        docs += apply_batch(&db.pool, &mut redis, &prefix, 1, chunk)
            .await?
            .docs;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "applied {} events in {:.2} s: {:.0} events/s into PostgreSQL and Redis ({} documents written)",
        items.len(), secs, items.len() as f64 / secs, docs
    );
    let diffs = projector::verify(&db.pool, &vitrine_testkit::redis_url(), &prefix, 1).await?;
    println!("verify: {} difference(s)", diffs.len());
    Ok(())
}
