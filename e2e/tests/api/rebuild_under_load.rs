//! `projector rebuild` under a bounded read load through query-api (issue 6: reads never
//! fail while the read models are rebuilt): the whole pipeline runs in-process (command-api and its relay, a live
//! projector, query-api over HTTP); readers keep reading product details and list pages
//! while a rebuild replays the history into version 2, flips `rm_live` and drops version
//! 1 after its grace period. No read fails, and the readers move from v1 to v2 at the flip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::helpers::*;
use axum::http::StatusCode;
use projector::rebuild::{rebuild, Options};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::read_model::RedisKeys;

/// One read a reader made.
#[derive(Debug, Clone)]
struct Read {
    reader: usize,
    path: String,
    started: Instant,
    status: StatusCode,
    etag: String,
}

impl Read {
    /// The read-model version in the ETag (`"v{rm_version}-{rev}"`).
    fn version(&self) -> Option<i32> {
        self.etag
            .trim_matches('"')
            .strip_prefix('v')?
            .split_once('-')?
            .0
            .parse()
            .ok()
    }
}

/// When the flip happened, as seen by polling `rm_live`: the last poll that still saw
/// version 1 started at `last_v1`, the first that saw the new version ended at `first_new`.
/// The flip committed in between.
#[derive(Debug, Clone, Copy)]
struct Flip {
    last_v1: Instant,
    first_new: Instant,
}

