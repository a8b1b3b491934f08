//! Phase 1, pure: the batch's messages grouped by stream (poison messages and events of
//! no known stream become dead letters), and the entities they name.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;
use vitrine_contract::{RecordedEvent, StreamId};

use super::{dead_letter, Incoming};
use crate::store::progress::DeadLetter;
use crate::world::World;

/// The batch, grouped.
pub struct Grouped<'a> {
    pub by_stream: BTreeMap<StreamId, Vec<&'a RecordedEvent>>,
    pub letters: Vec<DeadLetter>,
    /// Highest position seen (0 if none).
    pub position: i64,
}

pub fn group(items: &[Incoming]) -> Grouped<'_> {
    let mut grouped = Grouped {
        by_stream: BTreeMap::new(),
        letters: Vec::new(),
        position: 0,
    };
    for item in items {
        match item {
            Incoming::Poison(l) => grouped.letters.push(l.clone()),
            Incoming::Event(rec) => {
                grouped.position = grouped.position.max(rec.position);
                match rec.stream_id.parse::<StreamId>() {
                    Ok(s) => grouped.by_stream.entry(s).or_default().push(rec),
                    Err(e) => grouped.letters.push(dead_letter(rec, e.to_string())),
                }
            }
        }
    }
    grouped
}

impl Grouped<'_> {
    /// The products and categories the batch's events name (see [`World::dependencies`]).
    pub fn dependencies(&self) -> Vec<Uuid> {
        let mut ids: BTreeSet<Uuid> = BTreeSet::new();
        for recs in self.by_stream.values() {
            for rec in recs {
                if let Ok(event) = rec.decode() {
                    ids.extend(World::dependencies(&event));
                }
            }
        }
        ids.into_iter().collect()
    }
}
