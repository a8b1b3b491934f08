//! The projector's liveness: "messages have been waiting in a partition I own for a
//! while and I have not moved" is a stall, whatever the cause (a broker that stopped
//! answering fetches, a consumer sitting idle). The clock starts at the first check that
//! sees the backlog, not at the last move: after an hour of idling (with fetching paused,
//! see [`crate::consumer`]) a message that just arrived is not a stall. The rule is pure ([`Watchdog::check`]); the
//! consumer loop acts on its verdict: seek again first, exit for the supervisor if that
//! did not help. `/readyz` answers 503 while stalled.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the HTTP endpoints show of the consumer's health.
#[derive(Debug, Default)]
pub struct Health {
    stalled: AtomicBool,
    reason: Mutex<String>,
}

impl Health {
    pub fn set_stalled(&self, reason: Option<String>) {
        self.stalled.store(reason.is_some(), Ordering::SeqCst);
        metrics::gauge!(vitrine_runtime::metric::PROJECTOR_STALLED).set(if reason.is_some() {
            1.0
        } else {
            0.0
        });
        if let Ok(mut r) = self.reason.lock() {
            *r = reason.unwrap_or_default();
        }
    }

    /// `Some(why)` while stalled.
    pub fn stalled(&self) -> Option<String> {
        self.stalled
            .load(Ordering::SeqCst)
            .then(|| self.reason.lock().map(|r| r.clone()).unwrap_or_default())
    }
}

#[derive(Debug, Clone, Copy)]
struct Partition {
    /// Next offset this instance will apply.
    next: i64,
    /// The first check that saw messages waiting since `next` last moved.
    waiting_since: Option<Instant>,
}

/// The verdict of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Waiting messages and no progress: `seek` the first time (then wait one more
    /// stall period for progress).
    Stalled {
        reason: String,
        seek: bool,
    },
    /// Still stalled one more stall period after seeking again: exit, let the
    /// supervisor start a fresh process.
    GiveUp {
        reason: String,
    },
}

#[derive(Debug)]
pub struct Watchdog {
    stall_after: Duration,
    partitions: BTreeMap<i32, Partition>,
    /// When the first stall was reported (the seek happened), until progress resumes.
    stalled_since: Option<Instant>,
}

impl Watchdog {
    pub fn new(stall_after: Duration) -> Self {
        Self {
            stall_after,
            partitions: BTreeMap::new(),
            stalled_since: None,
        }
    }

    /// The partitions now owned and where each starts (a new assignment, or a seek: the
    /// clocks of waiting partitions keep running).
    pub fn assigned(&mut self, starts: impl IntoIterator<Item = (i32, i64)>) {
        self.partitions = starts
            .into_iter()
            .map(|(p, next)| {
                (
                    p,
                    Partition {
                        next,
                        waiting_since: None,
                    },
                )
            })
            .collect();
    }

