//! `projector verify`: fold the event store in memory with the same renderers and
//! compare with what both stores hold for a read-model version.
//!
//! Each kind of Redis key is read as what it is: documents are hashes (`rev`, `doc`);
//! cached search results are strings written by query-api and are not documents; a
//! negative-cache entry (rev 0) says a document was never written. A document missing
//! from Redis is *absent* (a cold cache, which query-api fills on the first read), kept
//! apart from *different*. On a live store, documents can change between the fold and
//! the read: differing keys are checked again against fresh folds, and only those that
//! still differ while their rev stood still are reported as different; those still
//! moving are reported as *changing*.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::time::Duration;

use redis::aio::ConnectionLike;
use sqlx::PgPool;
use vitrine_contract::read_model::{RedisKeys, ABSENT_REV};
use vitrine_runtime::event_store;

use crate::render;
use crate::store;
use crate::world::World;

/// One document that differs from the fresh fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub key: String,
    /// `postgres` or `redis`.
    pub store: &'static str,
    pub expected: Option<String>,
    pub found: Option<String>,
}

impl Difference {
    /// Expected but not in Redis: a cold cache entry, not a wrong one.
    pub fn is_absent_from_redis(&self) -> bool {
        self.store == "redis" && self.expected.is_some() && self.found.is_none()
    }
}

fn snippet(s: &Option<String>) -> String {
    match s {
        None => "(absent)".to_owned(),
        Some(s) if s.len() > 160 => format!(
            "{}…",
            &s[..s.char_indices().nth(160).map(|(i, _)| i).unwrap_or(s.len())]
        ),
        Some(s) => s.clone(),
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}]\n  expected: {}\n  found:    {}",
            self.key,
            self.store,
            snippet(&self.expected),
            snippet(&self.found)
        )
    }
}

/// The events visible in `snapshot` (a `pg_snapshot` in text form; all events when
/// `None`) folded from scratch.
pub async fn fold_at(pool: &PgPool, snapshot: Option<&str>) -> sqlx::Result<World> {
    let mut world = World::default();
    let events = match snapshot {
        Some(snapshot) => event_store::read_visible_in(pool, snapshot).await?,
        None => event_store::read_all(pool).await?,
    };
    for rec in &events {
        world.fold(rec);
    }
    Ok(world)
}

/// A stored document: rev and bytes.
type Stored = BTreeMap<String, (i64, String)>;

fn compare(
    expected: &BTreeMap<String, String>,
    found: &Stored,
    keys: &BTreeSet<String>,
    store: &'static str,
) -> Vec<Difference> {
    keys.iter()
        .filter_map(|k| {
            let want = expected.get(k);
            let have = found.get(k).map(|(_, d)| d);
            (want != have).then(|| Difference {
                key: k.clone(),
                store,
                expected: want.cloned(),
                found: have.cloned(),
            })
        })
        .collect()
}

/// Non-tombstone documents of `version` in PostgreSQL (all, or only `keys`).
async fn pg_docs(pool: &PgPool, version: i32, keys: Option<&[String]>) -> sqlx::Result<Stored> {
    let rows: Vec<(String, i64, String)> = match keys {
        None => {
            sqlx::query_as(
                "SELECT key, rev, doc FROM rm_docs WHERE rm_version = $1 AND doc IS NOT NULL",
            )
            .bind(version)
            .fetch_all(pool)
            .await?
        }
        Some(keys) => {
            sqlx::query_as(
                "SELECT key, rev, doc FROM rm_docs WHERE rm_version = $1 AND doc IS NOT NULL AND key = ANY($2)",
            )
            .bind(version)
            .bind(keys)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(rows.into_iter().map(|(k, r, d)| (k, (r, d))).collect())
}

/// What Redis holds under a version, by kind of key.
#[derive(Debug, Default)]
struct RedisScan {
    docs: Stored,
    /// Cached search result pages (strings written by query-api).
    search_entries: u64,
    /// Negative-cache entries (rev 0): documents never written.
    absent_entries: u64,
    /// Keys of a type no reader writes (reported, never read as documents).
    unexpected: Vec<(String, String)>,
}

/// Reads the document hashes among `redis_keys` (full Redis keys); `strip` turns a Redis
/// key back into its doc key.
async fn read_redis<C: ConnectionLike>(
    conn: &mut C,
    redis_keys: &[String],
    strip: &str,
) -> redis::RedisResult<RedisScan> {
    let mut scan = RedisScan::default();
    let doc_keys: Vec<&String> = redis_keys
        .iter()
        .filter(|k| {
            let doc_key = k.strip_prefix(strip).unwrap_or(k);
            if doc_key.starts_with("search:") {
                scan.search_entries += 1;
                false
            } else {
                true
            }
        })
        .collect();
    for chunk in doc_keys.chunks(500) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd("TYPE").arg(k.as_str());
        }
        let types: Vec<String> = pipe.query_async(conn).await?;
        let mut pipe = redis::pipe();
        let mut hashes = Vec::new();
        for (k, t) in chunk.iter().zip(types) {
            match t.as_str() {
                "hash" => {
                    pipe.cmd("HMGET").arg(k.as_str()).arg("rev").arg("doc");
                    hashes.push(*k);
                }
                "none" => {} // expired or removed since the scan
                other => scan.unexpected.push(((*k).clone(), other.to_owned())),
            }
        }
        if hashes.is_empty() {
            continue;
        }
        let fields: Vec<(Option<String>, Option<String>)> = pipe.query_async(conn).await?;
        for (k, (rev, doc)) in hashes.into_iter().zip(fields) {
            let key = k.strip_prefix(strip).unwrap_or(k).to_owned();
            let rev: i64 = rev.and_then(|r| r.parse().ok()).unwrap_or(-1);
            match doc.filter(|d| !d.is_empty()) {
                Some(doc) => {
                    scan.docs.insert(key, (rev, doc));
                }
                None if rev == ABSENT_REV => scan.absent_entries += 1,
                None => {} // tombstone
            }
        }
    }
    Ok(scan)
}

