//! Seeds the demo catalog through command-api: 20 categories and 1,000 products whose
//! names and descriptions let searches for laptop, phone and camera find results, with
//! stock 100–1000. Then waits until query-api answers for all of it.
//!
//! Idempotent: it does nothing when the storefront already lists every seed category,
//! and otherwise sends each item with a fixed `Idempotency-Key` and the same body as any
//! earlier run (the catalog is generated deterministically), so a re-run after a crash
//! replays answers instead of writing twice. A 409 (the slug or SKU exists) counts as
//! already there.
//!
//! Images: with the storefront's manifest (`--static-manifest`, `STATIC_MANIFEST`,
//! written by `storefront/build.py`), each product names its fingerprinted image
//! `/static/products/vt-00042.<hash>.svg`; products of an earlier run whose image differs
//! from the manifest's are corrected with one PATCH each (also when nothing else is to do).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures::stream::{self, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};

use loadtests::catalog;
use loadtests::http::{truncate, Api, Auth};

#[derive(Parser, Debug)]
#[command(about = "Seed Vitrine's demo catalog through command-api")]
struct Args {
    /// command-api's base URL (writes).
    #[arg(
        long,
        env = "VITRINE_COMMAND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    command_url: String,
    /// The storefront's base URL (reads: the skip check and the readable wait).
    #[arg(
        long,
        env = "VITRINE_QUERY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    query_url: String,
    /// The admin token catalog writes need (the store's: `~/.vitrine/store.env`).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,
    /// How many products.
    #[arg(long, default_value_t = 1000)]
    products: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seed even when the storefront already lists the seed categories.
    #[arg(long)]
    force: bool,
    /// Seconds to wait for the read side to answer for everything seeded (0: don't wait).
    #[arg(long, default_value_t = 120)]
    wait_secs: u64,
    /// The storefront's asset manifest (`storefront/build.py`): products name their
    /// fingerprinted image from it. Without it, `--image-base` is used.
    #[arg(long, env = "STATIC_MANIFEST")]
    static_manifest: Option<PathBuf>,
    /// Without a manifest, image URLs are `{image_base}/{sku}.jpg`; empty sends no image.
    #[arg(long, default_value = "")]
    image_base: String,
}

/// Where product images come from.
enum Images {
    /// Logical name (`products/vt-00042.svg`) to fingerprinted name, under `/static/`.
    Manifest(HashMap<String, String>),
    /// `{base}/{sku}.jpg`; empty: no image.
    Base(String),
}

impl Images {
    fn load(args: &Args) -> Result<Self> {
        match &args.static_manifest {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let manifest: HashMap<String, String> = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not a manifest", path.display()))?;
                Ok(Images::Manifest(manifest))
            }
            Some(path) => {
                eprintln!(
                    "seed: no manifest at {} (storefront/build.py writes it): products get --image-base",
                    path.display()
                );
                Ok(Images::Base(args.image_base.clone()))
            }
            None => Ok(Images::Base(args.image_base.clone())),
        }
    }

    /// The image URL of the product with `sku` (`VT-00042`), if any.
    fn url(&self, sku: &str) -> Option<String> {
        let sku = sku.to_lowercase();
        match self {
            Images::Manifest(m) => m
                .get(&format!("products/{sku}.svg"))
                .map(|name| format!("/static/{name}")),
            Images::Base(base) if base.is_empty() => None,
            Images::Base(base) => Some(format!("{}/{sku}.jpg", base.trim_end_matches('/'))),
        }
    }
}

