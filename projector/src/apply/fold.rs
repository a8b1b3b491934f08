//! Phase 2: the batch's streams locked and folded. Each stream's entity is loaded (its
//! row locked), events it already has are skipped, a gap is filled from the event store, and each new
//! event is applied in version order; an event that does not decode, or belongs to
//! another stream, is dead-lettered and keeps its place in the stream.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;
use vitrine_contract::{Event, RecordedEvent, StreamId};
use vitrine_runtime::event_store;

use super::dead_letter;
use crate::store;
use crate::store::progress::DeadLetter;
use crate::world::{EventMeta, Touch, World};

/// What the fold leaves for rendering and writing.
#[derive(Default)]
pub struct Folded {
    pub world: World,
    pub touches: BTreeSet<Touch>,
    pub search_text_changed: bool,
    /// Streams whose entity row must be saved.
    pub changed: Vec<StreamId>,
    pub letters: Vec<DeadLetter>,
    pub applied: u64,
    pub skipped: u64,
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

/// Folds `by_stream` into read-model `version`; `refold` streams start again from their
/// first event (a dead letter replayed after a fix).
pub async fn fold(
    tx: &mut PgConnection,
    version: i32,
    mut by_stream: BTreeMap<StreamId, Vec<&RecordedEvent>>,
    refold: &[StreamId],
) -> sqlx::Result<Folded> {
    for stream in refold {
        by_stream.entry(stream.clone()).or_default();
    }
    let streams: Vec<StreamId> = by_stream.keys().cloned().collect();
    let mut folded = Folded::default();
    store::entities::load_into(
        &mut folded.world,
        store::entities::load_categories(&mut *tx, version).await?,
    );
    store::entities::load_into(
        &mut folded.world,
        store::entities::lock_entities(&mut *tx, version, &streams).await?,
    );
    let mut refold_upto: BTreeMap<String, i64> = BTreeMap::new();
    for stream in refold {
        let sid = stream.to_string();
        refold_upto.insert(sid.clone(), folded.world.version_of(&sid));
        folded.world.forget(stream);
    }

    for (stream, mut recs) in by_stream {
        let sid = stream.to_string();
        recs.sort_by_key(|r| r.version);
        recs.dedup_by_key(|r| r.version);
        let stored = folded.world.version_of(&sid);
        let (old, new): (Vec<&RecordedEvent>, Vec<&RecordedEvent>) =
            recs.into_iter().partition(|r| r.version <= stored);
        // An event the stream already has changes nothing and renders nothing: its
        // documents were written with the batch that applied it, and that batch's Redis
        // write, if cut short, is owed in `rm_redis_owed`.
        folded.skipped += old.len() as u64;
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
            filled = event_store::read_stream_range(&mut *tx, &sid, stored, upto).await?;
            filled.iter().collect()
        };
        for rec in new {
            if rec.version != folded.world.version_of(&sid) + 1 {
                break;
            }
            folded.applied += 1;
            let meta = EventMeta {
                position: rec.position,
                recorded_at: rec.recorded_at,
            };
            match rec.decode() {
                Ok(event) if event.stream() == stream => {
                    folded.search_text_changed |= changes_search_text(&event);
                    folded
                        .touches
                        .extend(folded.world.apply(&sid, rec.version, meta, &event));
                }
                Ok(event) => {
                    folded.letters.push(dead_letter(
                        rec,
                        format!("event belongs to stream {}", event.stream()),
                    ));
                    folded.world.skip(&sid, rec.version);
                }
                Err(e) => {
                    folded.letters.push(dead_letter(rec, e.to_string()));
                    folded.world.skip(&sid, rec.version);
                }
            }
        }
        if folded.world.version_of(&sid) != stored || refold_upto.contains_key(&sid) {
            folded.changed.push(stream);
        }
    }
    store::entities::save_entities(&mut *tx, version, &folded.world, &folded.changed).await?;
    Ok(folded)
}
