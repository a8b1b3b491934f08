//! `projector verify`: fold the event store with the same renderers and compare with
//! what both stores hold for a read-model version, part by part in bounded memory
//! ([`Expected`]): each part's documents are compared with the stored ones by key, and
//! the keys compared are kept in a temporary table, so that documents the stores hold
//! beyond the fold are found at the end by PostgreSQL (an anti-join) rather than by a
//! set in memory.
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
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::hash::BuildHasher;
use std::time::Duration;

use redis::aio::ConnectionLike;
use sqlx::{PgPool, Postgres, Transaction};
use vitrine_contract::read_model::{RedisKeys, ABSENT_REV};

use crate::history::{Expected, PART_EVENTS};

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

/// A stored document: rev and bytes.
type Stored = BTreeMap<String, (i64, String)>;

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
    let mut diffs = Vec::new();
    compare_history(
        pool,
        redis_url,
        prefix,
        version,
        snapshot,
        PART_EVENTS,
        |c| {
            diffs.extend(c.differences());
        },
    )
    .await?;
    Ok(diffs)
}

/// What a rebuild's gate found: how many documents differ from a fresh fold of the
/// events visible in `snapshot` and the first few differences. Unlike [`verify_at`], a
/// document absent from Redis is not a difference: Redis is a cache with a memory limit,
/// which on a store larger than it evicts carts and other documents with a lifetime
/// (`docs/read-models.md`), and query-api reads those from PostgreSQL. Memory holds
/// `keep` differences, not all of them.
pub async fn gate(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    version: i32,
    snapshot: &str,
    part_events: usize,
    keep: usize,
) -> anyhow::Result<(u64, Vec<Difference>)> {
    let mut count = 0u64;
    let mut first = Vec::new();
    compare_history(
        pool,
        redis_url,
        prefix,
        version,
        Some(snapshot),
        part_events,
        |c| {
            let diffs: Vec<Difference> = c
                .differences()
                .into_iter()
                .filter(|d| !d.is_absent_from_redis())
                .collect();
            if !diffs.is_empty() {
                count += 1;
                if first.len() < keep {
                    first.extend(diffs);
                }
            }
        },
    )
    .await?;
    Ok((count, first))
}

/// One document as expected and as found in both stores.
#[derive(Debug, Clone)]
struct Compared {
    key: String,
    expected: Option<String>,
    pg: Option<(i64, String)>,
    redis: Option<(i64, String)>,
}

impl Compared {
    fn differences(&self) -> Vec<Difference> {
        let mut diffs = Vec::new();
        for (store, found) in [("postgres", &self.pg), ("redis", &self.redis)] {
            let have = found.as_ref().map(|(_, d)| d);
            if self.expected.as_ref() != have {
                diffs.push(Difference {
                    key: self.key.clone(),
                    store,
                    expected: self.expected.clone(),
                    found: have.cloned(),
                });
            }
        }
        diffs
    }

    fn revs(&self) -> (Option<i64>, Option<i64>) {
        (
            self.pg.as_ref().map(|(r, _)| *r),
            self.redis.as_ref().map(|(r, _)| *r),
        )
    }
}

/// The keys compared so far, in a temporary table of a transaction of its own.
struct Seen(Transaction<'static, Postgres>);

impl Seen {
    async fn begin(pool: &PgPool) -> sqlx::Result<Seen> {
        let mut tx = pool.begin().await?;
        sqlx::query("CREATE TEMPORARY TABLE verify_seen (key text PRIMARY KEY) ON COMMIT DROP")
            .execute(&mut *tx)
            .await?;
        Ok(Seen(tx))
    }

    async fn add(&mut self, keys: &[String]) -> sqlx::Result<()> {
        sqlx::query("INSERT INTO verify_seen SELECT unnest($1::text[]) ON CONFLICT DO NOTHING")
            .bind(keys)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Documents of `version` in PostgreSQL whose keys were not compared.
    async fn unseen_in_pg(&mut self, version: i32) -> sqlx::Result<Stored> {
        let rows: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT key, rev, doc FROM rm_docs d
             WHERE rm_version = $1 AND doc IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM verify_seen s WHERE s.key = d.key)",
        )
        .bind(version)
        .fetch_all(&mut *self.0)
        .await?;
        Ok(rows.into_iter().map(|(k, r, d)| (k, (r, d))).collect())
    }

    /// Those of `keys` not compared.
    async fn unseen(&mut self, keys: &[String]) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT k FROM unnest($1::text[]) AS u(k)
             WHERE NOT EXISTS (SELECT 1 FROM verify_seen s WHERE s.key = u.k)",
        )
        .bind(keys)
        .fetch_all(&mut *self.0)
        .await
    }
}

/// What Redis holds beside documents, counted while comparing.
#[derive(Debug, Default)]
struct Others {
    search_entries: u64,
    absent_entries: u64,
    unexpected: Vec<(String, String)>,
}

