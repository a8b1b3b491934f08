//! Which projector instance reads which partition, and where it stands in each: kept in
//! PostgreSQL, not in the broker's consumer group (ADR 0005).
//!
//! Each instance holds its partitions by advisory locks on a lock connection of its own
//! (the direct URL: PgBouncer's transaction pooling would drop session locks), and says
//! so in `rm_members`. A member whose lock connection is gone (killed, crashed) is dead
//! at once: its locks go with its backend, and the survivors see that its backend no
//! longer exists in `pg_stat_activity`. Every tick each member takes its fair share
//! (`ceil(partitions / live members)`), releasing extras and taking free ones.
//!
//! Offsets live in `rm_offsets` and are written in the transaction of the batch that
//! consumed them ([`record_offsets`]), so a partition changing hands, a crash or a
//! restart resumes exactly after the last committed batch.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;
use vitrine_runtime::locks::LockTarget;

use crate::apply::PartitionOffset;

/// Advisory-lock class of partition ownership (the second key hashes database, topic
/// and partition, since advisory locks are server-wide and tests share one server).
const PARTITION_LOCK_CLASS: i32 = 0x7650_5254; // "vPRT"
/// The second key, computed in the lock statement itself (`$2` topic, `$3` partition).
const LOCK_KEY: &str = "hashtext(current_database() || '/' || $2 || '/' || $3::text)";

/// This instance's share of a topic's partitions.
pub struct Ownership {
    target: LockTarget,
    conn: Option<PgConnection>,
    member_id: Uuid,
    topic: String,
    partitions: i32,
    owned: BTreeSet<i32>,
}

impl Ownership {
    pub fn new(target: LockTarget, topic: &str, partitions: i32) -> Self {
        Self {
            target,
            conn: None,
            member_id: Uuid::now_v7(),
            topic: topic.to_owned(),
            partitions,
            owned: BTreeSet::new(),
        }
    }

    pub fn owned(&self) -> &BTreeSet<i32> {
        &self.owned
    }

    /// Refreshes membership and takes this instance's fair share; answers whether the
    /// owned set changed. When the lock connection is lost, so are the locks: the owned
    /// set becomes empty and the next tick connects again.
    pub async fn rebalance(&mut self) -> bool {
        let before = self.owned.clone();
        if let Err(error) = self.try_rebalance().await {
            tracing::warn!(%error, "partition ownership: lock connection lost; releasing every partition");
            self.conn = None;
            self.owned.clear();
        }
        metrics::gauge!(vitrine_runtime::metric::PROJECTOR_PARTITIONS_OWNED)
            .set(self.owned.len() as f64);
        self.owned != before
    }

