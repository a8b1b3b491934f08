//! The rendered documents in Redis: fenced writes (the compare-and-set script of ADR 3)
//! with one PUBLISH of their keys per batch, and key scans.

use redis::aio::ConnectionLike;
use vitrine_contract::read_model::{redis_ttl_secs, RedisKeys, FENCED_SET_LUA};

use super::documents::DocWrite;

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