/// Compares a fresh fold of the events visible in `snapshot` (all when `None`) with
/// `version` in both stores, calling `each` for every document expected or found,
/// part by part: memory holds one part, not the whole history.
async fn compare_history(
    pool: &PgPool,
    redis_url: &str,
    prefix: &str,
    version: i32,
    snapshot: Option<&str>,
    part_events: usize,
    mut each: impl FnMut(Compared),
) -> anyhow::Result<Others> {
    let keys = RedisKeys::new(prefix, version);
    let strip = keys.key("");
    let mut conn = redis_conn(redis_url).await?;
    let mut seen = Seen::begin(pool).await?;
    let mut others = Others::default();
    let mut expected = Expected::read(pool, snapshot, part_events).await?;
    while let Some(part) = expected.next().await? {
        let list: Vec<String> = part.keys().cloned().collect();
        for chunk in list.chunks(5_000) {
            let mut in_pg = pg_docs(pool, version, Some(chunk)).await?;
            let redis_list: Vec<String> = chunk.iter().map(|k| keys.key(k)).collect();
            let scan = read_redis(&mut conn, &redis_list, &strip).await?;
            others.absent_entries += scan.absent_entries;
            others.unexpected.extend(scan.unexpected);
            let mut in_redis = scan.docs;
            for k in chunk {
                each(Compared {
                    key: k.clone(),
                    expected: part.get(k).cloned(),
                    pg: in_pg.remove(k),
                    redis: in_redis.remove(k),
                });
            }
            seen.add(chunk).await?;
        }
    }
    expected.finish().await?;

    // What the stores hold beyond the fold: PostgreSQL's (with their Redis copies), then
    // Redis's own, a SCAN batch at a time.
    let extra = seen.unseen_in_pg(version).await?;
    let extra_keys: Vec<String> = extra.keys().cloned().collect();
    for chunk in extra_keys.chunks(5_000) {
        let redis_list: Vec<String> = chunk.iter().map(|k| keys.key(k)).collect();
        let mut in_redis = read_redis(&mut conn, &redis_list, &strip).await?.docs;
        for k in chunk {
            each(Compared {
                key: k.clone(),
                expected: None,
                pg: extra.get(k).cloned(),
                redis: in_redis.remove(k),
            });
        }
        seen.add(chunk).await?;
    }
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(keys.pattern())
            .arg("COUNT")
            .arg(5_000)
            .query_async(&mut conn)
            .await?;
        let doc_keys: Vec<String> = batch
            .iter()
            .map(|k| k.strip_prefix(&strip).unwrap_or(k).to_owned())
            .collect();
        let unseen = seen.unseen(&doc_keys).await?;
        let redis_list: Vec<String> = unseen.iter().map(|k| keys.key(k)).collect();
        let scan = read_redis(&mut conn, &redis_list, &strip).await?;
        others.search_entries += scan.search_entries;
        others.absent_entries += scan.absent_entries;
        others.unexpected.extend(scan.unexpected);
        for (k, found) in scan.docs {
            each(Compared {
                key: k,
                expected: None,
                pg: None,
                redis: Some(found),
            });
        }
        // SCAN may return a key twice
        seen.add(&unseen).await?;
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.0.rollback().await?;
    Ok(others)
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

/// A document's state after a comparison.
#[derive(Debug, Clone)]
enum Outcome {
    Same,
    AbsentFromRedis,
    /// Differs (absent from Redis too when `absent`); re-checked against fresh folds.
    Suspect {
        diffs: Vec<Difference>,
        absent: bool,
        revs: (Option<i64>, Option<i64>),
    },
}

impl From<&Compared> for Outcome {
    fn from(c: &Compared) -> Outcome {
        let mut absent = false;
        let mut diffs = Vec::new();
        for d in c.differences() {
            if d.is_absent_from_redis() {
                absent = true;
            } else {
                diffs.push(d);
            }
        }
        match (diffs.is_empty(), absent) {
            (true, false) => Outcome::Same,
            (true, true) => Outcome::AbsentFromRedis,
            (false, _) => Outcome::Suspect {
                diffs,
                absent,
                revs: c.revs(),
            },
        }
    }
}

/// A key in a sample: ordered by a random hash, so the `n` smallest are a random choice.
#[derive(Debug)]
struct Sampled(u64, String, Outcome);

impl PartialEq for Sampled {
    fn eq(&self, other: &Self) -> bool {
        (self.0, &self.1) == (other.0, &other.1)
    }
}
impl Eq for Sampled {}
impl PartialOrd for Sampled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sampled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0, &self.1).cmp(&(other.0, &other.1))
    }
}

/// Outcomes counted per kind as they come; only suspects are kept by key. With a sample
/// size, only the `n` keys of smallest random hash are kept (a heap of `n`), so memory
/// holds the sample, never every key.
struct Tally {
    sample: Option<(usize, RandomState, BinaryHeap<Sampled>)>,
    kinds: BTreeMap<String, KindCounts>,
    suspects: BTreeMap<String, Outcome>,
}

impl Tally {
    fn new(sample: Option<usize>) -> Tally {
        Tally {
            sample: sample.map(|n| (n, RandomState::new(), BinaryHeap::new())),
            kinds: BTreeMap::new(),
            suspects: BTreeMap::new(),
        }
    }