    async fn try_rebalance(&mut self) -> sqlx::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.target.connect().await?);
            self.owned.clear();
        }
        let conn = self.conn.as_mut().expect("connected above");
        let owned: Vec<i32> = self.owned.iter().copied().collect();
        sqlx::query(
            "INSERT INTO rm_members (member_id, topic, lock_pid, backend_start, partitions)
             SELECT $1, $2, pid, backend_start, $3 FROM pg_stat_activity WHERE pid = pg_backend_pid()
             ON CONFLICT (member_id) DO UPDATE SET partitions = EXCLUDED.partitions, seen_at = now()",
        )
        .bind(self.member_id)
        .bind(&self.topic)
        .bind(&owned)
        .execute(&mut *conn)
        .await?;
        // members whose backend is gone died with their locks
        sqlx::query(
            "DELETE FROM rm_members m WHERE NOT EXISTS (
                 SELECT 1 FROM pg_stat_activity a
                 WHERE a.pid = m.lock_pid AND a.backend_start = m.backend_start)",
        )
        .execute(&mut *conn)
        .await?;
        let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_members WHERE topic = $1")
            .bind(&self.topic)
            .fetch_one(&mut *conn)
            .await?;
        let share = fair_share(self.partitions, alive);
        while self.owned.len() > share {
            let p = *self.owned.iter().next_back().expect("more than share");
            sqlx::query(&format!("SELECT pg_advisory_unlock($1, {LOCK_KEY})"))
                .bind(PARTITION_LOCK_CLASS)
                .bind(&self.topic)
                .bind(p)
                .execute(&mut *conn)
                .await?;
            self.owned.remove(&p);
            tracing::info!(partition = p, share, members = alive, "partition released");
        }
        for p in 0..self.partitions {
            if self.owned.len() >= share {
                break;
            }
            if self.owned.contains(&p) {
                continue;
            }
            let won: bool =
                sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock($1, {LOCK_KEY})"))
                    .bind(PARTITION_LOCK_CLASS)
                    .bind(&self.topic)
                    .bind(p)
                    .fetch_one(&mut *conn)
                    .await?;
            if won {
                self.owned.insert(p);
                tracing::info!(partition = p, share, members = alive, "partition taken");
            }
        }
        if self.owned.iter().copied().collect::<Vec<_>>() != owned {
            let now: Vec<i32> = self.owned.iter().copied().collect();
            sqlx::query("UPDATE rm_members SET partitions = $2 WHERE member_id = $1")
                .bind(self.member_id)
                .bind(&now)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Leaves the topic: the member row goes and the locks with the connection.
    pub async fn leave(mut self) {
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("DELETE FROM rm_members WHERE member_id = $1")
                .bind(self.member_id)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// Partitions one of `members` live instances should hold.
pub fn fair_share(partitions: i32, members: i64) -> usize {
    let members = members.max(1) as usize;
    (partitions.max(0) as usize).div_ceil(members)
}

/// The stored next offset of each of `partitions` (absent: never consumed).
pub async fn stored_offsets(
    pool: &PgPool,
    topic: &str,
    partitions: &BTreeSet<i32>,
) -> sqlx::Result<BTreeMap<i32, i64>> {
    let list: Vec<i32> = partitions.iter().copied().collect();
    let rows: Vec<(i32, i64)> = sqlx::query_as(
        "SELECT partition, next_offset FROM rm_offsets WHERE topic = $1 AND partition = ANY($2)",
    )
    .bind(topic)
    .bind(&list)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Records where a batch leaves each partition, in the batch's transaction. Offsets only
/// move forward: a batch of a previous owner committing late cannot move one back.
pub async fn record_offsets(
    tx: &mut PgConnection,
    offsets: &[PartitionOffset],
) -> sqlx::Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let topics: Vec<&str> = offsets.iter().map(|o| o.topic.as_str()).collect();
    let partitions: Vec<i32> = offsets.iter().map(|o| o.partition).collect();
    let next: Vec<i64> = offsets.iter().map(|o| o.next_offset).collect();
    sqlx::query(
        "INSERT INTO rm_offsets (topic, partition, next_offset)
         SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])
         ON CONFLICT (topic, partition) DO UPDATE
         SET next_offset = GREATEST(rm_offsets.next_offset, EXCLUDED.next_offset), updated_at = now()",
    )
    .bind(&topics)
    .bind(&partitions)
    .bind(&next)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Every member of `topic` and the partitions it says it holds (for `projector status`).
pub async fn members(pool: &PgPool, topic: &str) -> sqlx::Result<Vec<(Uuid, i32, Vec<i32>)>> {
    sqlx::query_as(
        "SELECT member_id, lock_pid, partitions FROM rm_members WHERE topic = $1 ORDER BY joined_at",
    )
    .bind(topic)
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_shared_so_every_one_has_an_owner() {
        assert_eq!(fair_share(6, 1), 6);
        assert_eq!(fair_share(6, 2), 3);
        assert_eq!(fair_share(6, 4), 2);
        assert_eq!(fair_share(6, 7), 1);
        assert_eq!(fair_share(6, 0), 6, "a member always counts itself");
    }
}
