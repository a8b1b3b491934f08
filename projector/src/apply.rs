//! One batch, end to end: lock and fold the batch's streams (filling gaps from the
//! event store), render every touched document once, write PostgreSQL in one
//! transaction, then Redis in one pipeline. Safe to run again on the same events: an
//! applied event is skipped but its documents are rendered again (that heals a crash
//! between the PostgreSQL commit and the Redis write).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use sqlx::PgPool;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, RedisKeys, Sort};
use vitrine_contract::{Event, RecordedEvent, StreamId};

use crate::redis_repair;
use crate::render;
use crate::store::{self, DeadLetter, DocWrite, RenderNeeds, SearchRow};
use crate::world::{EventMeta, ListId, Touch, World};

/// What arrives from the topic.
#[derive(Debug, Clone)]
pub enum Incoming {
    Event(RecordedEvent),
    /// A message that is not a recorded event at all.
    Poison(DeadLetter),
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub applied: u64,
    pub skipped: u64,
    pub dead_letters: u64,
    pub docs: usize,
    pub redis_written: usize,
    /// Documents committed to PostgreSQL whose Redis write failed: owed, and written by
    /// [`crate::redis_repair`] once Redis answers again.
    pub redis_owed: usize,
    /// Highest position seen in the batch (0 if none).
    pub position: i64,
    /// Positions of the events this batch dead-lettered (again, for a replay).
    pub dead_positions: Vec<i64>,
}

/// A batch fails only when PostgreSQL does: Redis writes that fail are owed, not fatal.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] sqlx::Error),
}

/// Where a live batch leaves the topic: the next offset of each partition it read,
/// committed in the batch's own transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionOffset {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// Events that can change what a search matches (not only what a list item shows).
fn changes_search_text(event: &Event) -> bool {
    matches!(
        event,
        Event::ProductCreated { .. }
            | Event::ProductUpdated { .. }
            | Event::ProductDiscontinued { .. }
            | Event::CategoryCreated { .. }
            | Event::CategoryRenamed { .. }
    )
}

fn dead_letter(rec: &RecordedEvent, error: String) -> DeadLetter {
    DeadLetter {
        position: rec.position,
        stream_id: rec.stream_id.clone(),
        event_type: rec.event_type.clone(),
        error,
        raw: String::from_utf8_lossy(&rec.to_json()).into_owned(),
    }
}

/// Which read-model version a batch goes to.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// Whatever is live when the batch's transaction starts, read under the flip lock.
    Live,
    Version(i32),
}

/// Applies a batch into read-model `version` of both stores (a rebuild's catch-up,
/// tests and benchmarks name the version).
pub async fn apply_batch<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    items: &[Incoming],
) -> Result<BatchReport, ApplyError> {
    apply(
        pool,
        redis,
        prefix,
        Target::Version(version),
        items,
        &[],
        &[],
    )
    .await
}

/// Re-folds `streams` from their first event in read-model `version` (their stored state
/// is set aside inside the batch's transaction): what replaying a dead letter after a fix
/// takes, since a dead-lettered event was skipped over.
pub async fn refold_streams<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    version: i32,
    streams: &[StreamId],
) -> Result<BatchReport, ApplyError> {
    apply(
        pool,
        redis,
        prefix,
        Target::Version(version),
        &[],
        streams,
        &[],
    )
    .await
}

/// The live projector's batch: applied into the version that is live when its
/// transaction starts. It holds the flip lock shared until it commits, so a rebuild's
/// flip waits for it, and everything applied to the old version is committed before
/// the flip is (see [`crate::versions::flip`]). `offsets` are recorded in the same
/// transaction, so the batch and where the consumer stands commit together.
pub async fn apply_live_batch<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    items: &[Incoming],
    offsets: &[PartitionOffset],
) -> Result<BatchReport, ApplyError> {
    apply(pool, redis, prefix, Target::Live, items, &[], offsets).await
}

