//! `projector rebuild` against the real services: a history replayed into the next
//! read-model version while writers keep writing and the live projector keeps projecting
//! (nothing committed meanwhile is lost, the old version goes after its grace period); a
//! rebuild killed halfway; old event shapes upcast on the way; the gate that refuses to
//! flip a version that differs from the event store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::*;
use projector::rebuild::{rebuild, Options, Report};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};
use tokio::time::Instant;
use uuid::Uuid;
use vitrine_contract::read_model::RedisKeys;
use vitrine_contract::{Event, RecordedEvent, StreamId};
use vitrine_runtime::event_store;

// ---------------------------------------------------------------------------------------
// Writing events the way command-api does, from several tasks at once.
// ---------------------------------------------------------------------------------------

/// Appends `event` as the next version of its stream (`versions` holds the streams this
/// writer owns), on `conn`: a pool connection, or an open transaction.
async fn append(
    conn: &mut PgConnection,
    versions: &mut HashMap<String, i64>,
    event: Event,
) -> RecordedEvent {
    let stream = event.stream().to_string();
    let version = versions.get(&stream).copied().unwrap_or(0) + 1;
    versions.insert(stream.clone(), version);
    let mut rows = admin_rows();
    rows.push(version, &event);
    event_store::insert_returning(&mut *conn, &rows)
        .await
        .expect("insert event")
        .remove(0)
}

/// Plays the relay: publishes committed events keyed by their stream.
async fn publish(producer: &FutureProducer, pool: &PgPool, topic: &str, recs: &[RecordedEvent]) {
    publish_with(producer, pool, topic, recs).await;
}

/// A small deterministic generator (the tests need variety, not randomness).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One writer's own streams: products it created, carts of its sessions, its orders.
/// Streams are never shared between writers, so per-stream versions stay gap-free
/// (command-api gets the same from its row locks).
struct Writer {
    versions: HashMap<String, i64>,
    rng: XorShift,
    name: String,
    categories: Vec<Uuid>,
    /// Products anyone may put in a cart.
    catalog: Vec<(Uuid, String, i64)>,
    /// Products this writer created (and so may update).
    mine: Vec<Uuid>,
    sessions: Vec<Uuid>,
    carts: HashMap<Uuid, Vec<(Uuid, String, i64, i32)>>,
    orders: Vec<Uuid>,
    created: usize,
}

impl Writer {
    fn new(
        name: &str,
        seed: u64,
        categories: Vec<Uuid>,
        catalog: Vec<(Uuid, String, i64)>,
    ) -> Self {
        Self {
            versions: HashMap::new(),
            rng: XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            name: name.to_owned(),
            categories,
            catalog,
            mine: Vec::new(),
            sessions: (0..4).map(|_| Uuid::now_v7()).collect(),
            carts: HashMap::new(),
            orders: Vec::new(),
            created: 0,
        }
    }

    async fn create_product(&mut self, conn: &mut PgConnection) -> Vec<RecordedEvent> {
        let id = Uuid::now_v7();
        self.created += 1;
        let name = format!("{} Lamp {}", self.name, self.created);
        let price = 500 + self.rng.below(9_000) as i64;
        let cat = self.categories[self.rng.below(self.categories.len())];
        let rec = append(conn, &mut self.versions, product(id, &name, price, cat, 50)).await;
        self.mine.push(id);
        self.catalog.push((id, name, price));
        vec![rec]
    }

    /// One item put in one of this writer's carts.
    async fn add_to_cart(&mut self, conn: &mut PgConnection) -> Vec<RecordedEvent> {
        let session = self.sessions[self.rng.below(self.sessions.len())];
        let (pid, name, price) = self.catalog[self.rng.below(self.catalog.len())].clone();
        let lines = self.carts.entry(session).or_default();
        let quantity = match lines.iter_mut().find(|l| l.0 == pid) {
            Some(l) => {
                l.3 += 1;
                l.3
            }
            None => {
                lines.push((pid, name, price, 1));
                1
            }
        };
        vec![
            append(
                conn,
                &mut self.versions,
                Event::CartItemAdded {
                    session_id: session,
                    product_id: pid,
                    added: 1,
                    quantity,
                },
            )
            .await,
        ]
    }

