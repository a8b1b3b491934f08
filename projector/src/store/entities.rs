//! `rm_entities`: the fold's state per stream (locked, loaded into a [`World`], saved
//! back), and the part of it a batch's renders need ([`load_render_world`]). The mapping
//! between entities and rows is `crate::world::stored`.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::StreamId;

use crate::world::World;

/// A row of `rm_entities` as loaded.
pub struct EntityRow {
    pub stream_id: String,
    pub version: i64,
    pub state: Option<Value>,
}

/// Loads `rows` into `world` (unparseable stream ids or states are ignored: they were
/// written by this program, so that cannot happen short of manual edits).
pub fn load_into(world: &mut World, rows: Vec<EntityRow>) {
    for row in rows {
        if let Ok(stream) = row.stream_id.parse::<StreamId>() {
            if let Some(state) = row.state {
                if let Err(e) = world.insert_entity_json(&stream, state) {
                    tracing::warn!(stream = %row.stream_id, error = %e, "stored entity does not decode");
                }
            }
        }
        world.versions.insert(row.stream_id, row.version);
    }
}

fn rows(raw: Vec<(String, i64, Option<Value>)>) -> Vec<EntityRow> {
    raw.into_iter()
        .map(|(stream_id, version, state)| EntityRow {
            stream_id,
            version,
            state,
        })
        .collect()
}

/// Creates missing rows for `streams` and locks them all, in stream order so two
/// instances never deadlock.
#[tracing::instrument(skip_all, fields(streams = streams.len()))]
pub async fn lock_entities(
    tx: &mut PgConnection,
    version: i32,
    streams: &[StreamId],
) -> sqlx::Result<Vec<EntityRow>> {
    let ids: Vec<String> = streams.iter().map(ToString::to_string).collect();
    let kinds: Vec<String> = streams
        .iter()
        .map(|s| s.kind().as_str().to_owned())
        .collect();
    sqlx::query(
        "INSERT INTO rm_entities (rm_version, stream_id, kind, version)
         SELECT $1, s, k, 0 FROM unnest($2::text[], $3::text[]) AS u(s, k) ORDER BY s
         ON CONFLICT (rm_version, stream_id) DO NOTHING",
    )
    .bind(version)
    .bind(&ids)
    .bind(&kinds)
    .execute(&mut *tx)
    .await?;
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND stream_id = ANY($2) ORDER BY stream_id FOR UPDATE",
    )
    .bind(version)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows(raw))
}

/// Every category (a small set; product docs, lists and the tree need them).
pub async fn load_categories(tx: &mut PgConnection, version: i32) -> sqlx::Result<Vec<EntityRow>> {
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities WHERE rm_version = $1 AND kind = 'category'",
    )
    .bind(version)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows(raw))
}

/// Writes the entities of `streams` as they are in `world`.
#[tracing::instrument(skip_all, fields(streams = streams.len()))]
pub async fn save_entities(
    tx: &mut PgConnection,
    version: i32,
    world: &World,
    streams: &[StreamId],
) -> sqlx::Result<()> {
    if streams.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::new();
    let mut kinds = Vec::new();
    let mut versions = Vec::new();
    let mut categories: Vec<Option<Uuid>> = Vec::new();
    let mut sessions: Vec<Option<Uuid>> = Vec::new();
    let mut products = Vec::new();
    let mut states: Vec<Option<String>> = Vec::new();
    for s in streams {
        let id = s.to_string();
        let (category, session, pids) = world.entity_index(s);
        versions.push(world.version_of(&id));
        ids.push(id);
        kinds.push(s.kind().as_str().to_owned());
        categories.push(category);
        sessions.push(session);
        let pids: Vec<String> = pids.iter().map(ToString::to_string).collect();
        products.push(format!("{{{}}}", pids.join(",")));
        states.push(world.entity_json(s).map(|v| v.to_string()));
    }
    sqlx::query(
        "INSERT INTO rm_entities (rm_version, stream_id, kind, version, category_id, session_id, product_ids, state)
         SELECT $1, s, k, v, c, se, p::uuid[], st::jsonb
         FROM unnest($2::text[], $3::text[], $4::int8[], $5::uuid[], $6::uuid[], $7::text[], $8::text[])
              AS u(s, k, v, c, se, p, st)
         ON CONFLICT (rm_version, stream_id) DO UPDATE SET
             version = EXCLUDED.version, category_id = EXCLUDED.category_id,
             session_id = EXCLUDED.session_id, product_ids = EXCLUDED.product_ids, state = EXCLUDED.state",
    )
    .bind(version)
    .bind(&ids)
    .bind(&kinds)
    .bind(&versions)
    .bind(&categories)
    .bind(&sessions)
    .bind(&products)
    .bind(&states)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// What the render step needs loaded.
#[derive(Default, Debug)]
pub struct RenderNeeds {
    pub all_products: bool,
    pub products: Vec<Uuid>,
    pub product_categories: Vec<Uuid>,
    pub carts: Vec<Uuid>,
    pub orders: Vec<Uuid>,
    pub orders_of_sessions: Vec<Uuid>,
}

/// Loads (after the render locks, so it sees every earlier render's state) the part of
/// the world the documents to render depend on.
#[tracing::instrument(skip_all)]
pub async fn load_render_world(
    tx: &mut PgConnection,
    version: i32,
    needs: &RenderNeeds,
) -> sqlx::Result<World> {
    let mut world = World::default();
    load_into(&mut world, load_categories(tx, version).await?);
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND (
             (kind = 'cart' AND stream_id = ANY($2))
          OR (kind = 'order' AND (stream_id = ANY($3) OR session_id = ANY($4))))",
    )
    .bind(version)
    .bind(
        needs
            .carts
            .iter()
            .map(|s| StreamId::cart(*s).to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        needs
            .orders
            .iter()
            .map(|s| StreamId::order(*s).to_string())
            .collect::<Vec<_>>(),
    )
    .bind(&needs.orders_of_sessions)
    .fetch_all(&mut *tx)
    .await?;
    load_into(&mut world, rows(raw));
    // products named by the carts and orders just loaded are needed for their docs
    let mut products: Vec<String> = needs
        .products
        .iter()
        .chain(
            world
                .carts
                .values()
                .flat_map(|c| c.lines.iter().map(|l| &l.product_id)),
        )
        .chain(
            world
                .orders
                .values()
                .flat_map(|o| o.lines.iter().map(|l| &l.product_id)),
        )
        .map(|p| StreamId::product(*p).to_string())
        .collect();
    products.sort_unstable();
    products.dedup();
    let raw = sqlx::query_as::<_, (String, i64, Option<Value>)>(
        "SELECT stream_id, version, state FROM rm_entities
         WHERE rm_version = $1 AND kind = 'product' AND ($2 OR stream_id = ANY($3) OR category_id = ANY($4))",
    )
    .bind(version)
    .bind(needs.all_products)
    .bind(&products)
    .bind(&needs.product_categories)
    .fetch_all(&mut *tx)
    .await?;
    load_into(&mut world, rows(raw));
    Ok(world)
}