/// Name, slug and the product names of each category.
const CATEGORIES: [(&str, &str, &[&str]); 20] = [
    (
        "Laptops",
        "laptops",
        &[
            "Ultrabook Laptop 14",
            "Gaming Laptop 17",
            "Business Laptop 15",
            "Convertible Laptop 13",
            "Student Laptop 15",
        ],
    ),
    (
        "Phones",
        "phones",
        &[
            "Smart Phone",
            "Smart Phone Pro",
            "Compact Phone",
            "Rugged Phone",
            "Foldable Phone",
        ],
    ),
    (
        "Cameras",
        "cameras",
        &[
            "Travel Camera X",
            "Mirrorless Camera",
            "Action Camera",
            "Instant Camera",
            "Compact Zoom Camera",
        ],
    ),
    (
        "Tablets",
        "tablets",
        &["Tablet 11", "Drawing Tablet", "Kids Tablet", "E-Reader"],
    ),
    (
        "Audio",
        "audio",
        &[
            "Wireless Headphones",
            "Bluetooth Speaker",
            "Noise Cancelling Earbuds",
            "Studio Microphone",
        ],
    ),
    (
        "Televisions",
        "televisions",
        &["4K Smart TV 55", "OLED TV 65", "Home Cinema Projector"],
    ),
    (
        "Wearables",
        "wearables",
        &["Smart Watch", "Fitness Band", "Phone Companion Watch"],
    ),
    (
        "Gaming",
        "gaming",
        &[
            "Game Controller",
            "Gaming Headset",
            "Gaming Mouse",
            "Mechanical Keyboard",
        ],
    ),
    (
        "Computer Accessories",
        "computer-accessories",
        &[
            "Laptop Stand",
            "Laptop Sleeve 14",
            "USB-C Dock",
            "Wireless Mouse",
        ],
    ),
    (
        "Phone Accessories",
        "phone-accessories",
        &[
            "Phone Case",
            "Phone Charger 30W",
            "Phone Screen Protector",
            "Car Phone Mount",
        ],
    ),
    (
        "Camera Accessories",
        "camera-accessories",
        &[
            "Camera Tripod",
            "Camera Bag",
            "Camera Lens 50mm",
            "Camera Memory Card 128GB",
        ],
    ),
    (
        "Home & Kitchen",
        "home-kitchen",
        &["Espresso Machine", "Blender", "Air Fryer", "Chef Knife"],
    ),
    (
        "Books",
        "books",
        &[
            "Paperback Novel",
            "Cookbook",
            "Travel Guide",
            "Photography Handbook",
        ],
    ),
    (
        "Sports & Outdoors",
        "sports-outdoors",
        &["Running Shoes", "Yoga Mat", "Camping Tent", "Water Bottle"],
    ),
    (
        "Toys",
        "toys",
        &[
            "Building Blocks Set",
            "Puzzle 1000",
            "Remote Control Car",
            "Plush Bear",
        ],
    ),
    (
        "Garden",
        "garden",
        &["Garden Hose", "Pruning Shears", "Plant Pot", "Solar Lamp"],
    ),
    (
        "Office",
        "office",
        &[
            "Desk Lamp",
            "Ergonomic Chair",
            "Notebook A5",
            "Fountain Pen",
        ],
    ),
    (
        "Beauty",
        "beauty",
        &["Hair Dryer", "Face Cream", "Electric Toothbrush", "Perfume"],
    ),
    (
        "Fashion",
        "fashion",
        &[
            "Leather Jacket",
            "Cotton T-Shirt",
            "Wool Scarf",
            "Laptop Backpack",
        ],
    ),
    (
        "Pet Supplies",
        "pet-supplies",
        &["Dog Bed", "Cat Tree", "Pet Camera", "Dog Leash"],
    ),
];

const BRANDS: [&str; 8] = [
    "Nordlicht",
    "Vela",
    "Kestrel",
    "Orbis",
    "Tamarin",
    "Lumen",
    "Brisa",
    "Quill",
];
const QUALITIES: [&str; 6] = [
    "Built to last, with a two-year warranty.",
    "Light and easy to carry when travelling.",
    "A favourite of our customers this season.",
    "Energy efficient and quiet in everyday use.",
    "Comes with a quick start guide and spare parts.",
    "Designed in Europe, made from recycled materials.",
];