    /// One command's worth of events (one to three), written on `conn`.
    async fn step(&mut self, conn: &mut PgConnection) -> Vec<RecordedEvent> {
        match self.rng.below(6) {
            0 => self.create_product(conn).await,
            1 | 2 if !self.mine.is_empty() => {
                let id = self.mine[self.rng.below(self.mine.len())];
                let mut upd = update(id);
                if let Event::ProductUpdated {
                    price_cents, name, ..
                } = &mut upd
                {
                    *price_cents = Some(100 + self.rng.below(9_900) as i64);
                    if self.rng.below(2) == 0 {
                        *name = Some(format!("{} Renamed {}", self.name, self.rng.below(1000)));
                    }
                }
                vec![append(conn, &mut self.versions, upd).await]
            }
            3 if !self.mine.is_empty() => {
                let id = self.mine[self.rng.below(self.mine.len())];
                let delta = self.rng.below(5) as i32 - 2;
                vec![
                    append(
                        conn,
                        &mut self.versions,
                        Event::StockAdjusted {
                            product_id: id,
                            delta,
                            stock: 50 + delta,
                        },
                    )
                    .await,
                ]
            }
            4 => self.add_to_cart(conn).await,
            _ => {
                // checkout of a non-empty cart: two streams in one transaction
                let session = self.sessions[self.rng.below(self.sessions.len())];
                let Some(lines) = self.carts.remove(&session).filter(|l| !l.is_empty()) else {
                    return self.create_product(conn).await;
                };
                let order_id = Uuid::now_v7();
                let lines = lines
                    .into_iter()
                    .map(|(pid, name, price, q)| line(pid, &name, price, q))
                    .collect();
                let mut recs = vec![
                    append(
                        conn,
                        &mut self.versions,
                        Event::CartCheckedOut {
                            session_id: session,
                            order_id,
                        },
                    )
                    .await,
                    append(conn, &mut self.versions, placed(order_id, session, lines)).await,
                ];
                if self.rng.below(2) == 0 {
                    recs.push(
                        append(
                            conn,
                            &mut self.versions,
                            Event::OrderPaid {
                                order_id,
                                payment_reference: format!("PAY-{}", order_id.simple()),
                            },
                        )
                        .await,
                    );
                }
                self.orders.push(order_id);
                recs
            }
        }
    }
}

/// A shop of a few hundred events: categories, products, carts, orders. Answers the
/// events and the categories and products made.
async fn seed_shop(
    pool: &PgPool,
    products: usize,
    sessions: usize,
) -> (Vec<RecordedEvent>, Vec<Uuid>, Vec<(Uuid, String, i64)>) {
    let mut conn = pool.acquire().await.unwrap();
    let mut versions = HashMap::new();
    let mut recs = Vec::new();
    let cats = vec![Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    recs.push(append(&mut conn, &mut versions, category(cats[0], "Outdoor", None)).await);
    recs.push(
        append(
            &mut conn,
            &mut versions,
            category(cats[1], "Tents", Some(cats[0])),
        )
        .await,
    );
    recs.push(append(&mut conn, &mut versions, category(cats[2], "Kitchen", None)).await);
    let mut catalog = Vec::new();
    for i in 0..products {
        let id = Uuid::now_v7();
        let name = format!("Item {i:04}");
        let price = 300 + (i as i64 * 37) % 5_000;
        recs.push(
            append(
                &mut conn,
                &mut versions,
                product(id, &name, price, cats[i % 3], 40),
            )
            .await,
        );
        if i % 2 == 0 {
            recs.push(
                append(
                    &mut conn,
                    &mut versions,
                    Event::StockAdjusted {
                        product_id: id,
                        delta: -1,
                        stock: 39,
                    },
                )
                .await,
            );
        }
        if i % 5 == 0 {
            let mut upd = update(id);
            if let Event::ProductUpdated { price_cents, .. } = &mut upd {
                *price_cents = Some(price + 99);
            }
            recs.push(append(&mut conn, &mut versions, upd).await);
        }
        catalog.push((id, name, price));
    }
    recs.push(
        append(
            &mut conn,
            &mut versions,
            Event::CategoryRenamed {
                category_id: cats[1],
                name: "Shelters".into(),
            },
        )
        .await,
    );
    for s in 0..sessions {
        let session = Uuid::now_v7();
        let a = &catalog[s % catalog.len()];
        let b = &catalog[(s * 7 + 3) % catalog.len()];
        for (p, quantity) in [(a, 1), (b, 2)] {
            recs.push(
                append(
                    &mut conn,
                    &mut versions,
                    Event::CartItemAdded {
                        session_id: session,
                        product_id: p.0,
                        added: quantity,
                        quantity,
                    },
                )
                .await,
            );
        }
        if s % 2 == 0 {
            let order_id = Uuid::now_v7();
            recs.push(
                append(
                    &mut conn,
                    &mut versions,
                    Event::CartCheckedOut {
                        session_id: session,
                        order_id,
                    },
                )
                .await,
            );
            recs.push(
                append(
                    &mut conn,
                    &mut versions,
                    placed(
                        order_id,
                        session,
                        vec![line(a.0, &a.1, a.2, 1), line(b.0, &b.1, b.2, 2)],
                    ),
                )
                .await,
            );
            if s % 4 == 0 {
                recs.push(
                    append(
                        &mut conn,
                        &mut versions,
                        Event::OrderPaid {
                            order_id,
                            payment_reference: format!("P{s}"),
                        },
                    )
                    .await,
                );
            }
        }
    }
    (recs, cats, catalog)
}

// ---------------------------------------------------------------------------------------
// Looking at versions.
// ---------------------------------------------------------------------------------------

fn redis_url() -> String {
    vitrine_testkit::redis_url()
}

async fn live_version(pool: &PgPool) -> i32 {
    projector::store::progress::live_version(pool)
        .await
        .unwrap()
}

async fn status_of(pool: &PgPool, version: i32) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM rm_versions WHERE version = $1")
        .bind(version)
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// The newest version a rebuild is building, if any.
async fn building(pool: &PgPool) -> Option<i32> {
    sqlx::query_scalar(
        "SELECT version FROM rm_versions WHERE status = 'building' ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Rows of `version` in each read-model table.
async fn rows_of(pool: &PgPool, version: i32) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "rm_docs",
        "rm_entities",
        "rm_search",
        "rm_list_pages",
        "rm_progress",
    ] {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table} WHERE rm_version = $1"
        ))
        .bind(version)
        .fetch_one(pool)
        .await
        .unwrap();
        out.push((table, n));
    }
    out
}