async fn redis_conn(redis_url: &str) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Duration::from_secs(5))
        .set_response_timeout(Duration::from_secs(30));
    Ok(redis::Client::open(redis_url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Every difference between a fresh fold and read-model `version` in PostgreSQL
/// (`rm_docs`) and Redis (under `prefix`), a document absent from Redis included (tests
/// want both stores whole). Tombstones count as absent; cached search results and
/// negative-cache entries are not documents.
pub async fn verify(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    version: i32,
) -> anyhow::Result<Vec<Difference>> {
    verify_at(pool, redis_url, prefix, version, None).await
}

/// [`verify`] against a fold of only the events visible in `snapshot`: what a rebuild's
/// gate checks, since its new version holds exactly those events.
pub async fn verify_at(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    version: i32,
    snapshot: Option<&str>,
) -> anyhow::Result<Vec<Difference>> {
    let world = fold_at(pool, snapshot).await?;
    let expected = render::all_docs(&world);
    let in_pg = pg_docs(pool, version, None).await?;
    let keys = RedisKeys::new(prefix, version);
    let mut conn = redis_conn(redis_url).await?;
    let redis_keys = store::redis_docs::scan_keys(&mut conn, &keys.pattern()).await?;
    let in_redis = read_redis(&mut conn, &redis_keys, &keys.key(""))
        .await?
        .docs;
    let all = |found: &Stored| -> BTreeSet<String> {
        expected.keys().chain(found.keys()).cloned().collect()
    };
    let mut diffs = compare(&expected, &in_pg, &all(&in_pg), "postgres");
    diffs.extend(compare(&expected, &in_redis, &all(&in_redis), "redis"));
    Ok(diffs)
}

/// How `projector verify` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Check only this many documents, chosen at random (all when `None`).
    pub sample: Option<usize>,
    /// Rounds of re-checking differing keys against fresh folds (for a live store).
    pub rechecks: u32,
    /// Pause between re-check rounds.
    pub pause: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sample: None,
            rechecks: 3,
            pause: Duration::from_millis(1000),
        }
    }
}

/// Counts for one kind of document (`product`, `products`, `cart`, …).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KindCounts {
    pub checked: u64,
    pub same: u64,
    pub absent_from_redis: u64,
    pub different: u64,
    pub changing: u64,
}

/// What `projector verify` prints.
#[derive(Debug, Default)]
pub struct Report {
    pub version: i32,
    pub kinds: BTreeMap<String, KindCounts>,
    /// Settled differences: the stored document did not move between checks and still
    /// differs from the fold.
    pub differences: Vec<Difference>,
    /// Keys that kept changing while being checked (a busy store).
    pub changing: Vec<String>,
    pub search_entries: u64,
    pub absent_entries: u64,
    pub unexpected: Vec<(String, String)>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }
}

fn kind_of(key: &str) -> String {
    key.split(':').next().unwrap_or(key).to_owned()
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "read-model version {}\n{:<16} {:>9} {:>9} {:>18} {:>10} {:>9}",
            self.version, "kind", "checked", "same", "absent from Redis", "different", "changing"
        )?;
        let mut total = KindCounts::default();
        for (kind, c) in &self.kinds {
            writeln!(
                f,
                "{:<16} {:>9} {:>9} {:>18} {:>10} {:>9}",
                kind, c.checked, c.same, c.absent_from_redis, c.different, c.changing
            )?;
            total.checked += c.checked;
            total.same += c.same;
            total.absent_from_redis += c.absent_from_redis;
            total.different += c.different;
            total.changing += c.changing;
        }
        writeln!(
            f,
            "{:<16} {:>9} {:>9} {:>18} {:>10} {:>9}",
            "total",
            total.checked,
            total.same,
            total.absent_from_redis,
            total.different,
            total.changing
        )?;
        writeln!(
            f,
            "also in Redis: {} cached search pages, {} negative-cache entries{}",
            self.search_entries,
            self.absent_entries,
            if self.unexpected.is_empty() {
                String::new()
            } else {
                format!(", {} keys of an unexpected type", self.unexpected.len())
            }
        )?;
        for (key, t) in &self.unexpected {
            writeln!(f, "  unexpected {t} key: {key}")?;
        }
        Ok(())
    }
}