    fn record(&mut self, key: String, outcome: Outcome) {
        match &mut self.sample {
            Some((n, hasher, heap)) => {
                let h = hasher.hash_one(&key);
                if heap.len() < *n {
                    heap.push(Sampled(h, key, outcome));
                } else if heap.peek().is_some_and(|top| (h, &key) < (top.0, &top.1)) {
                    heap.pop();
                    heap.push(Sampled(h, key, outcome));
                }
            }
            None => self.count(key, outcome),
        }
    }

    fn count(&mut self, key: String, outcome: Outcome) {
        let c = self.kinds.entry(kind_of(&key)).or_default();
        match outcome {
            Outcome::Same => {
                c.checked += 1;
                c.same += 1;
            }
            Outcome::AbsentFromRedis => {
                c.checked += 1;
                c.absent_from_redis += 1;
            }
            suspect @ Outcome::Suspect { .. } => {
                self.suspects.insert(key, suspect);
            }
        }
    }

    /// Counts the sample's keys (after the last comparison).
    fn close_sample(&mut self) {
        if let Some((_, _, heap)) = self.sample.take() {
            for Sampled(_, key, outcome) in heap.into_vec() {
                self.count(key, outcome);
            }
        }
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
    let mut tally = Tally::new(options.sample);
    let others = compare_history(pool, redis_url, prefix, version, None, PART_EVENTS, |c| {
        let outcome = Outcome::from(&c);
        tally.record(c.key, outcome);
    })
    .await?;
    tally.close_sample();
    let mut report = Report {
        version,
        search_entries: others.search_entries,
        absent_entries: others.absent_entries,
        unexpected: others.unexpected,
        ..Report::default()
    };

    // Re-check the suspects against fresh folds: a document that moved (its rev changed)
    // was being written while compared; one that still differs with its rev standing
    // still is different.
    let mut suspects = tally.suspects;
    let mut moving: BTreeSet<String> = BTreeSet::new();
    let mut conn = redis_conn(redis_url).await?;
    for _ in 0..options.rechecks {
        if suspects.is_empty() {
            break;
        }
        tokio::time::sleep(options.pause).await;
        let mut expected: BTreeMap<String, String> = BTreeMap::new();
        let mut fold = Expected::read(pool, None, PART_EVENTS).await?;
        while let Some(part) = fold.next().await? {
            expected.extend(part.into_iter().filter(|(k, _)| suspects.contains_key(k)));
        }
        fold.finish().await?;
        let list: Vec<String> = suspects.keys().cloned().collect();
        let mut pg_now = pg_docs(pool, version, Some(&list)).await?;
        let redis_list: Vec<String> = list.iter().map(|k| keys.key(k)).collect();
        let mut redis_now = read_redis(&mut conn, &redis_list, &strip).await?.docs;
        moving.clear();
        let mut still = BTreeMap::new();
        for k in list {
            let c = Compared {
                expected: expected.remove(&k),
                pg: pg_now.remove(&k),
                redis: redis_now.remove(&k),
                key: k,
            };
            let was = suspects.remove(&c.key);
            match Outcome::from(&c) {
                Outcome::Suspect {
                    diffs,
                    absent,
                    revs,
                } => {
                    let before = match &was {
                        Some(Outcome::Suspect { revs, .. }) => Some(*revs),
                        _ => None,
                    };
                    if before != Some(revs) {
                        moving.insert(c.key.clone());
                    }
                    still.insert(
                        c.key,
                        Outcome::Suspect {
                            diffs,
                            absent,
                            revs,
                        },
                    );
                }
                settled => {
                    let absent_before = matches!(was, Some(Outcome::Suspect { absent: true, .. }));
                    let settled = match settled {
                        Outcome::Same if absent_before => Outcome::AbsentFromRedis,
                        other => other,
                    };
                    report.count(&c.key, &settled, false);
                }
            }
        }
        suspects = still;
    }
    for (k, outcome) in suspects {
        let changing = moving.contains(&k);
        report.count(&k, &outcome, changing);
        if let Outcome::Suspect { diffs, .. } = outcome {
            if changing {
                report.changing.push(k);
            } else {
                report.differences.extend(diffs);
            }
        }
    }
    for (kind, c) in tally.kinds {
        let mine = report.kinds.entry(kind).or_default();
        mine.checked += c.checked;
        mine.same += c.same;
        mine.absent_from_redis += c.absent_from_redis;
        mine.different += c.different;
        mine.changing += c.changing;
    }
    Ok(report)
}

impl Report {
    fn count(&mut self, key: &str, outcome: &Outcome, changing: bool) {
        let c = self.kinds.entry(kind_of(key)).or_default();
        c.checked += 1;
        match outcome {
            Outcome::Same => c.same += 1,
            Outcome::AbsentFromRedis => c.absent_from_redis += 1,
            Outcome::Suspect { .. } if changing => c.changing += 1,
            Outcome::Suspect { .. } => c.different += 1,
        }
    }
}