async fn watch_flip(pool: sqlx::PgPool, within: Duration) -> Flip {
    let deadline = Instant::now() + within;
    let mut last_v1 = Instant::now();
    loop {
        let started = Instant::now();
        let version: i32 = sqlx::query_scalar("SELECT version FROM rm_live")
            .fetch_one(&pool)
            .await
            .expect("rm_live");
        if version == 1 {
            last_v1 = started;
        } else {
            return Flip {
                last_v1,
                first_new: Instant::now(),
            };
        }
        assert!(Instant::now() < deadline, "rm_live never flipped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the readers have done so far, for the test to poll.
#[derive(Default)]
struct Progress {
    reads: AtomicUsize,
    /// Reads that started after `settled` (once it is set).
    settled_reads: AtomicUsize,
    settled: OnceLock<Instant>,
}

impl Progress {
    fn count(&self, started: Instant) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        if self.settled.get().is_some_and(|s| started > *s) {
            self.settled_reads.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Polls (bounded) until `done` holds.
    async fn until(&self, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(self) {
            assert!(Instant::now() < deadline, "the readers made too few reads");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Redis keys of `version` under `prefix`.
async fn redis_keys(prefix: &str, version: i32) -> usize {
    let mut conn = vitrine_testkit::redis().await;
    let pattern = RedisKeys::new(prefix, version).pattern();
    let mut cursor: u64 = 0;
    let mut n = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(5000)
            .query_async(&mut conn)
            .await
            .unwrap();
        n += batch.len();
        if next == 0 {
            return n;
        }
        cursor = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebuild_under_read_load_fails_no_read_and_moves_readers_to_the_new_version() {
    let mut p = Pipeline::start().await;
    let pool = p.database_pool().clone();

    // An initial history through the real write path, projected live into version 1:
    // two categories, 30 products, carts of 6 sessions, 3 of them checked out.
    let mut slugs = Vec::new();
    let mut categories = Vec::new();
    for name in ["Lamps", "Chairs"] {
        let slug = format!("{}-{}", name.to_lowercase(), Uuid::now_v7().simple());
        let r = p
            .command
            .admin(
                Method::POST,
                "/api/v1/categories/",
                Some(json!({ "name": name, "slug": slug })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        categories.push(serde_json::from_value::<Uuid>(r.body["id"].clone()).unwrap());
        slugs.push(slug);
    }
    let mut products = Vec::new();
    for i in 0..30 {
        let id = p
            .command
            .create_product(categories[i % 2], 500 + (i as i64 * 137) % 4_000, 100)
            .await;
        products.push(id);
    }
    let mut last_read = String::new();
    for s in 0..6 {
        let token = p.command.session().await;
        for k in 0..2 {
            let r = p
                .command
                .shopper(
                    &token,
                    Method::POST,
                    "/api/v1/cart/",
                    Some(
                        json!({ "product_id": products[(s * 5 + k * 3) % 30], "quantity": k + 1 }),
                    ),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        }
        if s % 2 == 0 {
            let key = Uuid::now_v7().to_string();
            let r = p
                .command
                .post("/api/v1/checkout/")
                .bearer(&token)
                .header("Idempotency-Key", &key)
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            last_read = format!(
                "/api/v1/orders/{}/?min_version=1",
                r.body["order_id"].as_str().unwrap()
            );
            let order = p
                .get(&last_read, &[("authorization", &format!("Bearer {token}"))])
                .await;
            assert_eq!(order.status, StatusCode::OK, "{order:?}");
        }
    }
    assert!(!last_read.is_empty());
    let diffs = p.verify_settles(1, Duration::from_secs(15)).await;
    assert!(
        diffs.is_empty(),
        "v1 before the rebuild:\n{}",
        diffs.join("\n")
    );
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();

    // Readers: product details and list pages, back to back (5 ms apart), two of them
    // revalidating with If-None-Match. They run until they made enough reads after the flip.
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let mut readers = Vec::new();
    for reader in 0..4usize {
        let (client, base, stop) = (p.client.clone(), p.query_url.clone(), stop.clone());
        let progress = progress.clone();
        let products = products.clone();
        let lists = [
            "/api/v1/products/?sort=price".to_owned(),
            format!("/api/v1/products/?category={}&sort=name", slugs[reader % 2]),
            "/api/v1/products/?sort=newest&page=2".to_owned(),
            "/api/v1/products/?sort=-price".to_owned(),
        ];
        let revalidate = reader < 2;
        readers.push(tokio::spawn(async move {
            let mut reads = Vec::new();
            let mut etags: HashMap<String, String> = HashMap::new();
            let mut n = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let paths = [
                    format!(
                        "/api/v1/products/{}/",
                        products[(n * 7 + reader) % products.len()]
                    ),
                    lists[n % lists.len()].clone(),
                ];
                for path in paths {
                    let started = Instant::now();
                    let known = etags.get(&path).cloned().filter(|_| revalidate);
                    let headers: Vec<(&str, &str)> = known
                        .as_deref()
                        .map(|e| vec![("if-none-match", e)])
                        .unwrap_or_default();
                    let answer = get_from(&client, &base, &path, &headers).await;
                    let etag = answer.header("etag").to_owned();
                    if !etag.is_empty() {
                        etags.insert(path.clone(), etag.clone());
                    }
                    progress.count(started);
                    reads.push(Read {
                        reader,
                        path,
                        started,
                        status: answer.status,
                        etag,
                    });
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                n += 1;
            }
            reads
        }));
    }
    // The readers are reading (polled, bounded) before the rebuild starts.
    progress
        .until(|p| p.reads.load(Ordering::Relaxed) >= 60)
        .await;

    // The rebuild, with a short hand-off and grace; a writer keeps changing prices until
    // it is over (the live projector keeps projecting into v1, then into v2).
    let flip = tokio::spawn(watch_flip(pool.clone(), Duration::from_secs(30)));
    let started = Instant::now();
    let rebuilding = {
        let (pool, prefix) = (pool.clone(), p.prefix.clone());
        tokio::spawn(async move {
            let opts = Options {
                part_events: 250,
                handoff: Duration::from_millis(1_500),
                grace: Some(Duration::from_secs(2)),
                ..Options::default()
            };
            rebuild(&pool, &vitrine_testkit::redis_url(), &prefix, &opts).await
        })
    };
    let mut patches = 0;
    while !rebuilding.is_finished() {
        let product = products[patches % products.len()];
        let r = p
            .command
            .admin(
                Method::PATCH,
                &format!("/api/v1/products/{product}/"),
                Some(json!({ "price_cents": 1_000 + patches as i64 })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        patches += 1;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rebuild takes too long"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let report = rebuilding
        .await
        .unwrap()
        .expect("the rebuild finishes under load");
    let rebuilt_in = started.elapsed();
    let flip = flip.await.unwrap();
    eprintln!("{report} (returned after {rebuilt_in:.2?}, handoff and grace included)");

    // The readers keep reading until they made enough reads well after the flip (polled).
    let settled = flip.first_new + Duration::from_millis(1_500);
    progress.settled.set(settled).unwrap();
    progress
        .until(|p| Instant::now() > settled && p.settled_reads.load(Ordering::Relaxed) >= 60)
        .await;
    stop.store(true, Ordering::Relaxed);
    let mut reads: Vec<Read> = Vec::new();
    for r in readers {
        reads.extend(r.await.unwrap());
    }

    // No read failed.
    let failed: Vec<&Read> = reads
        .iter()
        .filter(|r| r.status != StatusCode::OK && r.status != StatusCode::NOT_MODIFIED)
        .collect();
    let not_modified = reads
        .iter()
        .filter(|r| r.status == StatusCode::NOT_MODIFIED)
        .count();
    let list_reads = reads.iter().filter(|r| r.path.contains('?')).count();
    assert!(list_reads > 0 && list_reads < reads.len());
    eprintln!(
        "{} reads ({list_reads} of list pages, {} × 304) by 4 readers, {} of them failed; {history} events before the rebuild, \
         {patches} price changes during the rebuild",
        reads.len(),
        not_modified,
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} failed read(s), e.g. {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(reads.len() > 200, "too few reads: {}", reads.len());
    assert!(not_modified > 0, "revalidating readers got no 304");

    // Readers moved from v1 to v2 at the flip, never back.
    assert_eq!((report.previous, report.version), (1, 2));
    let unversioned: Vec<&Read> = reads.iter().filter(|r| r.version().is_none()).collect();
    assert!(
        unversioned.is_empty(),
        "reads without an ETag: {:?}",
        &unversioned[..1]
    );
    let before: Vec<&Read> = reads.iter().filter(|r| r.started < flip.last_v1).collect();
    let settled = flip.first_new + Duration::from_millis(1_500);
    let after: Vec<&Read> = reads.iter().filter(|r| r.started > settled).collect();
    assert!(
        before.len() > 50 && after.len() > 50,
        "reads before the flip: {}, after it: {}",
        before.len(),
        after.len()
    );
    let stale_before: Vec<&&Read> = before.iter().filter(|r| r.version() != Some(1)).collect();
    assert!(
        stale_before.is_empty(),
        "v2 before the flip: {:?}",
        &stale_before[..1]
    );
    let stale_after: Vec<&&Read> = after.iter().filter(|r| r.version() != Some(2)).collect();
    assert!(
        stale_after.is_empty(),
        "{} read(s) still on v1 1.5 s after the flip, e.g. {:?}",
        stale_after.len(),
        stale_after[0]
    );
    let mut first_v2: HashMap<usize, Instant> = HashMap::new();
    for reader in 0..4 {
        let mine: Vec<&Read> = reads.iter().filter(|r| r.reader == reader).collect();
        let versions: Vec<i32> = mine.iter().filter_map(|r| r.version()).collect();
        assert!(
            versions.windows(2).all(|w| w[0] <= w[1]),
            "reader {reader} went back from v2 to v1"
        );
        if let Some(r) = mine.iter().find(|r| r.version() == Some(2)) {
            first_v2.insert(reader, r.started);
        }
    }
    let followed = first_v2
        .values()
        .map(|t| t.saturating_duration_since(flip.first_new))
        .max()
        .expect("readers reached v2");
    eprintln!("every reader read v2 within {followed:.0?} of the flip being visible");
    assert!(
        followed < Duration::from_secs(1),
        "query-api follows the flip within a second"
    );

    // The old version is gone from both stores after the grace period.
    let (status1, status2): (String, String) = sqlx::query_as(
        "SELECT (SELECT status FROM rm_versions WHERE version = 1),
                (SELECT status FROM rm_versions WHERE version = 2)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((status1.as_str(), status2.as_str()), ("dropped", "live"));
    assert_eq!(redis_keys(&p.prefix, 1).await, 0, "no Redis key of v1 left");
    assert!(redis_keys(&p.prefix, 2).await > 0);
    let v1_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_docs WHERE rm_version = 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(v1_rows, 0, "no PostgreSQL document of v1 left");
    assert_eq!(report.dropped_keys.map(|n| n > 0), Some(true));

    // The new version, with the price changes made during the rebuild, matches a fresh
    // fold of the event store in both stores.
    let diffs = p.verify_settles(2, Duration::from_secs(15)).await;
    assert!(
        diffs.is_empty(),
        "verify of v2 found {} difference(s):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    let last = products[(patches - 1) % products.len()];
    let doc = p.get(&format!("/api/v1/products/{last}/"), &[]).await;
    assert_eq!(doc.json()["price_cents"], json!(1_000 + patches as i64 - 1));
    p.stop_projector().await;
}