/// Chooses `n` of `keys` at random (all when `n` is `None` or larger).
fn sample(keys: BTreeSet<String>, n: Option<usize>) -> BTreeSet<String> {
    match n {
        Some(n) if n < keys.len() => {
            let hasher = RandomState::new();
            let mut ordered: Vec<(u64, String)> =
                keys.into_iter().map(|k| (hasher.hash_one(&k), k)).collect();
            ordered.sort_unstable();
            ordered.into_iter().take(n).map(|(_, k)| k).collect()
        }
        _ => keys,
    }
}

/// The operator's verify: every kind of key checked as what it is, absent apart from
/// different, differing keys re-checked against fresh folds while the store moves.
pub async fn check(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    version: i32,
    options: &Options,
) -> anyhow::Result<Report> {
    let keys = RedisKeys::new(prefix, version);
    let strip = keys.key("");
    let mut conn = redis_conn(redis_url).await?;

    let world = fold_at(pool, None).await?;
    let expected = render::all_docs(&world);
    let in_pg = pg_docs(pool, version, None).await?;
    let redis_keys = store::redis_docs::scan_keys(&mut conn, &keys.pattern()).await?;
    let scan = read_redis(&mut conn, &redis_keys, &strip).await?;
    let chosen = sample(
        expected
            .keys()
            .chain(in_pg.keys())
            .chain(scan.docs.keys())
            .cloned()
            .collect(),
        options.sample,
    );

    let mut report = Report {
        version,
        search_entries: scan.search_entries,
        absent_entries: scan.absent_entries,
        unexpected: scan.unexpected,
        ..Report::default()
    };
    let mut absent: BTreeSet<String> = BTreeSet::new();
    let mut suspects: BTreeMap<String, Vec<Difference>> = BTreeMap::new();
    for d in compare(&expected, &in_pg, &chosen, "postgres")
        .into_iter()
        .chain(compare(&expected, &scan.docs, &chosen, "redis"))
    {
        if d.is_absent_from_redis() {
            absent.insert(d.key.clone());
        } else {
            suspects.entry(d.key.clone()).or_default().push(d);
        }
    }
    // the revs seen, per store, to tell a settled difference from a moving document
    let rev_of = |stored: &Stored, k: &str| stored.get(k).map(|(r, _)| *r);
    let mut revs: BTreeMap<String, (Option<i64>, Option<i64>)> = suspects
        .keys()
        .map(|k| (k.clone(), (rev_of(&in_pg, k), rev_of(&scan.docs, k))))
        .collect();
    let mut moving: BTreeSet<String> = BTreeSet::new();
    for _ in 0..options.rechecks {
        if suspects.is_empty() {
            break;
        }
        tokio::time::sleep(options.pause).await;
        let world = fold_at(pool, None).await?;
        let expected = render::all_docs(&world);
        let list: Vec<String> = suspects.keys().cloned().collect();
        let pg_now = pg_docs(pool, version, Some(&list)).await?;
        let redis_list: Vec<String> = list.iter().map(|k| keys.key(k)).collect();
        let redis_now = read_redis(&mut conn, &redis_list, &strip).await?.docs;
        let set: BTreeSet<String> = list.iter().cloned().collect();
        let mut still: BTreeMap<String, Vec<Difference>> = BTreeMap::new();
        for d in compare(&expected, &pg_now, &set, "postgres")
            .into_iter()
            .chain(compare(&expected, &redis_now, &set, "redis"))
        {
            if d.is_absent_from_redis() {
                absent.insert(d.key.clone());
            } else {
                still.entry(d.key.clone()).or_default().push(d);
            }
        }
        moving.clear();
        for k in still.keys() {
            let now = (rev_of(&pg_now, k), rev_of(&redis_now, k));
            if revs.get(k) != Some(&now) {
                moving.insert(k.clone());
            }
            revs.insert(k.clone(), now);
        }
        suspects = still;
    }
    for k in &chosen {
        let c = report.kinds.entry(kind_of(k)).or_default();
        c.checked += 1;
        if moving.contains(k) && suspects.contains_key(k) {
            c.changing += 1;
        } else if suspects.contains_key(k) {
            c.different += 1;
        } else if absent.contains(k) {
            c.absent_from_redis += 1;
        } else {
            c.same += 1;
        }
    }
    for (k, diffs) in suspects {
        if moving.contains(&k) {
            report.changing.push(k);
        } else {
            report.differences.extend(diffs);
        }
    }
    Ok(report)
}
