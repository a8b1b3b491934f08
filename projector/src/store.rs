//! Every SQL statement and Redis command of the projector: entity state, documents,
//! search rows, progress, dead letters, and the fenced Redis writes.

use std::collections::BTreeMap;

use redis::aio::ConnectionLike;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;
use vitrine_contract::read_model::{redis_ttl_secs, RedisKeys, FENCED_SET_LUA};
use vitrine_contract::{RecordedEvent, StreamId};

use crate::world::World;

/// Advisory-lock class of document renders (the first key of the two-int form).
const RENDER_LOCK_CLASS: i32 = 0x7672; // "vr"
/// Render locks are bucketed so the lock table stays bounded.
const RENDER_LOCK_BUCKETS: u32 = 4096;

/// A row of `rm_entities` as loaded.
pub struct EntityRow {
    pub stream_id: String,
    pub version: i64,
    pub state: Option<Value>,
}

/// Loads `rows` into `world` (unparseable stream ids or states are ignored: they were
/// written by this program, so that cannot happen short of manual edits).
pub fn load_into(world: &mut World, rows: Vec<EntityRow>) {
    for row in rows {
        if let Ok(stream) = row.stream_id.parse::<StreamId>() {
            if let Some(state) = row.state {
                if let Err(e) = world.insert_entity_json(&stream, state) {
                    tracing::warn!(stream = %row.stream_id, error = %e, "stored entity does not decode");
                }
            }
        }
        world.versions.insert(row.stream_id, row.version);
    }
}

fn rows(raw: Vec<(String, i64, Option<Value>)>) -> Vec<EntityRow> {
    raw.into_iter()
        .map(|(stream_id, version, state)| EntityRow {
            stream_id,
            version,
            state,
        })
        .collect()
}

/// Creates missing rows for `streams` and locks them all, in stream order so two
/// instances never deadlock.
#[tracing::instrument(skip_all, fields(streams = streams.len()))]
pub async fn lock_entities(
    tx: &mut PgConnection,
    version: i32,
    streams: &[StreamId],
) -> sqlx::Result<Vec<EntityRow>> {
    let ids: Vec<String> = streams.iter().map(ToString::to_string).collect();
    let kinds: Vec<String> = streams
        .iter()
        .map(|s| s.kind().as_str().to_owned())
        .collect();
    sqlx::query(
        "INSERT INTO rm_entities (rm_version, stream_id, kind, version)
         SELECT $1, s, k, 0 FROM unnest($2::text[], $3::text[]) AS u(s, k) ORDER BY s
         ON CONFLICT (rm_version, stream_id) DO NOTHING",
    )
    .bind(version)
    .bind(&ids)
    .bind(&kinds)
    .execute(&mut *tx)
    .await?;
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND stream_id = ANY($2) ORDER BY stream_id FOR UPDATE",
    )
    .bind(version)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows(raw))
}

/// Every category (a small set; product docs, lists and the tree need them).
pub async fn load_categories(tx: &mut PgConnection, version: i32) -> sqlx::Result<Vec<EntityRow>> {
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities WHERE rm_version = $1 AND kind = 'category'",
    )
    .bind(version)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows(raw))
}

/// Events `(after, upto]` of a stream, to fill a gap in what was delivered.
#[tracing::instrument(skip_all, fields(stream = stream))]
pub async fn events_range(
    tx: &mut PgConnection,
    stream: &str,
    after: i64,
    upto: i64,
) -> sqlx::Result<Vec<RecordedEvent>> {
    sqlx::query_as::<_, RecordedEvent>(
        "SELECT position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at
         FROM events WHERE stream_id = $1 AND version > $2 AND version <= $3 ORDER BY version",
    )
    .bind(stream)
    .bind(after)
    .bind(upto)
    .fetch_all(&mut *tx)
    .await
}

/// The events visible in a `pg_snapshot` (text form), in position order.
pub async fn events_in_snapshot(pool: &PgPool, snapshot: &str) -> sqlx::Result<Vec<RecordedEvent>> {
    sqlx::query_as::<_, RecordedEvent>(
        "SELECT position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at
         FROM events WHERE pg_visible_in_snapshot(tx_id, $1::pg_snapshot) ORDER BY position",
    )
    .bind(snapshot)
    .fetch_all(pool)
    .await
}