/// SplitMix64: the same numbers on every run, so re-sent bodies match their keys.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Product `i`'s body, given its category's id.
fn product_body(i: usize, category_id: &str, images: &Images) -> Value {
    let (category, _, stems) = CATEGORIES[i % CATEGORIES.len()];
    let r = mix(i as u64);
    let stem = stems[(r % stems.len() as u64) as usize];
    let brand = BRANDS[((r >> 8) % BRANDS.len() as u64) as usize];
    let quality = QUALITIES[((r >> 16) % QUALITIES.len() as u64) as usize];
    let sku = format!("VT-{i:05}");
    let model = format!(
        "{}{}",
        (b'A' + ((r >> 24) % 26) as u8) as char,
        100 + (r >> 32) % 900
    );
    // Electronics cost more; prices end in 99 cents.
    let base = if i % CATEGORIES.len() < 8 { 9_900 } else { 900 };
    let price_cents = base + ((r >> 40) % 200) as i64 * 500 + 99;
    let stock = 100 + (r >> 48) % 901;
    let mut body = json!({
        "sku": sku,
        "name": format!("{brand} {stem} {model}"),
        "description": format!(
            "The {brand} {stem} {model}, from our {} range. {quality}",
            category.to_lowercase()
        ),
        "price_cents": price_cents,
        "currency": "EUR",
        "category_id": category_id,
        "stock": stock,
    });
    if let Some(url) = images.url(&sku) {
        body["image"] = json!(url);
    }
    body
}

/// What happened to one item.
enum Outcome {
    Created(String),
    Exists,
}

