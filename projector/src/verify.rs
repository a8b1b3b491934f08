//! `projector verify`: fold the whole event store in memory with the same renderers and
//! compare with what both stores hold for a read-model version.

use std::collections::BTreeMap;

use sqlx::PgPool;
use vitrine_contract::read_model::RedisKeys;

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
        Some(snapshot) => store::events_in_snapshot(pool, snapshot).await?,
        None => store::all_events(pool).await?,
    };
    for rec in &events {
        world.fold(rec);
    }
    Ok(world)
}

fn compare(
    expected: &BTreeMap<String, String>,
    found: &BTreeMap<String, String>,
    store: &'static str,
) -> Vec<Difference> {
    let mut out = Vec::new();
    for (k, v) in expected {
        if found.get(k) != Some(v) {
            out.push(Difference {
                key: k.clone(),
                store,
                expected: Some(v.clone()),
                found: found.get(k).cloned(),
            });
        }
    }
    for (k, v) in found {
        if !expected.contains_key(k) {
            out.push(Difference {
                key: k.clone(),
                store,
                expected: None,
                found: Some(v.clone()),
            });
        }
    }
    out
}

/// Every difference between a fresh fold and read-model `version` in PostgreSQL
/// (`rm_docs`) and Redis (under `prefix`). Tombstones count as absent; cached search
/// results (`search:*`, written by query-api) are not documents and are ignored.
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
    let in_pg: BTreeMap<String, String> =
        store::pg_docs(pool, version).await?.into_iter().collect();

    let keys = RedisKeys::new(prefix, version);
    let mut conn = redis::Client::open(redis_url)?
        .get_multiplexed_async_connection()
        .await?;
    let redis_keys = store::scan_keys(&mut conn, &keys.pattern()).await?;
    let strip = keys.key("");
    let mut in_redis = BTreeMap::new();
    for chunk in redis_keys.chunks(500) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.hget(k, "doc");
        }
        let docs: Vec<Option<String>> = pipe.query_async(&mut conn).await?;
        for (k, doc) in chunk.iter().zip(docs) {
            let key = k.strip_prefix(&strip).unwrap_or(k).to_owned();
            if key.starts_with("search:") {
                continue;
            }
            if let Some(doc) = doc.filter(|d| !d.is_empty()) {
                in_redis.insert(key, doc);
            }
        }
    }
    let mut diffs = compare(&expected, &in_pg, "postgres");
    diffs.extend(compare(&expected, &in_redis, "redis"));
    Ok(diffs)
}