/// Every event, in position order (for a whole-history fold).
pub async fn all_events(pool: &PgPool) -> sqlx::Result<Vec<RecordedEvent>> {
    sqlx::query_as::<_, RecordedEvent>(
        "SELECT position, stream_id, version, event_type, schema_version, payload, metadata, recorded_at
         FROM events ORDER BY position",
    )
    .fetch_all(pool)
    .await
}

/// Writes the entities of `streams` as they are in `world`.
#[tracing::instrument(skip_all, fields(streams = streams.len()))]
pub async fn save_entities(
    tx: &mut PgConnection,
    version: i32,
    world: &World,
    streams: &[StreamId],
) -> sqlx::Result<()> {
    if streams.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut kinds = Vec::new();
    let mut versions = Vec::new();
    let mut categories: Vec<Option<Uuid>> = Vec::new();
    let mut sessions: Vec<Option<Uuid>> = Vec::new();
    let mut products = Vec::new();
    let mut states: Vec<Option<String>> = Vec::new();
    for s in streams {
        let id = s.to_string();
        let (category, session, pids) = world.entity_index(s);
        versions.push(world.version_of(&id));
        ids.push(id);
        kinds.push(s.kind().as_str().to_owned());
        categories.push(category);
        sessions.push(session);
        let pids: Vec<String> = pids.iter().map(ToString::to_string).collect();
        products.push(format!("{{{}}}", pids.join(",")));
        states.push(world.entity_json(s).map(|v| v.to_string()));
    }
    sqlx::query(
        "INSERT INTO rm_entities (rm_version, stream_id, kind, version, category_id, session_id, product_ids, state)
         SELECT $1, s, k, v, c, se, p::uuid[], st::jsonb
         FROM unnest($2::text[], $3::text[], $4::int8[], $5::uuid[], $6::uuid[], $7::text[], $8::text[])
              AS u(s, k, v, c, se, p, st)
         ON CONFLICT (rm_version, stream_id) DO UPDATE SET
             version = EXCLUDED.version, category_id = EXCLUDED.category_id,
             session_id = EXCLUDED.session_id, product_ids = EXCLUDED.product_ids, state = EXCLUDED.state",
    )
    .bind(version)
    .bind(&ids)
    .bind(&kinds)
    .bind(&versions)
    .bind(&categories)
    .bind(&sessions)
    .bind(&products)
    .bind(&states)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The entity ids of `stream_id` rows (`product-{id}` → id).
fn entity_ids(rows: Vec<(String,)>) -> Vec<Uuid> {
    rows.into_iter()
        .filter_map(|(s,)| s.parse::<StreamId>().ok())
        .map(|s| s.id())
        .collect()
}

/// Ids of the products in the given categories.
pub async fn products_in(
    tx: &mut PgConnection,
    version: i32,
    categories: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    if categories.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT stream_id FROM rm_entities WHERE rm_version = $1 AND kind = 'product' AND category_id = ANY($2)",
    )
    .bind(version)
    .bind(categories)
    .fetch_all(&mut *tx)
    .await?;
    Ok(entity_ids(ids))
}

/// Session ids of the carts holding any of `products`.
pub async fn carts_with(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    if products.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT stream_id FROM rm_entities WHERE rm_version = $1 AND kind = 'cart' AND product_ids && $2",
    )
    .bind(version)
    .bind(products)
    .fetch_all(&mut *tx)
    .await?;
    Ok(entity_ids(ids))
}

/// Every product in an order together with any of `products`.
pub async fn co_purchased(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    if products.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT unnest(product_ids) FROM rm_entities
         WHERE rm_version = $1 AND kind = 'order' AND product_ids && $2",
    )
    .bind(version)
    .bind(products)
    .fetch_all(&mut *tx)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// For each of `products`, in how many orders it was bought together with each other