#[tracing::instrument(skip_all, fields(events = items.len(), ?target))]
async fn apply<C: redis::aio::ConnectionLike>(
    pool: &PgPool,
    redis: &mut C,
    prefix: &str,
    target: Target,
    items: &[Incoming],
    refold: &[StreamId],
    offsets: &[PartitionOffset],
) -> Result<BatchReport, ApplyError> {
    let started = Instant::now();
    let mut report = BatchReport::default();
    let mut letters = Vec::new();
    let mut by_stream: BTreeMap<StreamId, Vec<&RecordedEvent>> = BTreeMap::new();
    for item in items {
        match item {
            Incoming::Poison(l) => letters.push(l.clone()),
            Incoming::Event(rec) => {
                report.position = report.position.max(rec.position);
                match rec.stream_id.parse::<StreamId>() {
                    Ok(s) => by_stream.entry(s).or_default().push(rec),
                    Err(e) => letters.push(dead_letter(rec, e.to_string())),
                }
            }
        }
    }

    let mut tx = pool.begin().await?;
    let version = match target {
        Target::Version(v) => v,
        Target::Live => crate::versions::live_version_for_batch(&mut tx).await?,
    };
    let mut dependencies: BTreeSet<Uuid> = BTreeSet::new();
    for recs in by_stream.values() {
        for rec in recs {
            if let Ok(event) = rec.decode() {
                dependencies.extend(World::dependencies(&event));
            }
        }
    }
    store::lock_dependencies(&mut tx, &dependencies.into_iter().collect::<Vec<_>>()).await?;
    for stream in refold {
        by_stream.entry(stream.clone()).or_default();
    }
    let streams: Vec<StreamId> = by_stream.keys().cloned().collect();
    let mut world = World::default();
    store::load_into(&mut world, store::load_categories(&mut tx, version).await?);
    store::load_into(
        &mut world,
        store::lock_entities(&mut tx, version, &streams).await?,
    );
    let mut refold_upto: BTreeMap<String, i64> = BTreeMap::new();
    for stream in refold {
        let sid = stream.to_string();
        refold_upto.insert(sid.clone(), world.version_of(&sid));
        world.forget(stream);
    }

    let mut touches: BTreeSet<Touch> = BTreeSet::new();
    let mut search_text_changed = false;
    let mut changed: Vec<StreamId> = Vec::new();
    for (stream, mut recs) in by_stream {
        let sid = stream.to_string();
        recs.sort_by_key(|r| r.version);
        recs.dedup_by_key(|r| r.version);
        let stored = world.version_of(&sid);
        let (old, new): (Vec<&RecordedEvent>, Vec<&RecordedEvent>) =
            recs.into_iter().partition(|r| r.version <= stored);
        for rec in old {
            report.skipped += 1;
            if let Ok(event) = rec.decode() {
                touches.extend(world.replay_touches(&event));
            }
        }
        let contiguous = new
            .iter()
            .enumerate()
            .all(|(i, r)| r.version == stored + 1 + i as i64);
        let filled;
        let new: Vec<&RecordedEvent> = if contiguous && !refold_upto.contains_key(&sid) {
            new
        } else {
            // a gap (or a re-fold): take the missing versions (and the delivered ones)
            // from the store
            let upto = new
                .last()
                .map(|r| r.version)
                .unwrap_or(stored)
                .max(refold_upto.get(&sid).copied().unwrap_or(0));
            filled = store::events_range(&mut tx, &sid, stored, upto).await?;
            filled.iter().collect()
        };
        for rec in new {
            if rec.version != world.version_of(&sid) + 1 {
                break;
            }
            report.applied += 1;
            let meta = EventMeta {
                position: rec.position,
                recorded_at: rec.recorded_at,
            };
            match rec.decode() {
                Ok(event) if event.stream() == stream => {
                    search_text_changed |= changes_search_text(&event);
                    touches.extend(world.apply(&sid, rec.version, meta, &event));
                }
                Ok(event) => {
                    letters.push(dead_letter(
                        rec,
                        format!("event belongs to stream {}", event.stream()),
                    ));
                    world.skip(&sid, rec.version);
                }
                Err(e) => {
                    letters.push(dead_letter(rec, e.to_string()));
                    world.skip(&sid, rec.version);
                }
            }
        }
        if world.version_of(&sid) != stored || refold_upto.contains_key(&sid) {
            changed.push(stream);
        }
    }
    store::save_entities(&mut tx, version, &world, &changed).await?;

    // Resolve what the touches reach, then lock those renders and load what they need.
    // Cached search results hold list items and match on name, description and category:
    // only a change to those retires them. A stock change that keeps the stock status (most
    // checkouts) leaves every list page, and so every search result, as it was.
    let catalog_changed = search_text_changed
        || touches
            .iter()
            .any(|t| matches!(t, Touch::List(_) | Touch::Categories | Touch::ProductsIn(_)));
    let mut products: BTreeSet<Uuid> = BTreeSet::new();
    let mut lists: BTreeSet<ListId> = BTreeSet::new();
    let mut categories_doc = false;
    let mut carts: BTreeSet<Uuid> = BTreeSet::new();
    let mut orders: BTreeSet<Uuid> = BTreeSet::new();
    let mut sessions: BTreeSet<Uuid> = BTreeSet::new();
    let mut recs: BTreeSet<Uuid> = BTreeSet::new();
    let (mut in_categories, mut carts_with, mut recs_around) = (Vec::new(), Vec::new(), Vec::new());
    for t in &touches {
        match *t {
            Touch::Product(p) => {
                products.insert(p);
            }
            Touch::List(l) => {
                lists.insert(l);
            }
            Touch::Categories => categories_doc = true,
            Touch::ProductsIn(c) => in_categories.push(c),
            Touch::Cart(s) => {
                carts.insert(s);
            }
            Touch::CartsWith(p) => carts_with.push(p),
            Touch::Order(o) => {
                orders.insert(o);
            }
            Touch::Orders(s) => {
                sessions.insert(s);
            }
            Touch::Recs(p) => {
                recs.insert(p);
            }
            Touch::RecsAround(p) => {
                recs.insert(p);
                recs_around.push(p);
            }
        }
    }
    products.extend(store::products_in(&mut tx, version, &in_categories).await?);
    carts.extend(store::carts_with(&mut tx, version, &carts_with).await?);
    recs.extend(store::co_purchased(&mut tx, version, &recs_around).await?);

    let mut lock_keys: Vec<String> = Vec::new();
    lock_keys.extend(products.iter().map(|p| doc_key::product(*p)));
    lock_keys.extend(recs.iter().map(|p| doc_key::recommendations(*p)));
    lock_keys.extend(lists.iter().map(|l| match l {
        ListId::All => "list:all".to_owned(),
        ListId::Category(c) => format!("list:{c}"),
    }));
    if categories_doc {
        lock_keys.push(doc_key::categories());
    }
    lock_keys.extend(carts.iter().map(|s| doc_key::cart(*s)));
    lock_keys.extend(orders.iter().map(|o| doc_key::order(*o)));
    lock_keys.extend(sessions.iter().map(|s| doc_key::orders(*s)));
    store::lock_renders(&mut tx, &lock_keys).await?;

    // Co-purchase scores come from one aggregate over the orders' product ids (GIN
    // indexed), not from loading every order that holds a product.
    let recs_list: Vec<Uuid> = recs.iter().copied().collect();
    let mut scores = store::co_purchase_scores(&mut tx, version, &recs_list).await?;
    let candidates: BTreeSet<Uuid> = scores.values().flat_map(|m| m.keys().copied()).collect();
    let needs = RenderNeeds {
        all_products: lists.contains(&ListId::All),
        products: products
            .iter()
            .chain(recs.iter())
            .chain(candidates.iter())
            .copied()
            .collect(),
        product_categories: lists
            .iter()
            .filter_map(|l| match l {
                ListId::Category(c) => Some(*c),
                ListId::All => None,
            })
            .collect(),
        carts: carts.iter().copied().collect(),
        orders: orders.iter().copied().collect(),
        orders_of_sessions: sessions.iter().copied().collect(),
    };
    let view = store::load_render_world(&mut tx, version, &needs).await?;

    let mut docs: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut search_upserts: Vec<SearchRow> = Vec::new();
    let mut search_deletes: Vec<Uuid> = Vec::new();
    for p in &products {
        if let Some(d) = render::product(&view, *p) {
            docs.insert(doc_key::product(*p), Some(d));
        }
        match render::search_row(&view, *p) {
            Some((item, name, description, category)) => {
                search_upserts.push((*p, item, name, description, category))
            }
            None => search_deletes.push(*p),
        }
    }
    for p in &recs {
        let scores = scores.remove(p).unwrap_or_default();
        if let Some(d) = render::recommendations_from(&view, *p, scores) {
            docs.insert(doc_key::recommendations(*p), Some(d));
        }
    }
    for list in &lists {
        if let Some((slug, pages, rendered)) = render::list_pages(&view, *list) {
            let before = store::list_page_count(&mut tx, version, &slug).await?;
            for (k, d) in rendered {
                docs.insert(k, Some(d));
            }
            for page in pages + 1..=before {
                for sort in Sort::ALL {
                    docs.insert(doc_key::product_list(&slug, sort, page), None);
                }
            }
            if before != pages {
                store::set_list_page_count(&mut tx, version, &slug, pages).await?;
            }
        }
    }
    if categories_doc {
        docs.insert(doc_key::categories(), Some(render::categories(&view)));
    }
    for s in &carts {
        if let Some(d) = render::cart(&view, *s) {
            docs.insert(doc_key::cart(*s), Some(d));
        }
    }
    for o in &orders {
        if let Some(d) = render::order(&view, *o) {
            docs.insert(doc_key::order(*o), Some(d));
        }
    }
    for s in &sessions {
        if let Some(d) = render::orders(&view, *s) {
            docs.insert(doc_key::orders(*s), Some(d));
        }
    }

    let revs = store::next_revs(&mut tx, docs.len()).await?;
    let writes: Vec<DocWrite> = docs
        .into_iter()
        .zip(revs)
        .map(|((key, doc), rev)| DocWrite { key, rev, doc })
        .collect();
    if !writes.is_empty() {
        store::write_pg_docs(&mut tx, version, &writes).await?;
    }
    store::write_search(&mut tx, version, &search_upserts, &search_deletes).await?;
    let new_letters = store::write_dead_letters(&mut tx, version, &letters).await?;
    if report.position > 0 {
        store::record_progress(&mut tx, version, report.position, catalog_changed).await?;
    }
    crate::partitions::record_offsets(&mut tx, offsets).await?;
    // The Redis write below can fail or be cut short by a crash: owe it first, in this
    // transaction, and settle the debt once Redis has the documents.
    let owed = if writes.is_empty() {
        None
    } else {
        let keys: Vec<&str> = writes.iter().map(|w| w.key.as_str()).collect();
        Some(redis_repair::owe(&mut tx, version, &keys).await?)
    };
    tx.commit().await?;

    report.dead_letters = letters.len() as u64;
    report.dead_positions = letters.iter().map(|l| l.position).collect();
    report.docs = writes.len();
    if let Some(owed) = owed {
        match store::write_redis_docs(redis, &RedisKeys::new(prefix, version), &writes).await {
            Ok(written) => {
                report.redis_written = written;
                if let Err(error) = redis_repair::settle(pool, owed).await {
                    // harmless: the drain writes the same documents again, fenced
                    tracing::warn!(%error, "could not settle an owed Redis write");
                }
            }
            Err(error) => {
                tracing::warn!(%error, docs = writes.len(), "Redis write failed; owed until Redis answers");
                metrics::counter!("vitrine_projector_redis_write_failures_total").increment(1);
                report.redis_owed = writes.len();
                redis_repair::wake();
            }
        }
    }

    metrics::counter!("vitrine_projector_applied_events_total").increment(report.applied);
    metrics::counter!("vitrine_projector_dead_letters_total").increment(new_letters);
    metrics::counter!("vitrine_projector_docs_written_total").increment(writes.len() as u64);
    metrics::histogram!("vitrine_projector_batch_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    if report.position > 0 {
        metrics::gauge!("vitrine_projector_position").set(report.position as f64);
    }
    Ok(report)
}