async fn assert_no_rows(pool: &PgPool, version: i32) {
    let rows = rows_of(pool, version).await;
    assert!(
        rows.iter().all(|(_, n)| *n == 0),
        "version {version} still has rows: {rows:?}"
    );
}

/// How many Redis keys `version` has under `prefix`.
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

/// A document of `version`, checked to be the same bytes in Redis and PostgreSQL.
async fn doc_at(pool: &PgPool, prefix: &str, version: i32, key: &str) -> Option<Value> {
    let mut conn = vitrine_testkit::redis().await;
    let in_redis: Option<String> = redis::cmd("HGET")
        .arg(RedisKeys::new(prefix, version).key(key))
        .arg("doc")
        .query_async(&mut conn)
        .await
        .unwrap();
    let in_pg: Option<Option<String>> =
        sqlx::query_scalar("SELECT doc FROM rm_docs WHERE rm_version = $1 AND key = $2")
            .bind(version)
            .bind(key)
            .fetch_optional(pool)
            .await
            .unwrap();
    let in_redis = in_redis.filter(|d| !d.is_empty());
    let in_pg = in_pg.flatten();
    assert_eq!(
        in_redis, in_pg,
        "Redis and PostgreSQL disagree on {key} (v{version})"
    );
    in_redis.map(|d| serde_json::from_str(&d).unwrap())
}

async fn verify_diffs(pool: &PgPool, prefix: &str, version: i32) -> Vec<String> {
    projector::verify(pool, &redis_url(), prefix, version)
        .await
        .expect("verify runs")
        .iter()
        .map(ToString::to_string)
        .collect()
}

