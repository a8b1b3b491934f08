//! The projector's "these doc keys were written" notices, fanned out to `min_version` waiters.
//!
//! One SUBSCRIBE connection per instance (on the live version's updates channel) feeds a
//! broadcast channel; a waiter re-reads its document only when a notice names its key,
//! so nobody polls the stores.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use crate::live::Live;
use crate::redis_link::RedisLink;

/// Sent after every (re)subscription: notices may have been missed, waiters re-read.
pub const RESYNC: &str = "*";

pub struct Updates {
    tx: broadcast::Sender<Arc<str>>,
    subscribed: AtomicBool,
    /// Reads waiting for a notice right now (see [`Updates::waiting`]).
    waiting: AtomicUsize,
}

/// Counts one read as waiting for a notice while it lives.
pub struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Updates {
    pub fn new() -> Arc<Self> {
        let (tx, _) = broadcast::channel(1024);
        Arc::new(Self {
            tx,
            subscribed: AtomicBool::new(false),
            waiting: AtomicUsize::new(0),
        })
    }

    /// Notices from now on: subscribe before reading, so none is missed in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }

    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    /// Marks a read as waiting (it has read once and found its document behind) until
    /// the guard drops.
    pub fn wait(&self) -> Waiting<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(&self.waiting)
    }

    /// How many `min_version` reads are waiting for a notice now: what a caller (a test)
    /// waits for before publishing, instead of sleeping.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Whether a notice names `doc_key` (or asks everyone to re-read).
    pub fn names(notice: &str, doc_key: &str) -> bool {
        notice == RESYNC || notice.split('\n').any(|k| k == doc_key)
    }

    /// Keeps one subscription to the live version's channel; runs until `live` closes.
    pub async fn run(self: Arc<Self>, redis: Arc<RedisLink>, mut live: watch::Receiver<Live>) {
        loop {
            let channel = live.borrow_and_update().keys.updates_channel();
            let connected =
                tokio::time::timeout(redis.timeout() * 4, redis.client().get_async_pubsub()).await;
            if let Ok(Ok(mut pubsub)) = connected {
                if pubsub.subscribe(&channel).await.is_ok() {
                    self.subscribed.store(true, Ordering::Relaxed);
                    let _ = self.tx.send(Arc::from(RESYNC));
                    tracing::debug!(%channel, "subscribed to read-model updates");
                    let mut messages = pubsub.into_on_message();
                    loop {
                        tokio::select! {
                            message = messages.next() => match message {
                                Some(message) => {
                                    if let Ok(notice) = message.get_payload::<String>() {
                                        let _ = self.tx.send(Arc::from(notice));
                                    }
                                }
                                None => break,
                            },
                            changed = live.changed() => {
                                if changed.is_err() {
                                    self.subscribed.store(false, Ordering::Relaxed);
                                    return;
                                }
                                if live.borrow().keys.updates_channel() != channel {
                                    break;
                                }
                            }
                        }
                    }
                    self.subscribed.store(false, Ordering::Relaxed);
                    // A version flip resubscribes at once; a lost connection waits a little.
                    if live.borrow().keys.updates_channel() != channel {
                        continue;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
