//! Who depends on whom, from `rm_entities`' lookup columns: the products of a category,
//! the carts holding a product, the products bought together (the documents an event
//! reaches beyond its own stream).

use std::collections::BTreeMap;

use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::StreamId;

/// The entity ids of `stream_id` rows (`product-{id}` → id).
fn entity_ids(rows: Vec<(String,)>) -> Vec<Uuid> {
    rows.into_iter()
        .filter_map(|(s,)| s.parse::<StreamId>().ok())
        .map(|s| s.id())
        .collect()
}

/// Ids of the products in the given categories.
pub async fn products_in(
    tx: &mut PgConnection,
    version: i32,
    categories: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    entities_where(
        tx,
        version,
        "kind = 'product' AND category_id = ANY($2)",
        categories,
    )
    .await
}

/// Session ids of the carts holding any of `products`.
pub async fn carts_with(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    entities_where(tx, version, "kind = 'cart' AND product_ids && $2", products).await
}

/// The entity ids of the rows of `version` matching `filter` (`$2` is `ids`); none for
/// no ids.
async fn entities_where(
    tx: &mut PgConnection,
    version: i32,
    filter: &str,
    ids: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let sql = format!("SELECT stream_id FROM rm_entities WHERE rm_version = $1 AND {filter}");
    let rows: Vec<(String,)> = sqlx::query_as(&sql)
        .bind(version)
        .bind(ids)
        .fetch_all(&mut *tx)
        .await?;
    Ok(entity_ids(rows))
}

/// Every product in an order together with any of `products`.
pub async fn co_purchased(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<Vec<Uuid>> {
    if products.is_empty() {
        return Ok(vec![]);
    }
    let ids: Vec<(Uuid,)> = sqlx::query_as(
        "SELECT DISTINCT unnest(product_ids) FROM rm_entities
         WHERE rm_version = $1 AND kind = 'order' AND product_ids && $2",
    )
    .bind(version)
    .bind(products)
    .fetch_all(&mut *tx)
    .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// For each of `products`, in how many orders it was bought together with each other
/// product. Orders count as in [`crate::world::Order::counts_for_recommendations`]:
/// every status but cancelled and expired.
pub async fn co_purchase_scores(
    tx: &mut PgConnection,
    version: i32,
    products: &[Uuid],
) -> sqlx::Result<BTreeMap<Uuid, BTreeMap<Uuid, u32>>> {
    let mut scores: BTreeMap<Uuid, BTreeMap<Uuid, u32>> = BTreeMap::new();
    if products.is_empty() {
        return Ok(scores);
    }
    let rows: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
        "SELECT p, other, count(DISTINCT o.stream_id)
         FROM unnest($2::uuid[]) AS p
         JOIN rm_entities o
           ON o.rm_version = $1 AND o.kind = 'order' AND o.product_ids @> ARRAY[p]
          AND coalesce(o.state->>'status', '') NOT IN ('cancelled', 'expired')
         CROSS JOIN LATERAL unnest(o.product_ids) AS other
         WHERE other <> p
         GROUP BY p, other",
    )
    .bind(version)
    .bind(products)
    .fetch_all(&mut *tx)
    .await?;
    for (p, other, n) in rows {
        scores.entry(p).or_default().insert(other, n as u32);
    }
    Ok(scores)
}