/// product. Orders count as in [`crate::world::Order::counts_for_recommendations`]:
/// every status but cancelled.
pub async fn co_purchase_scores(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<BTreeMap<Uuid, BTreeMap<Uuid, u32>>> {
    let mut scores: BTreeMap<Uuid, BTreeMap<Uuid, u32>> = BTreeMap::new();
    if products.is_empty() {
        return Ok(scores);
    }
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT p, other, count(DISTINCT o.stream_id)
         FROM unnest($2::uuid[]) AS p
         JOIN rm_entities o
           ON o.rm_version = $1 AND o.kind = 'order' AND o.product_ids @> ARRAY[p]
          AND coalesce(o.state->>'status', '') <> 'cancelled'
         CROSS JOIN LATERAL unnest(o.product_ids) AS other
         WHERE other <> p
         GROUP BY p, other",
    )
    .bind(version)
    .bind(products)
    .fetch_all(&mut *tx)
    .await?;
    for (p, other, n) in rows {
        scores.entry(p).or_default().insert(other, n as u32);
    }
    Ok(scores)
}

/// Takes the render locks of `lock_keys` (bucketed, in bucket order) until the end of
/// the transaction: renders of one document are serialized, so a higher rev always
/// reflects newer state.
pub async fn lock_renders(tx: &mut PgConnection, lock_keys: &[String]) -> sqlx::Result<()> {
    lock_buckets(
        tx,
        RENDER_LOCK_CLASS,
        lock_keys.iter().map(|k| k.as_bytes()),
    )
    .await
}

/// Advisory-lock class of entity dependencies (see [`World::dependencies`]); taken
/// first in every batch, in bucket order, so it cannot deadlock with the locks after it.
const DEPENDENCY_LOCK_CLASS: i32 = 0x7664; // "vd"

/// Serializes batches that name one of `ids` until the end of the transaction.
pub async fn lock_dependencies(tx: &mut PgConnection, ids: &[Uuid]) -> sqlx::Result<()> {
    lock_buckets(
        tx,
        DEPENDENCY_LOCK_CLASS,
        ids.iter().map(|id| id.as_bytes().as_slice()),
    )
    .await
}

/// Transaction-scoped advisory locks of `class` on the buckets of `keys`, taken in bucket
/// order (the lock table stays bounded, and two transactions never wait on each other
/// in a cycle within one class).
async fn lock_buckets<'a>(
    tx: &mut PgConnection,
    class: i32,
    keys: impl Iterator<Item = &'a [u8]>,
) -> sqlx::Result<()> {
    let mut buckets: Vec<i32> = keys
        .map(|k| (fnv1a(k) % RENDER_LOCK_BUCKETS) as i32)
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    if buckets.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock($1, b)) FROM (SELECT b FROM unnest($2::int4[]) b ORDER BY b) s",
    )
    .bind(class)
    .bind(&buckets)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// What the render step needs loaded.
#[derive(Default, Debug)]
pub struct RenderNeeds {
    pub all_products: bool,
    pub products: Vec<Uuid>,
    pub product_categories: Vec<Uuid>,
    pub carts: Vec<Uuid>,
    pub orders: Vec<Uuid>,
    pub orders_of_sessions: Vec<Uuid>,
}

/// Loads (after the render locks, so it sees every earlier render's state) the part of
/// the world the documents to render depend on.
#[tracing::instrument(skip_all)]
pub async fn load_render_world(
    tx: &mut PgConnection,
    version: i32,
    needs: &RenderNeeds,
) -> sqlx::Result<World> {
    let mut world = World::default();
    load_into(&mut world, load_categories(tx, version).await?);
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND (
             (kind = 'cart' AND stream_id = ANY($2))
          OR (kind = 'order' AND (stream_id = ANY($3) OR session_id = ANY($4))))",
    )
    .bind(version)
    .bind(
        needs
            .carts
            .iter()
            .map(|s| StreamId::cart(*s).to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        needs
            .orders
            .iter()
            .map(|s| StreamId::order(*s).to_string())
            .collect::<Vec<_>>(),
    )
    .bind(&needs.orders_of_sessions)
    .fetch_all(&mut *tx)
    .await?;
    load_into(&mut world, rows(raw));
    // products named by the carts and orders just loaded are needed for their docs
    let mut products: Vec<String> = needs
        .products
        .iter()
        .chain(
            world
                .carts
                .values()
                .flat_map(|c| c.lines.iter().map(|l| &l.product_id)),
        )
        .chain(
            world
                .orders
                .values()
                .flat_map(|o| o.lines.iter().map(|l| &l.product_id)),
        )
        .map(|p| StreamId::product(*p).to_string())
        .collect();
    products.sort_unstable();
    products.dedup();
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND kind = 'product' AND ($2 OR stream_id = ANY($3) OR category_id = ANY($4))",
    )
    .bind(version)
    .bind(needs.all_products)
    .bind(&products)
    .bind(&needs.product_categories)
    .fetch_all(&mut *tx)
    .await?;
    load_into(&mut world, rows(raw));
    Ok(world)
}