/// POSTs one item with its idempotency key; 201/200 give the new id, 409 means it exists.
async fn create(api: &Api, token: &str, path: &str, key: &str, body: &Value) -> Result<Outcome> {
    let mut last_error = None;
    // Transport errors and 5xx are retried a few times: the store may still be warming up.
    for attempt in 0..4u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
        }
        match api
            .post(path, Auth::bearer(token).with_key(key), body)
            .await
        {
            Ok(reply) if reply.status.is_success() => {
                let id = reply
                    .json()
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .with_context(|| {
                        format!(
                            "POST {path} ({key}): answer has no id: {}",
                            truncate(&reply.body, 200)
                        )
                    })?;
                return Ok(Outcome::Created(id));
            }
            Ok(reply) if reply.status == StatusCode::CONFLICT => return Ok(Outcome::Exists),
            Ok(reply) if reply.status.is_server_error() => {
                last_error = Some(anyhow::anyhow!(
                    "POST {path} ({key}): {} {}",
                    reply.status,
                    truncate(&reply.body, 300)
                ));
            }
            Ok(reply) => bail!(
                "POST {path} ({key}): {} {}",
                reply.status,
                truncate(&reply.body, 300)
            ),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| anyhow::anyhow!("POST {path} failed")))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(30);
    let command = Api::new(&args.command_url, timeout, args.concurrency)?;
    let query = Api::new(&args.query_url, timeout, args.concurrency)?;
    let started = Instant::now();
    let images = Images::load(&args)?;

    let listed = catalog::categories(&query).await.unwrap_or_default();
    let seeded = CATEGORIES
        .iter()
        .filter(|(_, slug, _)| listed.iter().any(|c| c.slug == *slug))
        .count();
    if seeded == CATEGORIES.len() && !args.force {
        println!(
            "seed: {} already lists all {} seed categories; nothing to do (--force seeds anyway)",
            args.query_url, seeded
        );
        return fix_images(&command, &query, &args, &images).await;
    }

    // Categories first: products name them.
    let results: Vec<Result<(String, Outcome)>> = stream::iter(CATEGORIES.iter())
        .map(|(name, slug, _)| {
            let command = &command;
            let token = args.admin_token.as_str();
            async move {
                let key = format!("seed-category-{slug}");
                let body = json!({ "name": name, "slug": slug });
                let outcome = create(command, token, "/api/v1/categories/", &key, &body).await?;
                Ok((slug.to_string(), outcome))
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut existing = Vec::new();
    for result in results {
        match result? {
            (slug, Outcome::Created(id)) => {
                ids.insert(slug, id);
            }
            (slug, Outcome::Exists) => existing.push(slug),
        }
    }
    if !existing.is_empty() {
        // Made by an earlier run whose idempotency keys are gone: read their ids.
        let listed = wait_for_categories(
            &query,
            &existing,
            Duration::from_secs(args.wait_secs.max(10)),
        )
        .await?;
        for c in listed {
            if existing.contains(&c.slug) {
                ids.insert(c.slug, c.id);
            }
        }
    }
    println!(
        "seed: {} categories accepted ({} already existed) in {:.1}s",
        CATEGORIES.len(),
        existing.len(),
        started.elapsed().as_secs_f64()
    );

    let products_started = Instant::now();
    let results: Vec<Result<Outcome>> = stream::iter(0..args.products)
        .map(|i| {
            let command = &command;
            let ids = &ids;
            let args = &args;
            let images = &images;
            async move {
                let slug = CATEGORIES[i % CATEGORIES.len()].1;
                let category_id = ids
                    .get(slug)
                    .with_context(|| format!("no id for category {slug}"))?;
                let body = product_body(i, category_id, images);
                let key = format!("seed-product-{i:05}");
                create(command, &args.admin_token, "/api/v1/products/", &key, &body).await
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut product_ids = Vec::new();
    let mut already = 0;
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(Outcome::Created(id)) => product_ids.push(id),
            Ok(Outcome::Exists) => already += 1,
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let elapsed = products_started.elapsed().as_secs_f64();
    println!(
        "seed: {} products accepted, {} already existed, {} failed in {:.1}s ({:.0}/s, {} in flight)",
        product_ids.len(),
        already,
        failures.len(),
        elapsed,
        (product_ids.len() + already) as f64 / elapsed.max(0.001),
        args.concurrency
    );
    if !failures.is_empty() {
        for f in failures.iter().take(5) {
            eprintln!("seed: {f}");
        }
        bail!("{} of {} products failed", failures.len(), args.products);
    }

    if args.wait_secs > 0 {
        let waited = Instant::now();
        let deadline = Duration::from_secs(args.wait_secs);
        let slugs: Vec<String> = CATEGORIES.iter().map(|c| c.1.to_owned()).collect();
        wait_for_categories(&query, &slugs, deadline).await?;
        wait_for_products(
            &query,
            &product_ids,
            args.concurrency,
            deadline.saturating_sub(waited.elapsed()),
        )
        .await?;
        println!(
            "seed: everything is readable at {} after {:.1}s more",
            args.query_url,
            waited.elapsed().as_secs_f64()
        );
    }
    if already > 0 {
        fix_images(&command, &query, &args, &images).await?;
    }
    println!("seed: done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Points every seeded product (SKU `VT-nnnnn`) at the manifest's image: one PATCH per
/// product whose image differs (a catalog seeded before the storefront's assets existed,
/// or with an older build). Nothing to do without a manifest.
async fn fix_images(command: &Api, query: &Api, args: &Args, images: &Images) -> Result<()> {
    if !matches!(images, Images::Manifest(_)) {
        return Ok(());
    }
    let started = Instant::now();
    let ids = catalog::discover(query, 10_000).await?.product_ids;
    let results: Vec<Result<bool>> = stream::iter(ids)
        .map(|id| async move {
            let doc = query
                .get(&format!("/api/v1/products/{id}/"), Auth::default())
                .await?
                .ok("reading a product")?
                .json();
            let sku = doc.get("sku").and_then(Value::as_str).unwrap_or_default();
            if !sku.starts_with("VT-") {
                return Ok(false);
            }
            let Some(wanted) = images.url(sku) else {
                return Ok(false);
            };
            if doc.get("image_url").and_then(Value::as_str) == Some(wanted.as_str()) {
                return Ok(false);
            }
            let reply = command
                .send(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/products/{id}/"),
                    Auth::bearer(&args.admin_token),
                    Some(&json!({ "image": wanted })),
                )
                .await?;
            if !reply.status.is_success() {
                bail!(
                    "PATCH /api/v1/products/{id}/: {} {}",
                    reply.status,
                    truncate(&reply.body, 300)
                );
            }
            Ok(true)
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut changed = 0;
    for r in results {
        if r? {
            changed += 1;
        }
    }
    println!(
        "seed: {changed} product images pointed at the storefront's manifest in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Polls the storefront's categories until every slug of `slugs` is listed.
async fn wait_for_categories(
    query: &Api,
    slugs: &[String],
    within: Duration,
) -> Result<Vec<catalog::Category>> {
    let deadline = Instant::now() + within;
    loop {
        let listed = catalog::categories(query).await.unwrap_or_default();
        let missing: Vec<&String> = slugs
            .iter()
            .filter(|s| !listed.iter().any(|c| &c.slug == *s))
            .collect();
        if missing.is_empty() {
            return Ok(listed);
        }
        if Instant::now() >= deadline {
            bail!(
                "after {:?}, {} does not list categories {:?}",
                within,
                query.base(),
                missing
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls each product's detail page until all answer 200.
async fn wait_for_products(
    query: &Api,
    ids: &[String],
    concurrency: usize,
    within: Duration,
) -> Result<()> {
    let deadline = Instant::now() + within;
    let mut pending: Vec<String> = ids.to_vec();
    while !pending.is_empty() {
        let answered: Vec<(String, bool)> = stream::iter(pending.iter().cloned())
            .map(|id| async move {
                let ok = matches!(
                    query.get(&format!("/api/v1/products/{id}/"), Auth::default()).await,
                    Ok(reply) if reply.status.is_success()
                );
                (id, ok)
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        pending = answered
            .into_iter()
            .filter(|(_, ok)| !ok)
            .map(|(id, _)| id)
            .collect();
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "after {:?}, {} of {} products are still not readable at {} (first: {})",
                within,
                pending.len(),
                ids.len(),
                query.base(),
                pending[0]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_bodies_are_the_same_on_every_run() {
        let images = Images::Base("/i".into());
        assert_eq!(
            product_body(42, "c", &images),
            product_body(42, "c", &images)
        );
        assert_ne!(
            product_body(42, "c", &images)["sku"],
            product_body(43, "c", &images)["sku"]
        );
    }

    #[test]
    fn products_name_their_fingerprinted_image_from_the_manifest() {
        let manifest = HashMap::from([(
            "products/vt-00042.svg".to_owned(),
            "products/vt-00042.0123456789ab.svg".to_owned(),
        )]);
        let body = product_body(42, "c", &Images::Manifest(manifest));
        assert_eq!(body["image"], "/static/products/vt-00042.0123456789ab.svg");
        let none = product_body(43, "c", &Images::Manifest(HashMap::new()));
        assert!(none.get("image").is_none());
    }

    #[test]
    fn catalog_answers_searches_for_laptop_phone_and_camera() {
        let names: Vec<String> = (0..1000)
            .map(|i| {
                product_body(i, "c", &Images::Base(String::new()))
                    .to_string()
                    .to_lowercase()
            })
            .collect();
        for word in ["laptop", "phone", "camera"] {
            let hits = names.iter().filter(|n| n.contains(word)).count();
            assert!(hits >= 50, "{word}: {hits} products");
        }
    }

    #[test]
    fn stock_stays_between_100_and_1000() {
        for i in 0..1000 {
            let stock = product_body(i, "c", &Images::Base(String::new()))["stock"]
                .as_u64()
                .unwrap();
            assert!((100..=1000).contains(&stock));
        }
    }
}