async fn assert_verified(pool: &PgPool, prefix: &str, version: i32) {
    let diffs = verify_diffs(pool, prefix, version).await;
    assert!(
        diffs.is_empty(),
        "verify of v{version} found {} difference(s):\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every event of the store has been applied to `version`: each stream's entity holds
/// its last version (streams are gap-free, so their versions sum to the event count).
async fn all_applied(pool: &PgPool, version: i32) -> (i64, i64) {
    sqlx::query_as(
        "SELECT coalesce((SELECT sum(version)::int8 FROM rm_entities WHERE rm_version = $1), 0),
                (SELECT count(*) FROM events)",
    )
    .bind(version)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (bounded) until `version` holds every event and a fresh fold finds no
/// difference in either store.
async fn wait_converged(pool: &PgPool, prefix: &str, version: i32, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (applied, events) = all_applied(pool, version).await;
        if applied == events && verify_diffs(pool, prefix, version).await.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let diffs = verify_diffs(pool, prefix, version).await;
            panic!(
                "v{version} did not converge within {within:?}: {applied} of {events} events applied, \
                 {} difference(s):\n{}",
                diffs.len(),
                diffs.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Holds every rebuild at the end of its bulk write (its last PostgreSQL transaction
/// records list-page counts): `rm_list_pages` is locked against writes until the
/// returned transaction ends. Documents and entities of the new version are written by
/// then, so a rebuild stopped here is genuinely half-built. Nothing else in these
/// tests writes that table while the lock is held.
async fn hold_rebuild_before_its_last_write(pool: &PgPool) -> Transaction<'static, Postgres> {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE rm_list_pages IN SHARE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx
}

/// Waits (bounded) until a rebuild is building a version and has written its documents
/// to PostgreSQL and Redis; answers that version.
async fn wait_half_built(pool: &PgPool, prefix: &str) -> i32 {
    let mut redis = vitrine_testkit::redis().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = building(pool).await {
            let (docs,): (i64,) =
                // the catalog's documents are written last, after every part of sessions
                sqlx::query_as(
                    "SELECT count(*) FROM rm_docs WHERE rm_version = $1 AND key = 'categories'",
                )
                    .bind(v)
                    .fetch_one(pool)
                    .await
                    .unwrap();
            let in_redis: bool = redis::cmd("EXISTS")
                .arg(RedisKeys::new(prefix, v).key("categories"))
                .query_async(&mut redis)
                .await
                .unwrap();
            if docs > 0 && in_redis {
                return v;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no rebuild got to writing a version"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn options(handoff: Duration, grace: Option<Duration>) -> Options {
    Options {
        part_events: 250,
        handoff,
        grace,
        ..Options::default()
    }
}

/// Runs a rebuild on a task of its own (as `projector rebuild` runs in a process of its own).
fn spawn_rebuild(
    pool: &PgPool,
    prefix: &str,
    opts: Options,
) -> tokio::task::JoinHandle<anyhow::Result<Report>> {
    let (pool, prefix) = (pool.clone(), prefix.to_owned());
    tokio::spawn(async move { rebuild(&pool, &redis_url(), &prefix, &opts).await })
}

/// Applies `recs` into version 1 through the live path, in batches.
async fn project_live(h: &mut Harness, recs: &[RecordedEvent]) {
    for chunk in recs.chunks(500) {
        h.apply(chunk).await;
    }
}

// ---------------------------------------------------------------------------------------
// The live projector as a program.
// ---------------------------------------------------------------------------------------

fn config(h: &Harness, topic: &str) -> projector::Config {
    projector_config(h, topic, 100)
}

// ---------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_during_a_rebuild_appear_in_the_new_version() {
    let h = Harness::new().await;
    let pool = h.db.pool.clone();
    // writers get a pool of their own: their open transactions must not starve the rebuild
    let writers_pool = PgPoolOptions::new()
        .max_connections(8)
        .connect(&h.db.url)
        .await
        .unwrap();
    let topic = vitrine_testkit::unique_topic(3).await;
    let producer = producer();
    let (stop_live, live) = start_projector(config(&h, &topic)).await;

    let (seeded, cats, catalog) = seed_shop(&pool, 80, 40).await;
    assert!(seeded.len() > 250, "a few hundred events: {}", seeded.len());
    publish(&producer, &pool, &topic, &seeded).await;
    wait_converged(&pool, &h.prefix, 1, Duration::from_secs(30)).await;

    // Writers run for the whole rebuild: several streams each, some commands in
    // transactions held open a while, so positions commit out of order. One writer barely
    // pauses: every catch-up round finds fresh commits, and the rebuild must flip anyway
    // (it once waited for an empty round, which under steady writes may never come).
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (pool, producer, topic, stop) = (
            writers_pool.clone(),
            producer.clone(),
            topic.clone(),
            stop.clone(),
        );
        let mut writer = Writer::new(&format!("W{w}"), w + 1, cats.clone(), catalog.clone());
        let relentless = w == 0;
        writers.push(tokio::spawn(async move {
            let mut written = 0usize;
            let mut held = 0usize;
            let mut deliveries = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if relentless {
                    // cart commands back to back (1 ms apart), published without waiting for the broker
                    let mut conn = pool.acquire().await.unwrap();
                    for rec in writer.add_to_cart(&mut conn).await {
                        let value = rec.to_json();
                        let sent = producer.send_result(
                            FutureRecord::to(&topic).key(&rec.stream_id).payload(&value),
                        );
                        deliveries.push(sent.map_err(|(e, _)| e).expect("enqueued"));
                        written += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    continue;
                }
                let hold = writer.rng.below(3) == 0;
                let mut tx = pool.begin().await.unwrap();
                let recs = writer.step(&mut tx).await;
                if hold {
                    held += 1;
                    let ms = 50 + writer.rng.below(250) as u64;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                tx.commit().await.unwrap();
                publish(&producer, &pool, &topic, &recs).await;
                written += recs.len();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            for d in deliveries {
                d.await.unwrap().expect("the broker takes the event");
            }
            (written, held, writer.mine)
        }));
    }

    // The hand-off's hard cases, made certain rather than left to chance:
    // 1. a transaction that took its position before the rebuild's history snapshot and
    //    commits only once the history is folded (later positions are in the history);
    // 2. one that commits only after the flip, while the live projector switches.
    let straddlers: Vec<_> = [false, true]
        .into_iter()
        .map(|after_flip| {
            let (pool, producer, topic) = (writers_pool.clone(), producer.clone(), topic.clone());
            let cat = cats[0];
            tokio::spawn(async move {
                let id = Uuid::now_v7();
                let name = if after_flip {
                    "Late Lantern"
                } else {
                    "Straddling Stove"
                };
                let mut versions = HashMap::new();
                let mut tx = pool.begin().await.unwrap();
                let rec = append(&mut tx, &mut versions, product(id, name, 4_200, cat, 7)).await;
                let deadline = Instant::now() + Duration::from_secs(40);
                loop {
                    let ready: bool = if after_flip {
                        sqlx::query_scalar("SELECT version <> 1 FROM rm_live")
                            .fetch_one(&pool)
                            .await
                            .unwrap()
                    } else {
                        // the new version's entities are written: the history fold is done
                        sqlx::query_scalar(
                            "SELECT EXISTS (SELECT 1 FROM rm_entities WHERE rm_version > 1)",
                        )
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                    };
                    if ready {
                        break;
                    }
                    assert!(Instant::now() < deadline, "the rebuild never got there");
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                tx.commit().await.unwrap();
                publish(&producer, &pool, &topic, std::slice::from_ref(&rec)).await;
                (id, rec)
            })
        })
        .collect();

    // The writers are under way (events appended meanwhile, polled) before the rebuild starts.
    events_grow_by(&pool, 20).await;
    let started = Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(30),
        rebuild(
            &pool,
            &redis_url(),
            &h.prefix,
            // No hand-off window: the flip lock alone must hand over without a gap.
            &options(Duration::ZERO, Some(Duration::from_secs(1))),
        ),
    )
    .await
    .expect("the rebuild flips and finishes within 30 s while writers keep writing")
    .expect("the rebuild finishes");
    eprintln!("{report} (in {:.2?})", started.elapsed());
    // and a little longer: only the live projector (now on the new version) sees these
    events_grow_by(&pool, 20).await;
    stop.store(true, Ordering::Relaxed);
    let mut written = 0;
    let mut held = 0;
    let mut made = Vec::new();
    for w in writers {
        let (n, hd, mine) = w.await.unwrap();
        written += n;
        held += hd;
        made.extend(mine);
    }
    let mut late = Vec::new();
    for s in straddlers {
        late.push(s.await.unwrap());
    }
    eprintln!("writers wrote {written} events ({held} commands in held transactions)");
    assert!(
        written > 50 && held > 0,
        "writers wrote too little: {written}"
    );

    assert_eq!((report.previous, report.version), (1, 2));
    assert!(
        report.caught_up_events > 0,
        "the rebuild caught up nothing: {report}"
    );
    assert_eq!(live_version(&pool).await, 2, "rm_live follows the flip");
    wait_converged(&pool, &h.prefix, 2, Duration::from_secs(30)).await;

    // The first straddler was not in the history snapshot, yet later positions were: a
    // hand-off at "position > last folded" would have lost it. (If the snapshot held no
    // position above it, the history could not be larger than the events below it.)
    let (_, stove_rec) = &late[0];
    let below_stove: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE position < $1")
        .bind(stove_rec.position)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        report.history_events > below_stove as u64,
        "the history snapshot held positions after the straddler's ({} events, {below_stove} below it)",
        report.history_events
    );
    // both straddlers and every product the writers made are readable in the new version
    for (id, _) in &late {
        let doc = doc_at(&pool, &h.prefix, 2, &format!("product:{id}"))
            .await
            .unwrap_or_else(|| panic!("product {id} written during the rebuild is in v2"));
        assert_eq!(doc["id"], json!(id));
    }
    let keys: Vec<String> = made.iter().map(|id| format!("product:{id}")).collect();
    let found: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_docs WHERE rm_version = 2 AND key = ANY($1) AND doc IS NOT NULL",
    )
    .bind(&keys)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        found as usize,
        made.len(),
        "every writer's product is in v2"
    );

    // the old version was dropped after the grace period, in both stores
    assert_eq!(status_of(&pool, 2).await.as_deref(), Some("live"));
    assert_eq!(status_of(&pool, 1).await.as_deref(), Some("dropped"));
    assert_eq!(report.dropped_keys.map(|n| n > 0), Some(true));
    assert_no_rows(&pool, 1).await;
    assert_eq!(redis_keys(&h.prefix, 1).await, 0, "no Redis key of v1 left");

    let _ = stop_live.send(());
    live.await.unwrap().expect("a clean stop");
}

#[tokio::test]
async fn a_rebuild_killed_halfway_leaves_the_live_version_serving_and_a_second_rebuild_finishes() {
    let mut h = Harness::new().await;
    let pool = h.db.pool.clone();
    let (recs, _, catalog) = seed_shop(&pool, 400, 500).await;
    assert!(recs.len() > 2_000, "a few thousand events: {}", recs.len());
    project_live(&mut h, &recs).await;
    assert_verified(&pool, &h.prefix, 1).await;
    let live_docs = projector::store::documents::pg_docs(&pool, 1)
        .await
        .unwrap();
    let live_keys = redis_keys(&h.prefix, 1).await;
    let some_product = format!("product:{}", catalog[17].0);
    let product_before = doc_at(&pool, &h.prefix, 1, &some_product).await.unwrap();

    // kill a rebuild halfway: its new version written in part, nothing flipped
    let hold = hold_rebuild_before_its_last_write(&pool).await;
    let task = spawn_rebuild(
        &pool,
        &h.prefix,
        options(Duration::ZERO, Some(Duration::ZERO)),
    );
    let abandoned = wait_half_built(&pool, &h.prefix).await;
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    hold.rollback().await.unwrap();
    assert_eq!(abandoned, 2);
    assert_eq!(
        status_of(&pool, abandoned).await.as_deref(),
        Some("building")
    );
    let half: i64 = rows_of(&pool, abandoned).await.iter().map(|r| r.1).sum();
    assert!(
        half > 0,
        "the killed rebuild had written part of v{abandoned}"
    );

    // the live version is untouched and still reads
    assert_eq!(live_version(&pool).await, 1);
    assert_eq!(
        projector::store::documents::pg_docs(&pool, 1)
            .await
            .unwrap(),
        live_docs
    );
    assert_eq!(redis_keys(&h.prefix, 1).await, live_keys);
    assert_eq!(
        doc_at(&pool, &h.prefix, 1, &some_product).await,
        Some(product_before)
    );
    assert_verified(&pool, &h.prefix, 1).await;

    // the killed rebuild's connection (and its rebuild lock) goes away with it
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid::int8 = $1 AND objsubid = 2
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .bind(0x7262i64)
        .fetch_one(&pool)
        .await
        .unwrap();
        if held == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the killed rebuild's lock was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // a second rebuild removes the half-built version and finishes
    let report = rebuild(
        &pool,
        &redis_url(),
        &h.prefix,
        &options(Duration::ZERO, Some(Duration::ZERO)),
    )
    .await
    .expect("the second rebuild finishes");
    eprintln!("{report}");
    assert_eq!((report.previous, report.version), (1, abandoned + 1));
    assert_eq!(report.history_events, recs.len() as u64);
    assert_eq!(status_of(&pool, abandoned).await.as_deref(), Some("failed"));
    assert_no_rows(&pool, abandoned).await;
    assert_eq!(redis_keys(&h.prefix, abandoned).await, 0);

    assert_eq!(live_version(&pool).await, report.version);
    assert_eq!(
        status_of(&pool, report.version).await.as_deref(),
        Some("live")
    );
    assert_verified(&pool, &h.prefix, report.version).await;
    // the same documents as the live version had, byte for byte
    assert_eq!(
        projector::store::documents::pg_docs(&pool, report.version)
            .await
            .unwrap(),
        live_docs
    );
    assert_eq!(status_of(&pool, 1).await.as_deref(), Some("dropped"));
    assert_no_rows(&pool, 1).await;
    assert_eq!(redis_keys(&h.prefix, 1).await, 0);
}

#[tokio::test]
async fn old_product_events_are_upcast_during_a_rebuild() {
    let mut h = Harness::new().await;
    let pool = h.db.pool.clone();
    let cat = Uuid::now_v7();
    h.record(category(cat, "Cameras", None)).await;
    // product_created as schema 1 wrote it: no slug
    let mut old = Vec::new();
    for i in 1..=3 {
        let id = Uuid::now_v7();
        let payload = json!({
            "product_id": id,
            "sku": format!("CAM-{i}"),
            "name": format!("Travel Camera {i}"),
            "description": "Small, light, weatherproof",
            "price_cents": 19_900 + i,
            "currency": "EUR",
            "category_id": cat,
            "stock": 5,
            "image": null,
            "attributes": {"zoom": "3x"}
        });
        h.insert_raw(
            &StreamId::product(id).to_string(),
            1,
            "product_created",
            1,
            payload,
        )
        .await;
        old.push(id);
    }
    // a rename later on keeps the slug of the name at creation
    let mut rename = update(old[0]);
    if let Event::ProductUpdated { name, .. } = &mut rename {
        *name = Some("Travel Camera One".into());
    }
    h.record(rename).await;
    // a schema-2 event carries its own slug, which the read model takes as it is
    let new = Uuid::now_v7();
    let mut current = product(new, "Pocket Cam", 9_900, cat, 3);
    if let Event::ProductCreated { slug, .. } = &mut current {
        *slug = "pocket-cam-special".into();
    }
    h.record(current).await;
    let stored_before = h.all_events().await;

    let report = rebuild(
        &pool,
        &redis_url(),
        &h.prefix,
        &options(Duration::ZERO, None),
    )
    .await
    .expect("the rebuild finishes");
    assert_eq!(report.version, 2);
    assert_eq!(live_version(&pool).await, 2);

    let expected: HashMap<Uuid, &str> = [
        (old[0], "travel-camera-1"),
        (old[1], "travel-camera-2"),
        (old[2], "travel-camera-3"),
        (new, "pocket-cam-special"),
    ]
    .into_iter()
    .collect();
    for (id, slug) in &expected {
        let doc = doc_at(&pool, &h.prefix, 2, &format!("product:{id}"))
            .await
            .expect("product document in v2");
        assert_eq!(doc["slug"], json!(slug), "{doc}");
    }
    assert_eq!(
        doc_at(&pool, &h.prefix, 2, &format!("product:{}", old[0]))
            .await
            .unwrap()["name"],
        json!("Travel Camera One")
    );
    // list pages carry the slug too: every product list, every sort
    for list in ["all", "cameras"] {
        for sort in ["name", "price", "-price", "newest"] {
            let page = doc_at(&pool, &h.prefix, 2, &format!("products:{list}:{sort}:1"))
                .await
                .unwrap_or_else(|| panic!("list page {list}:{sort}:1 in v2"));
            let items = page["items"].as_array().expect("items");
            assert_eq!(items.len(), 4, "{page}");
            for item in items {
                let id: Uuid = serde_json::from_value(item["id"].clone()).unwrap();
                assert_eq!(item["slug"], json!(expected[&id]), "{list}:{sort}: {item}");
            }
        }
    }
    assert_verified(&pool, &h.prefix, 2).await;

    // the stored events are exactly as they were: still schema 1, still without a slug
    let stored_after = h.all_events().await;
    assert_eq!(stored_after.len(), stored_before.len());
    for (a, b) in stored_before.iter().zip(&stored_after) {
        assert_eq!(
            (a.position, a.schema_version, &a.payload),
            (b.position, b.schema_version, &b.payload)
        );
    }
    let v1: Vec<&RecordedEvent> = stored_after
        .iter()
        .filter(|r| r.event_type == "product_created" && r.schema_version == 1)
        .collect();
    assert_eq!(v1.len(), 3);
    assert!(v1.iter().all(|r| r.payload.get("slug").is_none()));
}

#[tokio::test]
async fn the_gate_refuses_to_flip_a_version_that_differs_from_the_event_store() {
    let mut h = Harness::new().await;
    let pool = h.db.pool.clone();
    let (recs, _, _) = seed_shop(&pool, 30, 10).await;
    project_live(&mut h, &recs).await;
    assert_verified(&pool, &h.prefix, 1).await;

    // a stray write lands in the version being built (a projection bug, a hand edit)
    let hold = hold_rebuild_before_its_last_write(&pool).await;
    let task = spawn_rebuild(
        &pool,
        &h.prefix,
        options(Duration::ZERO, Some(Duration::ZERO)),
    );
    let version = wait_half_built(&pool, &h.prefix).await;
    let tampered = sqlx::query(
        "UPDATE rm_docs SET doc = '{\"tampered\":true}' WHERE rm_version = $1 AND key = 'categories'",
    )
    .bind(version)
    .execute(&pool)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(tampered, 1);
    hold.rollback().await.unwrap();

    let err = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the rebuild ends")
        .unwrap()
        .expect_err("the gate stops the rebuild");
    let message = err.to_string();
    assert!(
        message.contains("gate")
            && message.contains("1 document(s)")
            && message.contains("not flipped"),
        "{message}"
    );

    // nothing flipped; the refused version is marked failed, with why, and removed
    assert_eq!(live_version(&pool).await, 1);
    assert_eq!(status_of(&pool, 1).await.as_deref(), Some("live"));
    let (status, note): (String, Option<String>) =
        sqlx::query_as("SELECT status, note FROM rm_versions WHERE version = $1")
            .bind(version)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    assert!(note.unwrap_or_default().contains("gate"));
    assert_no_rows(&pool, version).await;
    assert_eq!(redis_keys(&h.prefix, version).await, 0);
    assert_verified(&pool, &h.prefix, 1).await;
}

// ---------------------------------------------------------------------------------------
// The operator's commands refuse what is not the store.
// ---------------------------------------------------------------------------------------

/// Runs the `projector` binary with `args` against a database and prefix; answers the
/// exit code and stderr.
fn projector_cli(database_url: &str, prefix: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_projector"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("DATABASE_DIRECT_URL")
        .env("REDIS_URL", vitrine_testkit::redis_url())
        .env("REDIS_PREFIX", prefix)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("the projector binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn operator_commands_refuse_a_database_or_redis_prefix_that_is_not_the_store() {
    use sqlx::ConnectOptions;
    // a database with no store at all (the server's default database, say)
    let admin: sqlx::postgres::PgConnectOptions = vitrine_testkit::database_url().parse().unwrap();
    let empty = format!("vitrine_test_{}", Uuid::now_v7().simple());
    let mut conn = admin.connect().await.unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {empty}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let empty_url = admin.clone().database(&empty).to_url_lossy().to_string();
    let (code, _, err) = projector_cli(&empty_url, "t:none:", &["rebuild", "--grace-seconds", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds no Vitrine store"), "{err}");
    assert!(!err.contains("backtrace"), "one line, no backtrace: {err}");
    let untouched: bool = sqlx::query_scalar("SELECT to_regclass('events') IS NULL")
        .fetch_one(&mut admin.clone().database(&empty).connect().await.unwrap())
        .await
        .unwrap();
    assert!(untouched, "nothing was migrated into it");

    // a store with a history, whose prefix holds its marker and documents
    let mut a = Harness::new().await;
    let cat = Uuid::now_v7();
    let recs = vec![
        a.record(category(cat, "Kites", None)).await,
        a.record(product(Uuid::now_v7(), "Box Kite", 3000, cat, 5))
            .await,
    ];
    a.apply(&recs).await;
    projector::redis_repair::repair_once(&a.db.pool, &mut a.redis, &a.prefix)
        .await
        .unwrap();
    let (code, out, err) = projector_cli(&a.db.url, &a.prefix, &["verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("clean"), "{out}");

    // another store's database pointed at this prefix: refused, nothing removed
    let b = Harness::new().await;
    let keys_before =
        projector::store::redis_docs::scan_keys(&mut a.redis, &format!("{}*", a.prefix))
            .await
            .unwrap()
            .len();
    for args in [
        &["rebuild", "--grace-seconds", "0"][..],
        &["drop-version", "1"][..],
        &["verify"][..],
    ] {
        let (code, _, err) = projector_cli(&b.db.url, &a.prefix, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("belong to store"), "{args:?}: {err}");
    }
    let keys_after =
        projector::store::redis_docs::scan_keys(&mut a.redis, &format!("{}*", a.prefix))
            .await
            .unwrap()
            .len();
    assert_eq!(keys_before, keys_after);

    // a store with no history has nothing to rebuild from; the live version is not dropped
    let (code, _, err) = projector_cli(&b.db.url, &b.prefix, &["rebuild", "--grace-seconds", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no history"), "{err}");
    let (code, _, err) = projector_cli(&a.db.url, &a.prefix, &["drop-version", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is live"), "{err}");
    sqlx::raw_sql(&format!("DROP DATABASE {empty}"))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Waits (bounded) until `n` more events are in the store than when called.
async fn events_grow_by(pool: &PgPool, n: i64) {
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events")
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let want = count().await + n;
    let deadline = Instant::now() + Duration::from_secs(30);
    while count().await < want {
        assert!(
            Instant::now() < deadline,
            "the writers did not write {n} more events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_rebuild_folding_history_in_small_parts_renders_what_the_live_path_rendered() {
    let mut h = Harness::new().await;
    let pool = h.db.pool.clone();
    let (mut recs, _, catalog) = seed_shop(&pool, 12, 30).await;
    // Shoppers who come back: each of these sessions places three orders, interleaved
    // with the others' (so a session's events are far apart in position order), and
    // cancels one of them (cancelled orders do not count as co-purchases).
    let mut conn = pool.acquire().await.unwrap();
    let mut versions = HashMap::new();
    let sessions: Vec<Uuid> = (0..8).map(|_| Uuid::now_v7()).collect();
    for round in 0..3 {
        for (s, session) in sessions.iter().enumerate() {
            let a = &catalog[(s + round) % catalog.len()];
            let b = &catalog[(s * 5 + round + 1) % catalog.len()];
            let order_id = Uuid::now_v7();
            recs.push(
                append(
                    &mut conn,
                    &mut versions,
                    placed(
                        order_id,
                        *session,
                        vec![line(a.0, &a.1, a.2, 1), line(b.0, &b.1, b.2, 1)],
                    ),
                )
                .await,
            );
            if round == 1 {
                recs.push(
                    append(&mut conn, &mut versions, Event::OrderCancelled { order_id }).await,
                );
            }
        }
    }
    drop(conn);
    project_live(&mut h, &recs).await;

    // parts of about 4 events: dozens of parts, each of whole sessions
    let opts = Options {
        part_events: 4,
        ..options(Duration::ZERO, None)
    };
    let report = rebuild(&pool, &redis_url(), &h.prefix, &opts)
        .await
        .expect("the rebuild finishes");
    assert_eq!(report.history_events, recs.len() as u64);

    let live = projector::store::documents::pg_docs(&pool, 1)
        .await
        .unwrap();
    let rebuilt = projector::store::documents::pg_docs(&pool, 2)
        .await
        .unwrap();
    assert!(live.len() > 100, "a shop of {} documents", live.len());
    let keys = |docs: &[(String, String)]| docs.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
    assert_eq!(keys(&rebuilt), keys(&live), "the same documents");
    for ((key, want), (_, got)) in live.iter().zip(&rebuilt) {
        assert_eq!(got, want, "{key}: the rebuilt document is the live one");
    }
    // a returning shopper's orders list holds all three orders
    let orders = doc_at(&pool, &h.prefix, 2, &format!("orders:{}", sessions[0]))
        .await
        .expect("the orders document of a returning shopper");
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(3),
        "{orders}"
    );
    assert_verified(&pool, &h.prefix, 2).await;
}

#[tokio::test]
async fn the_gate_flips_a_version_whose_carts_redis_evicted_but_postgres_holds() {
    let mut h = Harness::new().await;
    let pool = h.db.pool.clone();
    let (recs, _, _) = seed_shop(&pool, 10, 10).await;
    project_live(&mut h, &recs).await;

    // Redis at its memory limit evicts documents with a lifetime (carts): the new
    // version's cart is then absent from Redis, a cold cache entry query-api fills from
    // PostgreSQL, not a wrong document
    let hold = hold_rebuild_before_its_last_write(&pool).await;
    let task = spawn_rebuild(&pool, &h.prefix, options(Duration::ZERO, None));
    let version = wait_half_built(&pool, &h.prefix).await;
    let cart: String = sqlx::query_scalar(
        "SELECT key FROM rm_docs WHERE rm_version = $1 AND key LIKE 'cart:%' LIMIT 1",
    )
    .bind(version)
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut redis = vitrine_testkit::redis().await;
    let removed: i64 = redis::cmd("DEL")
        .arg(RedisKeys::new(&h.prefix, version).key(&cart))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(removed, 1);
    hold.rollback().await.unwrap();

    let report = tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .expect("the rebuild ends")
        .unwrap()
        .expect("the gate lets a cold cache entry through");
    assert_eq!(report.version, version);
    assert_eq!(live_version(&pool).await, version);
    let in_pg: Option<String> =
        sqlx::query_scalar("SELECT doc FROM rm_docs WHERE rm_version = $1 AND key = $2")
            .bind(version)
            .bind(&cart)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(in_pg.is_some(), "PostgreSQL holds the cart");
}
