//! The rendered documents in PostgreSQL: `rm_docs` (fenced by rev), the revs they get
//! (`rm_rev`), the search rows (`rm_search`) and the page counts of list documents
//! (`rm_list_pages`).

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// How many pages a list had when last rendered.
pub async fn list_page_count(tx: &mut PgConnection, version: i32, list: &str) -> sqlx::Result<u32> {
    let pages: Option<(i32,)> =
        sqlx::query_as("SELECT pages FROM rm_list_pages WHERE rm_version = $1 AND list = $2")
            .bind(version)
            .bind(list)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(pages.map(|(p,)| p.max(0) as u32).unwrap_or(0))
}

pub async fn set_list_page_count(
    tx: &mut PgConnection,
    version: i32,
    list: &str,
    pages: u32,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO rm_list_pages (rm_version, list, pages) VALUES ($1, $2, $3)
         ON CONFLICT (rm_version, list) DO UPDATE SET pages = EXCLUDED.pages",
    )
    .bind(version)
    .bind(list)
    .bind(pages as i32)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A document to write: doc key, rev, bytes (`None`: tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocWrite {
    pub key: String,
    pub rev: i64,
    pub doc: Option<String>,
}

/// `n` fresh revs from `rm_rev`, ascending.
pub async fn next_revs(tx: &mut PgConnection, n: usize) -> sqlx::Result<Vec<i64>> {
    let revs: Vec<(i64,)> = sqlx::query_as("SELECT nextval('rm_rev') FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(&mut *tx)
        .await?;
    let mut revs: Vec<i64> = revs.into_iter().map(|(r,)| r).collect();
    revs.sort_unstable();
    Ok(revs)
}

/// Fenced upsert into `rm_docs`: a row with a higher rev is never replaced. Returns
/// how many rows were written.
#[tracing::instrument(skip_all, fields(docs = docs.len()))]
pub async fn write_pg_docs(
    tx: &mut PgConnection,
    version: i32,
    docs: &[DocWrite],
) -> sqlx::Result<u64> {
    let keys: Vec<&str> = docs.iter().map(|d| d.key.as_str()).collect();
    let revs: Vec<i64> = docs.iter().map(|d| d.rev).collect();
    let bodies: Vec<Option<&str>> = docs.iter().map(|d| d.doc.as_deref()).collect();
    let done = sqlx::query(
        "INSERT INTO rm_docs (rm_version, key, rev, doc)
         SELECT $1, k, r, d FROM unnest($2::text[], $3::int8[], $4::text[]) AS u(k, r, d)
         ON CONFLICT (rm_version, key) DO UPDATE SET rev = EXCLUDED.rev, doc = EXCLUDED.doc
         WHERE rm_docs.rev < EXCLUDED.rev",
    )
    .bind(version)
    .bind(&keys)
    .bind(&revs)
    .bind(&bodies)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// Every non-tombstone document of a version.
pub async fn pg_docs(pool: &PgPool, version: i32) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query_as(
        "SELECT key, doc FROM rm_docs WHERE rm_version = $1 AND doc IS NOT NULL ORDER BY key",
    )
    .bind(version)
    .fetch_all(pool)
    .await
}

/// A search row: product id, list item JSON, name, description, category name.
pub type SearchRow = (Uuid, String, String, String, String);

pub async fn write_search(
    tx: &mut PgConnection,
    version: i32,
    upserts: &[SearchRow],
    deletes: &[Uuid],
) -> sqlx::Result<()> {
    if !deletes.is_empty() {
        sqlx::query("DELETE FROM rm_search WHERE rm_version = $1 AND product_id = ANY($2)")
            .bind(version)
            .bind(deletes)
            .execute(&mut *tx)
            .await?;
    }
    if upserts.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = upserts.iter().map(|r| r.0).collect();
    let items: Vec<&str> = upserts.iter().map(|r| r.1.as_str()).collect();
    let names: Vec<&str> = upserts.iter().map(|r| r.2.as_str()).collect();
    let descriptions: Vec<&str> = upserts.iter().map(|r| r.3.as_str()).collect();
    let categories: Vec<&str> = upserts.iter().map(|r| r.4.as_str()).collect();
    sqlx::query(
        "INSERT INTO rm_search (rm_version, product_id, item, name, tsv)
         SELECT $1, id, item::jsonb, name,
                setweight(to_tsvector('english', name), 'A')
             || setweight(to_tsvector('english', description), 'B')
             || setweight(to_tsvector('english', coalesce(category, '')), 'C')
         FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) AS u(id, item, name, description, category)
         ON CONFLICT (rm_version, product_id) DO UPDATE SET item = EXCLUDED.item, name = EXCLUDED.name, tsv = EXCLUDED.tsv",
    )
    .bind(version)
    .bind(&ids)
    .bind(&items)
    .bind(&names)
    .bind(&descriptions)
    .bind(&categories)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
