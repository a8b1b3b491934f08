//! Transaction-scoped advisory locks of a batch: the dependency locks taken first (two
//! batches naming one product or category are serialized) and the render locks (renders
//! of one document are serialized, so a higher rev always reflects newer state). Both
//! are bucketed so the lock table stays bounded.

use sqlx::PgConnection;
use uuid::Uuid;

/// Advisory-lock class of document renders (the first key of the two-int form).
const RENDER_LOCK_CLASS: i32 = 0x7672; // "vr"
/// Render locks are bucketed so the lock table stays bounded.
const RENDER_LOCK_BUCKETS: u32 = 4096;

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
