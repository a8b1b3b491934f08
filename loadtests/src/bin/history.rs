//! `history`: writes a realistic event history of a given size straight into the event
//! store of a (benchmark) database, for rebuild and verify benchmarks.
//!
//! The history is what the real write path would record: a catalog (categories,
//! products), shoppers filling carts, checkouts reserving stock, orders paid, shipped or
//! cancelled (stock released), price changes and restocks. Stream versions are gap-free
//! and stock never goes negative, so `projector verify` and `projector rebuild` treat it
//! like any other store. Only `events` is written (not the write model, not the outbox):
//! use a database of its own.
//!
//!     cargo run --release -p loadtests --bin history -- --database-url postgres://…/bench --events 1000000

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::slug::slugify;
use vitrine_contract::{Event, Metadata, OrderLine, StreamId};
use vitrine_runtime::event_store::{self, EventRows};

#[derive(Debug, Parser)]
#[command(about = "Write a realistic event history straight into the event store")]
struct Args {
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/vitrine_bench"
    )]
    database_url: String,
    /// How many events to write (at least).
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    #[arg(long, default_value_t = 20)]
    categories: usize,
    #[arg(long, default_value_t = 1_000)]
    products: usize,
    /// Seed of the deterministic choices (not of the ids).
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

/// SplitMix64: small, deterministic, good enough to pick products and branches.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

struct ProductState {
    id: Uuid,
    sku: String,
    name: String,
    price_cents: i64,
    stock: i32,
}

/// Buffers events with their stream versions and writes them in large multi-row inserts.
struct Writer {
    pool: sqlx::PgPool,
    versions: HashMap<StreamId, i64>,
    rows: EventRows,
    written: usize,
}

impl Writer {
    fn push(&mut self, event: Event) {
        let version = self.versions.entry(event.stream()).or_insert(0);
        *version += 1;
        self.rows.push(*version, &event);
    }

    async fn flush(&mut self) -> anyhow::Result<()> {
        self.written += event_store::insert(&self.pool, &self.rows)
            .await
            .context("insert events")? as usize;
        self.rows.clear();
        Ok(())
    }

    fn total(&self) -> usize {
        self.written + self.rows.len()
    }
}

const COLORS: &[&str] = &["black", "silver", "blue"];

