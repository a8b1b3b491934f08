//! The whole event store folded in bounded memory, for `rebuild` and `verify`.
//!
//! A stream's fold reads only its own stream ([`World::fold`]), so history can be folded
//! in parts. The catalog (category and product streams) comes first and is kept: every
//! document renders from it, and it grows with the catalog, not with history. Carts and
//! orders follow grouped by shopper session (an order joins its session through its
//! `OrderPlaced`; [`event_store::stream_by_session`]), in parts of whole sessions of about
//! [`PART_EVENTS`] events: a session's cart, orders and orders list are rendered from one
//! part, which is dropped once written or compared. What crosses parts is only the
//! co-purchase counts behind recommendations ([`CoPurchases`]), kept per product pair:
//! they too grow with the catalog.
//!
//! Peak memory is therefore about the catalog, the co-purchase pairs and
//! [`History::PARTS_AHEAD`] parts, whatever the length of history (PostgreSQL sorts the
//! session grouping, spilling to disk).

use std::collections::BTreeMap;

use futures::TryStreamExt;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use vitrine_runtime::event_store;

use crate::render::{self, CoPurchases};
use crate::world::World;

/// Events per part of sessions (a part always holds whole sessions, so one session
/// with more events makes a larger part).
pub const PART_EVENTS: usize = 20_000;

/// One part of history, folded.
#[derive(Debug)]
pub enum Part {
    /// Every category and product stream (always the first part).
    Catalog { world: World, events: u64 },
    /// The carts and orders of whole sessions: only `carts`, `orders` and `versions`.
    Sessions { world: World, events: u64 },
}

/// What was read, once every part has been sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Folded {
    pub events: u64,
    /// The highest position read (0 for an empty store).
    pub last_position: i64,
}

/// A history being read and folded by a task of its own, handed over part by part.
#[derive(Debug)]
pub struct History {
    /// The snapshot every part was read in (text form).
    pub snapshot: String,
    /// How many events it holds (for a progress bar).
    pub total: u64,
    pub parts: mpsc::Receiver<Part>,
    task: JoinHandle<anyhow::Result<Folded>>,
}

impl History {
    /// Parts folded ahead of the reader (the fold overlaps the reader's writes).
    pub const PARTS_AHEAD: usize = 2;

    /// Starts reading the events visible in `snapshot` (text form), or all events in a
    /// snapshot of its own when `None`, in parts of about `part_events` events.
    pub async fn read(
        pool: &PgPool,
        snapshot: Option<&str>,
        part_events: usize,
    ) -> anyhow::Result<History> {
        // A connection of its own, closed (never returned to the pool) when the reader
        // ends: a reader stopped halfway leaves its query streaming and its transaction
        // open, which a pooled connection would carry to its next user.
        let mut tx = pool.acquire().await?.detach();
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut tx)
            .await?;
        let snapshot: String = match snapshot {
            Some(s) => s.to_owned(),
            None => {
                sqlx::query_scalar("SELECT pg_current_snapshot()::text")
                    .fetch_one(&mut tx)
                    .await?
            }
        };
        let total: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE pg_visible_in_snapshot(tx_id, $1::pg_snapshot)",
        )
        .bind(&snapshot)
        .fetch_one(&mut tx)
        .await?;
        let (parts_tx, parts) = mpsc::channel(Self::PARTS_AHEAD);
        let at = snapshot.clone();
        let task = tokio::spawn(async move {
            let mut folded = Folded::default();
            let mut world = World::default();
            let mut events = 0u64;
            {
                let mut rows = event_store::stream_catalog(&mut tx, Some(&at));
                while let Some(rec) = rows.try_next().await? {
                    folded.last_position = folded.last_position.max(rec.position);
                    world.fold(&rec);
                    events += 1;
                }
            }
            folded.events += events;
            if parts_tx
                .send(Part::Catalog { world, events })
                .await
                .is_err()
            {
                return Ok(folded);
            }
            {
                let mut rows = event_store::stream_by_session(&mut tx, Some(&at));
                let mut world = World::default();
                let mut events = 0u64;
                let mut session = String::new();
                while let Some((s, rec)) = rows.try_next().await? {
                    if s != session {
                        if events as usize >= part_events {
                            let part = Part::Sessions {
                                world: std::mem::take(&mut world),
                                events,
                            };
                            folded.events += events;
                            events = 0;
                            if parts_tx.send(part).await.is_err() {
                                return Ok(folded);
                            }
                        }
                        session = s;
                    }
                    folded.last_position = folded.last_position.max(rec.position);
                    world.fold(&rec);
                    events += 1;
                }
                if events > 0 {
                    folded.events += events;
                    let _ = parts_tx.send(Part::Sessions { world, events }).await;
                }
            }
            sqlx::query("COMMIT").execute(&mut tx).await?;
            sqlx::Connection::close(tx).await?;
            Ok(folded)
        });
        Ok(History {
            snapshot,
            total: total as u64,
            parts,
            task,
        })
    }

    /// Waits for the reader once every part was received.
    pub async fn finish(mut self) -> anyhow::Result<Folded> {
        let (_, closed) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.parts, closed));
        (&mut self.task).await?
    }
}

