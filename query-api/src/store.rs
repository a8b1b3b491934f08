//! The read models, as query-api sees them: Redis first, PostgreSQL on a miss.
//!
//! Owns every statement query-api runs on the request path: one `HMGET` per document on
//! a hit; on a miss one `SELECT` by primary key plus one fenced write-back (`EVALSHA`);
//! search results are one `GET`, or one full-text statement plus one `SET EX`.

use std::sync::Arc;
use std::time::Duration;

use redis::RedisResult;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use vitrine_contract::read_model::{doc_key, redis_ttl_secs, RedisKeys, ABSENT_REV, PAGE_SIZE};

use crate::error::ApiError;
use crate::live::Live;
use crate::lookups::Lookups;
use crate::redis_link::RedisLink;
use crate::updates::Updates;

/// How often a `min_version` waiter re-reads while the update notices are unavailable.
const FALLBACK_POLL: Duration = Duration::from_millis(50);

/// How long a negative-cache entry (a document that does not exist) lives in Redis.
const ABSENT_TTL_SECS: u64 = 300;

/// A document lookup's outcome.
#[derive(Debug)]
pub enum Found {
    Doc {
        rev: i64,
        body: Vec<u8>,
    },
    /// Tombstone: the document existed and is gone.
    Gone,
    /// Never written.
    Absent,
}

impl Found {
    /// The stream version a single-stream document reflects (0 when never written).
    pub fn stream_version(&self) -> i64 {
        #[derive(Deserialize)]
        struct Versioned {
            version: i64,
        }
        match self {
            Found::Doc { body, .. } => serde_json::from_slice::<Versioned>(body)
                .map(|v| v.version)
                .unwrap_or(0),
            // A tombstone is final: no later version will come.
            Found::Gone => i64::MAX,
            Found::Absent => 0,
        }
    }
}

pub struct Store {
    pool: PgPool,
    redis: Arc<RedisLink>,
    search_ttl_secs: u64,
}