/// How many pages a list had when last rendered.
pub async fn list_page_count(tx: &mut PgConnection, version: i32, list: &str) -> sqlx::Result<u32> {
    let pages: Option<(i32,)> =
        sqlx::query_as("SELECT pages FROM rm_list_pages WHERE rm_version = $1 AND list = $2")
            .bind(version)
            .bind(list)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(pages.map(|(p,)| p.max(0) as u32).unwrap_or(0))
}

pub async fn set_list_page_count(
    tx: &mut PgConnection,
    version: i32,
    list: &str,
    pages: u32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rm_list_pages (rm_version, list, pages) VALUES ($1, $2, $3)
         ON CONFLICT (rm_version, list) DO UPDATE SET pages = EXCLUDED.pages",
    )
    .bind(version)
    .bind(list)
    .bind(pages as i32)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A document to write: doc key, rev, bytes (`None`: tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    pub key: String,
    pub rev: i64,
    pub doc: Option<String>,
}

/// `n` fresh revs from `rm_rev`, ascending.
pub async fn next_revs(tx: &mut PgConnection, n: usize) -> sqlx::Result<Vec<i64>> {
    let revs: Vec<(i64,)> = sqlx::query_as("SELECT nextval('rm_rev') FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(&mut *tx)
        .await?;
    let mut revs: Vec<i64> = revs.into_iter().map(|(r,)| r).collect();
    revs.sort_unstable();
    Ok(revs)
}

/// Fenced upsert into `rm_docs`: a row with a higher rev is never replaced. Returns
/// how many rows were written.
#[tracing::instrument(skip_all, fields(docs = docs.len()))]
pub async fn write_pg_docs(
    tx: &mut PgConnection,
    version: i32,
    docs: &[DocWrite],
) -> sqlx::Result<u64> {
    let keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
    let revs: Vec<i64> = docs.iter().map(|d| d.rev).collect();
    let bodies: Vec<Option<&str>> = docs.iter().map(|d| d.doc.as_deref()).collect();
    let done = sqlx::query(
        "INSERT INTO rm_docs (rm_version, key, rev, doc)
         SELECT $1, k, r, d FROM unnest($2::text[], $3::int8[], $4::text[]) AS u(k, r, d)
         ON CONFLICT (rm_version, key) DO UPDATE SET rev = EXCLUDED.rev, doc = EXCLUDED.doc
         WHERE rm_docs.rev < EXCLUDED.rev",
    )
    .bind(version)
    .bind(&keys)
    .bind(&revs)
    .bind(&bodies)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// A search row: product id, list item JSON, name, description, category name.
pub type SearchRow = (Uuid, String, String, String, String);

pub async fn write_search(
    tx: &mut PgConnection,
    version: i32,
    upserts: &[SearchRow],
    deletes: &[Uuid],
) -> sqlx::Result<()> {
    if !deletes.is_empty() {
        sqlx::query("DELETE FROM rm_search WHERE rm_version = $1 AND product_id = ANY($2)")
            .bind(version)
            .bind(deletes)
            .execute(&mut *tx)
            .await?;
    }
    if upserts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = upserts.iter().map(|r| r.0).collect();
    let items: Vec<&str> = upserts.iter().map(|r| r.1.as_str()).collect();
    let names: Vec<&str> = upserts.iter().map(|r| r.2.as_str()).collect();
    let descriptions: Vec<&str> = upserts.iter().map(|r| r.3.as_str()).collect();
    let categories: Vec<&str> = upserts.iter().map(|r| r.4.as_str()).collect();
    sqlx::query(
        "INSERT INTO rm_search (rm_version, product_id, item, name, tsv)
         SELECT $1, id, item::jsonb, name,
                setweight(to_tsvector('english', name), 'A')
             || setweight(to_tsvector('english', description), 'B')
             || setweight(to_tsvector('english', coalesce(category, '')), 'C')
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(id, item, name, description, category)
         ON CONFLICT (rm_version, product_id) DO UPDATE SET item = EXCLUDED.item, name = EXCLUDED.name, tsv = EXCLUDED.tsv",
    )
    .bind(version)
    .bind(&ids)
    .bind(&items)
    .bind(&names)
    .bind(&descriptions)
    .bind(&categories)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// An event the projector could not apply.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub position: i64,
    pub stream_id: String,
    pub event_type: String,
    pub error: String,
    pub raw: String,
}

/// Records dead letters once each; answers how many were new.
pub async fn write_dead_letters(
    tx: &mut PgConnection,
    version: i32,
    letters: &[DeadLetter],
) -> sqlx::Result<u64> {
    let mut inserted = 0;
    for l in letters {
        // a letter replayed and failing again is open again, with the new error
        inserted += sqlx::query(
            "INSERT INTO rm_dead_letters (rm_version, position, stream_id, event_type, error, raw)
             VALUES ($6, $1, $2, $3, $4, $5)
             ON CONFLICT (rm_version, position) WHERE position > 0 DO UPDATE
             SET error = EXCLUDED.error, status = 'open', resolved_at = NULL
             WHERE rm_dead_letters.status = 'replayed'",
        )
        .bind(l.position)
        .bind(&l.stream_id)
        .bind(&l.event_type)
        .bind(&l.error)
        .bind(&l.raw)
        .bind(version)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}

/// Projection `live`'s progress (the highest applied position) and, when the catalog
/// changed, the catalog generation that keys cached searches.
pub async fn record_progress(
    tx: &mut PgConnection,
    version: i32,
    position: i64,
    catalog_changed: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rm_progress (rm_version, projection, position) VALUES ($1, 'live', $2)
         ON CONFLICT (rm_version, projection) DO UPDATE
         SET position = GREATEST(rm_progress.position, EXCLUDED.position), updated_at = now()",
    )
    .bind(version)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    if catalog_changed {
        sqlx::query("UPDATE rm_live SET catalog_gen = catalog_gen + 1")
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// The live read-model version.
pub async fn live_version(pool: &PgPool) -> sqlx::Result<i32> {
    let (v,): (i32,) = sqlx::query_as("SELECT version FROM rm_live")
        .fetch_one(pool)
        .await?;
    Ok(v)
}

/// `(applied position, highest position in the store, dead letters)` of a version.
pub async fn progress(pool: &PgPool, version: i32) -> sqlx::Result<(i64, i64, i64)> {
    sqlx::query_as(
        "SELECT coalesce((SELECT position FROM rm_progress WHERE rm_version = $1 AND projection = 'live'), 0),
                coalesce((SELECT max(position) FROM events), 0),
                (SELECT count(*) FROM rm_dead_letters WHERE rm_version = $1 AND status = 'open')",
    )
    .bind(version)
    .fetch_one(pool)
    .await
}

/// Every non-tombstone document of a version.
pub async fn pg_docs(pool: &PgPool, version: i32) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT key, doc FROM rm_docs WHERE rm_version = $1 AND doc IS NOT NULL ORDER BY key",
    )
    .bind(version)
    .fetch_all(pool)
    .await
}

/// Every key matching `pattern`, by `SCAN` (never `KEYS`, which blocks Redis).
pub async fn scan_keys<C: ConnectionLike>(
    conn: &mut C,
    pattern: &str,
) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(5000)
            .query_async(conn)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Fenced writes of `docs` to Redis in one pipeline, then one PUBLISH of their keys.
/// Answers how many documents were written (the rest were older than what is there).
#[tracing::instrument(skip_all, fields(docs = docs.len()))]
pub async fn write_redis_docs<C: ConnectionLike>(
    conn: &mut C,
    keys: &RedisKeys,
    docs: &[DocWrite],
) -> redis::RedisResult<usize> {
    if docs.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for d in docs {
        pipe.cmd("EVAL")
            .arg(FENCED_SET_LUA)
            .arg(1)
            .arg(keys.key(&d.key))
            .arg(d.rev)
            .arg(d.doc.as_deref().unwrap_or(""))
            .arg(redis_ttl_secs(&d.key));
    }
    let joined: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
    pipe.cmd("PUBLISH")
        .arg(keys.updates_channel())
        .arg(joined.join("\n"))
        .ignore();
    let written: Vec<i64> = pipe.query_async(conn).await?;
    Ok(written.into_iter().filter(|w| *w == 1).count())
}