impl Drop for History {
    /// A history given up (an error, or a rebuild stopped) stops its reader too.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Puts a part's carts and orders beside the catalog for rendering; [`Beside::back`]
/// takes them away again (the catalog's own streams stay).
pub struct Beside<'w> {
    pub world: &'w mut World,
    streams: Vec<String>,
}

impl<'w> Beside<'w> {
    pub fn new(catalog: &'w mut World, part: World) -> Self {
        let streams: Vec<String> = part.versions.keys().cloned().collect();
        catalog.versions.extend(part.versions);
        catalog.carts = part.carts;
        catalog.orders = part.orders;
        Beside {
            world: catalog,
            streams,
        }
    }

    /// The part's streams (stream ids as text).
    pub fn streams(&self) -> &[String] {
        &self.streams
    }

    pub fn back(self) {
        self.world.carts.clear();
        self.world.orders.clear();
        for s in &self.streams {
            self.world.versions.remove(s);
        }
    }
}

/// The documents a history should have produced, part by part: each part of sessions'
/// documents, then the catalog's (whose recommendations need every part's orders).
#[derive(Debug)]
pub struct Expected {
    history: History,
    catalog: Option<World>,
    co: CoPurchases,
    done: bool,
}

impl Expected {
    /// Starts folding the events visible in `snapshot` (all when `None`) in parts of
    /// about `part_events` events.
    pub async fn read(
        pool: &PgPool,
        snapshot: Option<&str>,
        part_events: usize,
    ) -> anyhow::Result<Expected> {
        Ok(Expected {
            history: History::read(pool, snapshot, part_events).await?,
            catalog: None,
            co: CoPurchases::default(),
            done: false,
        })
    }

    /// The next part's documents by doc key; `None` once the catalog's were given.
    pub async fn next(&mut self) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        if self.done {
            return Ok(None);
        }
        let catalog = match &mut self.catalog {
            Some(catalog) => catalog,
            None => match self.history.parts.recv().await {
                Some(Part::Catalog { world, .. }) => self.catalog.insert(world),
                _ => anyhow::bail!("the history ended before its catalog"),
            },
        };
        match self.history.parts.recv().await {
            Some(Part::Sessions { world, .. }) => {
                self.co.add(&world);
                let beside = Beside::new(catalog, world);
                let docs = render::session_docs(beside.world);
                beside.back();
                Ok(Some(docs))
            }
            Some(Part::Catalog { .. }) => anyhow::bail!("a second catalog in one history"),
            None => {
                self.done = true;
                Ok(Some(render::catalog_docs(catalog, &mut self.co)))
            }
        }
    }

    /// Waits for the reader once every part was taken.
    pub async fn finish(self) -> anyhow::Result<Folded> {
        self.history.finish().await
    }
}