const GOODS: &[&str] = &[
    "Ultrabook Laptop",
    "Gaming Laptop",
    "Smart Phone",
    "Rugged Phone",
    "Travel Camera",
    "Mirrorless Camera",
    "Espresso Machine",
    "Desk Lamp",
    "Running Shoes",
    "Backpack",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await
        .context("connect to DATABASE_URL")?;
    vitrine_runtime::MIGRATOR
        .run(&pool)
        .await
        .context("migrations")?;
    let started = Instant::now();
    let metadata = Metadata {
        actor: "history-generator".into(),
        ..Metadata::default()
    };
    let mut w = Writer {
        pool,
        versions: HashMap::new(),
        rows: EventRows::new(&metadata),
        written: 0,
    };
    let mut rng = Rng(args.seed);

    let mut categories = Vec::new();
    for i in 0..args.categories {
        let id = Uuid::now_v7();
        let name = format!("Department {i}");
        w.push(Event::CategoryCreated {
            category_id: id,
            slug: slugify(&name),
            name,
            parent_id: None,
        });
        categories.push(id);
    }
    let mut products = Vec::new();
    for i in 0..args.products {
        let id = Uuid::now_v7();
        let name = format!("{} {}", GOODS[i % GOODS.len()], i);
        let p = ProductState {
            id,
            sku: format!("SKU-{i:06}"),
            name: name.clone(),
            price_cents: 500 + rng.below(200_000) as i64,
            stock: 200 + rng.below(800) as i32,
        };
        w.push(Event::ProductCreated {
            product_id: id,
            sku: p.sku.clone(),
            slug: slugify(&name),
            description: format!(
                "{name}: a fine {} for every day.",
                GOODS[i % GOODS.len()].to_lowercase()
            ),
            name,
            price_cents: p.price_cents,
            currency: "EUR".into(),
            category_id: categories[i % categories.len().max(1)],
            stock: p.stock,
            image: Some(format!("/static/img/{id}.jpg")),
            attributes: json!({ "color": COLORS[i % COLORS.len()] }),
        });
        products.push(p);
    }

    let mut open_orders: Vec<(Uuid, Vec<OrderLine>, bool)> = Vec::new(); // (id, lines, paid)
    while w.total() < args.events {
        let session = Uuid::now_v7();
        let mut cart: Vec<(usize, i32)> = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let pi = rng.below(products.len());
            let add = 1 + rng.below(3) as i32;
            let quantity = match cart.iter_mut().find(|(p, _)| *p == pi) {
                Some((_, q)) => {
                    *q += add;
                    *q
                }
                None => {
                    cart.push((pi, add));
                    add
                }
            };
            w.push(Event::CartItemAdded {
                session_id: session,
                product_id: products[pi].id,
                added: add,
                quantity,
            });
        }
        if rng.chance(10) && cart.len() > 1 {
            let (pi, _) = cart.remove(0);
            w.push(Event::CartItemRemoved {
                session_id: session,
                product_id: products[pi].id,
            });
        }
        if rng.chance(65) {
            let order_id = Uuid::now_v7();
            let mut lines = Vec::new();
            for &(pi, q) in &cart {
                let p = &mut products[pi];
                if p.stock < q {
                    let delta = 500;
                    p.stock += delta;
                    w.push(Event::StockAdjusted {
                        product_id: p.id,
                        delta,
                        stock: p.stock,
                    });
                }
                lines.push(OrderLine {
                    product_id: p.id,
                    sku: p.sku.clone(),
                    name: p.name.clone(),
                    unit_price_cents: p.price_cents,
                    quantity: q,
                    line_total_cents: p.price_cents * q as i64,
                });
            }
            let total_cents = lines.iter().map(|l| l.line_total_cents).sum();
            w.push(Event::OrderPlaced {
                order_id,
                session_id: session,
                lines: lines.clone(),
                total_cents,
                currency: "EUR".into(),
                pay_by: None,
            });
            for &(pi, q) in &cart {
                let p = &mut products[pi];
                p.stock -= q;
                w.push(Event::StockReserved {
                    product_id: p.id,
                    order_id,
                    quantity: q,
                    stock: p.stock,
                });
            }
            w.push(Event::CartCheckedOut {
                session_id: session,
                order_id,
            });
            open_orders.push((order_id, lines, false));
        }
        // Move some earlier orders along: pay, ship, or cancel (returning stock).
        if !open_orders.is_empty() && rng.chance(60) {
            let i = rng.below(open_orders.len());
            let (order_id, lines, paid) = open_orders.swap_remove(i);
            if rng.chance(8) {
                w.push(Event::OrderCancelled { order_id });
                for l in lines {
                    if let Some(p) = products.iter_mut().find(|p| p.id == l.product_id) {
                        p.stock += l.quantity;
                        w.push(Event::StockReleased {
                            product_id: p.id,
                            order_id,
                            quantity: l.quantity,
                            stock: p.stock,
                        });
                    }
                }
            } else if !paid {
                w.push(Event::OrderPaid {
                    order_id,
                    payment_reference: format!("pay-{}", rng.next() % 1_000_000),
                });
                open_orders.push((order_id, lines, true));
            } else {
                w.push(Event::OrderShipped { order_id });
            }
        }
        if rng.chance(2) {
            let pi = rng.below(products.len());
            let p = &mut products[pi];
            p.price_cents = 500 + rng.below(200_000) as i64;
            w.push(Event::ProductUpdated {
                product_id: p.id,
                name: None,
                description: None,
                price_cents: Some(p.price_cents),
                currency: None,
                category_id: None,
                image: None,
                attributes: None,
            });
        }
        if w.rows.len() >= 10_000 {
            w.flush().await?;
            eprint!("\rhistory: {} events", w.written);
        }
    }
    w.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!();
    println!(
        "history: wrote {} events in {:.1} s ({:.0} events/s)",
        w.written,
        secs,
        w.written as f64 / secs
    );
    Ok(())
}