    /// A batch moved `partition` to `next`.
    pub fn progressed(&mut self, partition: i32, next: i64) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            if next > p.next {
                p.next = next;
                p.waiting_since = None;
                self.stalled_since = None;
            }
        }
    }

    /// Messages waiting per owned partition (`high watermark - next`), from the broker.
    pub fn lag(&self, high: &BTreeMap<i32, i64>) -> i64 {
        self.partitions
            .iter()
            .map(|(p, s)| high.get(p).map_or(0, |h| (h - s.next).max(0)))
            .sum()
    }

    /// Judges the partitions against the broker's high watermarks.
    pub fn check(&mut self, high: &BTreeMap<i32, i64>, now: Instant) -> Verdict {
        for (p, s) in self.partitions.iter_mut() {
            if high.get(p).is_some_and(|h| *h > s.next) {
                s.waiting_since.get_or_insert(now);
            } else {
                s.waiting_since = None;
            }
        }
        let waiting: Vec<(&i32, &Partition)> = self
            .partitions
            .iter()
            .filter(|(p, s)| high.get(p).is_some_and(|h| *h > s.next))
            .collect();
        if waiting.is_empty() {
            self.stalled_since = None;
            return Verdict::Healthy;
        }
        let describe = |parts: &[(&i32, &Partition)]| {
            parts
                .iter()
                .map(|(p, s)| format!("partition {p} at offset {} of {}", s.next, high[p]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(since) = self.stalled_since {
            // only progress ([`Self::progressed`]) or an empty backlog ends a stall
            let reason = format!(
                "no progress for {}s with messages waiting: {}",
                now.duration_since(since).as_secs() + self.stall_after.as_secs(),
                describe(&waiting)
            );
            return if now.duration_since(since) >= self.stall_after {
                Verdict::GiveUp { reason }
            } else {
                Verdict::Stalled {
                    reason,
                    seek: false,
                }
            };
        }
        let stuck: Vec<(&i32, &Partition)> = waiting
            .into_iter()
            .filter(|(_, s)| {
                s.waiting_since
                    .is_some_and(|since| now.duration_since(since) >= self.stall_after)
            })
            .collect();
        if stuck.is_empty() {
            return Verdict::Healthy;
        }
        self.stalled_since = Some(now);
        Verdict::Stalled {
            reason: format!(
                "no progress for {}s with messages waiting: {}",
                self.stall_after.as_secs(),
                describe(&stuck)
            ),
            seek: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(30);

    fn high(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn an_idle_partition_with_nothing_waiting_is_healthy_however_long() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(STALL);
        w.assigned([(0, 10), (1, 5)]);
        let verdict = w.check(&high(&[(0, 10), (1, 5)]), t0 + Duration::from_secs(600));
        assert_eq!(verdict, Verdict::Healthy);
    }

    #[test]
    fn messages_waiting_without_progress_for_the_stall_period_is_a_stall_then_a_give_up() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(STALL);
        w.assigned([(0, 10), (1, 5)]);
        let waiting = high(&[(0, 10), (1, 3_744)]);
        let at = |s| t0 + Duration::from_secs(s);
        // first seen waiting at 5 s
        assert_eq!(w.check(&waiting, at(5)), Verdict::Healthy);
        assert_eq!(w.check(&waiting, at(34)), Verdict::Healthy);
        let first = w.check(&waiting, at(35));
        assert!(
            matches!(&first, Verdict::Stalled { reason, seek: true } if reason.contains("partition 1 at offset 5 of 3744")),
            "{first:?}"
        );
        // the seek restarts nobody's clock: still stalled, no second seek
        w.assigned([(0, 10), (1, 5)]);
        assert!(matches!(
            w.check(&waiting, at(50)),
            Verdict::Stalled { seek: false, .. }
        ));
        assert!(matches!(w.check(&waiting, at(65)), Verdict::GiveUp { .. }));
    }

    #[test]
    fn progress_clears_a_stall() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(STALL);
        w.assigned([(0, 0)]);
        let waiting = high(&[(0, 100)]);
        assert_eq!(w.check(&waiting, t0), Verdict::Healthy);
        assert!(matches!(
            w.check(&waiting, t0 + STALL),
            Verdict::Stalled { .. }
        ));
        w.progressed(0, 40);
        assert_eq!(
            w.check(&waiting, t0 + STALL + Duration::from_secs(2)),
            Verdict::Healthy
        );
        assert_eq!(w.lag(&waiting), 60);
    }

    #[test]
    fn a_backlog_that_appears_after_a_long_idle_spell_is_not_a_stall_at_once() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(STALL);
        w.assigned([(0, 10)]);
        assert_eq!(
            w.check(&high(&[(0, 10)]), t0 + Duration::from_secs(3_600)),
            Verdict::Healthy
        );
        let arrived = high(&[(0, 11)]);
        assert_eq!(
            w.check(&arrived, t0 + Duration::from_secs(3_605)),
            Verdict::Healthy
        );
        assert!(matches!(
            w.check(&arrived, t0 + Duration::from_secs(3_605) + STALL),
            Verdict::Stalled { seek: true, .. }
        ));
    }
}