impl Store {
    pub fn new(pool: PgPool, redis: Arc<RedisLink>, search_ttl: Duration) -> Self {
        Self {
            pool,
            redis,
            search_ttl_secs: search_ttl.as_secs().max(1),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn redis(&self) -> &RedisLink {
        &self.redis
    }

    /// One document: `HMGET key rev doc`; on a miss `SELECT` by key and write it back.
    #[tracing::instrument(skip_all, fields(doc_key))]
    pub async fn doc(
        &self,
        lk: &mut Lookups,
        keys: &RedisKeys,
        doc_key: &str,
    ) -> Result<Found, ApiError> {
        let redis_key = keys.key(doc_key);
        let mut write_back = None;
        if let Some(mut conn) = self.redis.conn() {
            lk.redis_command();
            let got: RedisResult<RevAndDoc> = redis::cmd("HMGET")
                .arg(&redis_key)
                .arg("rev")
                .arg("doc")
                .query_async(&mut conn)
                .await;
            match got {
                Ok((Some(rev), doc)) if parse_rev(&rev).is_some() => {
                    lk.cache_hit();
                    let rev = parse_rev(&rev).unwrap_or_default();
                    return Ok(match doc {
                        Some(body) if !body.is_empty() => Found::Doc { rev, body },
                        _ if rev == ABSENT_REV => Found::Absent,
                        _ => Found::Gone,
                    });
                }
                Ok(_) => write_back = Some(conn),
                Err(error) => {
                    tracing::warn!(%error, "Redis read failed, reading PostgreSQL");
                    self.redis.report_failure(&error);
                }
            }
        }
        lk.cache_miss();
        lk.sql_statement();
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT rev, doc FROM rm_docs WHERE rm_version = $1 AND key = $2")
                .bind(keys.version())
                .bind(doc_key)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let Some((rev, doc)) = row else {
            // Remember the absence for a while: a new session reads its empty cart again
            // and again before its first add. Any projector write replaces the entry.
            if let Some(mut conn) = write_back {
                lk.redis_command();
                let written: RedisResult<i64> = redis::cmd("EVALSHA")
                    .arg(self.redis.absent_set_sha())
                    .arg(1)
                    .arg(&redis_key)
                    .arg(ABSENT_TTL_SECS)
                    .query_async(&mut conn)
                    .await;
                if let Err(error) = written {
                    tracing::warn!(%error, "Redis negative-cache write failed");
                    self.redis.report_failure(&error);
                }
            }
            return Ok(Found::Absent);
        };
        if let Some(mut conn) = write_back {
            // Fenced by rev: a projector write that landed meanwhile is never replaced.
            lk.redis_command();
            let written: RedisResult<i64> = redis::cmd("EVALSHA")
                .arg(self.redis.fenced_set_sha())
                .arg(1)
                .arg(&redis_key)
                .arg(rev)
                .arg(doc.as_deref().unwrap_or(""))
                .arg(redis_ttl_secs(doc_key))
                .query_async(&mut conn)
                .await;
            if let Err(error) = written {
                tracing::warn!(%error, "Redis write-back failed");
                self.redis.report_failure(&error);
            }
        }
        Ok(match doc {
            Some(body) => Found::Doc {
                rev,
                body: body.into_bytes(),
            },
            None => Found::Gone,
        })
    }

    /// A single-stream document at `min_version` or later, waiting (until `deadline`) for
    /// update notices naming it; re-reads only when one arrives.
    #[tracing::instrument(skip_all, fields(doc_key, min_version))]
    pub async fn doc_at_least(
        &self,
        lk: &mut Lookups,
        updates: &Updates,
        keys: &RedisKeys,
        doc_key: &str,
        min_version: i64,
        deadline: Instant,
    ) -> Result<Found, ApiError> {
        let mut notices = updates.subscribe();
        loop {
            let found = self.doc(lk, keys, doc_key).await?;
            let have = found.stream_version();
            if have >= min_version {
                return Ok(found);
            }
            let _waiting = updates.wait();
            loop {
                // Without the notice subscription (Redis unreachable) nothing would wake
                // this waiter: read PostgreSQL again every FALLBACK_POLL instead.
                let wake_at = if updates.is_subscribed() {
                    deadline
                } else {
                    deadline.min(Instant::now() + FALLBACK_POLL)
                };
                match tokio::time::timeout_at(wake_at, notices.recv()).await {
                    Err(_) if wake_at < deadline => break,
                    Err(_) | Ok(Err(RecvError::Closed)) => {
                        return Err(ApiError::NotYet {
                            wanted: min_version,
                            have,
                        });
                    }
                    Ok(Err(RecvError::Lagged(_))) => break,
                    Ok(Ok(notice)) if Updates::names(&notice, doc_key) => break,
                    Ok(Ok(_)) => {}
                }
            }
        }
    }

    /// A page of search results for a normalized query: `GET`, or on a miss one
    /// full-text statement and `SET EX`. Keyed by `catalog_gen`, so a catalog change
    /// makes old results unreachable without an extra lookup.
    #[tracing::instrument(skip_all, fields(page))]
    pub async fn search(
        &self,
        lk: &mut Lookups,
        live: &Live,
        query: &str,
        page: u32,
    ) -> Result<Vec<u8>, ApiError> {
        let redis_key = live
            .keys
            .key(&doc_key::search(live.catalog_gen, query, page));
        let mut write_back = None;
        if let Some(mut conn) = self.redis.conn() {
            lk.redis_command();
            let got: RedisResult<Option<Vec<u8>>> = redis::cmd("GET")
                .arg(&redis_key)
                .query_async(&mut conn)
                .await;
            match got {
                Ok(Some(body)) => {
                    lk.cache_hit();
                    return Ok(body);
                }
                Ok(None) => write_back = Some(conn),
                Err(error) => {
                    tracing::warn!(%error, "Redis read failed, searching PostgreSQL");
                    self.redis.report_failure(&error);
                }
            }
        }
        lk.cache_miss();
        lk.sql_statement();
        let offset = i64::from(page - 1) * PAGE_SIZE as i64;
        // One statement: the total and the page's items (as one JSON array) in one row,
        // so a page past the end still knows the total.
        let (total, items): (i64, String) = sqlx::query_as(
            "WITH q AS (SELECT websearch_to_tsquery('english', $2) AS q),
                  hits AS (
                      SELECT s.item, s.name, s.product_id, ts_rank(s.tsv, q.q) AS rank
                      FROM rm_search s, q
                      WHERE s.rm_version = $1 AND s.tsv @@ q.q
                  ),
                  page AS (
                      SELECT item, name, product_id, rank FROM hits
                      ORDER BY rank DESC, name, product_id
                      LIMIT $3 OFFSET $4
                  )
             SELECT (SELECT count(*) FROM hits),
                    COALESCE((SELECT json_agg(item ORDER BY rank DESC, name, product_id) FROM page), '[]'::json)::text",
        )
        .bind(live.version())
        .bind(query)
        .bind(PAGE_SIZE as i64)
        .bind(offset)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        let body = search_page(query, page, total, &items).into_bytes();
        if let Some(mut conn) = write_back {
            lk.redis_command();
            let set: RedisResult<()> = redis::cmd("SET")
                .arg(&redis_key)
                .arg(&body)
                .arg("EX")
                .arg(self.search_ttl_secs)
                .query_async(&mut conn)
                .await;
            if let Err(error) = set {
                tracing::warn!(%error, "Redis search write-back failed");
                self.redis.report_failure(&error);
            }
        }
        Ok(body)
    }
}

/// `HMGET key rev doc`: each field absent when the key is.
type RevAndDoc = (Option<Vec<u8>>, Option<Vec<u8>>);

fn parse_rev(raw: &[u8]) -> Option<i64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// The search page document; `items` is already a JSON array of list items.
fn search_page(query: &str, page: u32, total: i64, items: &str) -> String {
    let pages = (total + PAGE_SIZE as i64 - 1) / PAGE_SIZE as i64;
    let query = serde_json::Value::from(query);
    format!(
        r#"{{"query":{query},"page":{page},"page_size":{PAGE_SIZE},"total":{total},"pages":{pages},"items":{items}}}"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_page_is_valid_json_with_its_counts() {
        let page = search_page("travel \"camera\"", 2, 21, "[]");
        let v: serde_json::Value = serde_json::from_str(&page).unwrap();
        assert_eq!(v["query"], "travel \"camera\"");
        assert_eq!(v["pages"], 2);
        assert_eq!(v["total"], 21);
        assert_eq!(v["items"], serde_json::json!([]));
    }

    #[test]
    fn stream_version_reads_the_top_level_version() {
        let doc = Found::Doc {
            rev: 1,
            body: br#"{"id":"x","version":7,"items":[{"version":99}]}"#.to_vec(),
        };
        assert_eq!(doc.stream_version(), 7);
        assert_eq!(Found::Absent.stream_version(), 0);
    }
}
