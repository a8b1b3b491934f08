//! Delivery order, duplicates, gaps, stale writers and store outages all end in the
//! same documents as a fresh fold.

use crate::helpers::*;
use projector::store;
use projector::store::documents::DocWrite;
use projector::{apply_batch, Incoming};
use uuid::Uuid;
use vitrine_contract::read_model::RedisKeys;
use vitrine_contract::{Event, RecordedEvent};

/// A little shop history touching every stream kind, with cross-stream dependencies.
async fn history(h: &mut Harness, ids: &Ids) -> Vec<RecordedEvent> {
    let mut recs = vec![
        h.record(category(ids.cats[0], "Outdoor", None)).await,
        h.record(category(ids.cats[1], "Tents", Some(ids.cats[0])))
            .await,
    ];
    for (i, p) in ids.products.iter().enumerate() {
        let cat = ids.cats[i % 2];
        recs.push(
            h.record(product(
                *p,
                &format!("Item {i:02}"),
                500 + (i as i64 * 37) % 300,
                cat,
                8,
            ))
            .await,
        );
    }
    recs.push(
        h.record(Event::CategoryRenamed {
            category_id: ids.cats[1],
            name: "Shelters".into(),
        })
        .await,
    );
    for (i, s) in ids.sessions.iter().enumerate() {
        let (a, b) = (ids.products[i], ids.products[i + 3]);
        recs.push(
            h.record(Event::CartItemAdded {
                session_id: *s,
                product_id: a,
                added: 1,
                quantity: 1,
            })
            .await,
        );
        recs.push(
            h.record(Event::CartItemAdded {
                session_id: *s,
                product_id: b,
                added: 2,
                quantity: 2,
            })
            .await,
        );
        let mut upd = update(a);
        if let Event::ProductUpdated {
            price_cents, name, ..
        } = &mut upd
        {
            *price_cents = Some(999 + i as i64);
            *name = Some(format!("Renamed {i}"));
        }
        recs.push(h.record(upd).await);
        recs.push(
            h.record(Event::CartCheckedOut {
                session_id: *s,
                order_id: ids.orders[i],
            })
            .await,
        );
        recs.push(
            h.record(placed(
                ids.orders[i],
                *s,
                vec![line(a, "x", 999, 1), line(b, "y", 10, 2)],
            ))
            .await,
        );
        recs.push(
            h.record(Event::StockReserved {
                product_id: b,
                order_id: ids.orders[i],
                quantity: 2,
                stock: 6 - 2 * i as i32,
            })
            .await,
        );
    }
    recs.push(
        h.record(Event::OrderPaid {
            order_id: ids.orders[0],
            payment_reference: "P0".into(),
        })
        .await,
    );
    recs.push(
        h.record(Event::OrderCancelled {
            order_id: ids.orders[1],
        })
        .await,
    );
    recs.push(
        h.record(Event::ProductDiscontinued {
            product_id: ids.products[7],
        })
        .await,
    );
    recs
}

struct Ids {
    cats: Vec<Uuid>,
    products: Vec<Uuid>,
    sessions: Vec<Uuid>,
    orders: Vec<Uuid>,
}

fn ids() -> Ids {
    let n = |k| (0..k).map(|_| Uuid::now_v7()).collect::<Vec<_>>();
    Ids {
        cats: n(2),
        products: n(24),
        sessions: n(3),
        orders: n(3),
    }
}

/// A fixed pseudo-random permutation (no rand dependency; reproducible failures).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
}

#[tokio::test]
async fn in_order_duplicated_and_shuffled_deliveries_give_byte_identical_documents() {
    let ids = ids();
    let mut in_order = Harness::new().await;
    let mut duplicated = Harness::new().await;
    let mut shuffled = Harness::new().await;
    let recs = history(&mut in_order, &ids).await;
    history(&mut duplicated, &ids).await;
    let shuffled_recs = history(&mut shuffled, &ids).await;

    for chunk in recs.chunks(7) {
        in_order.apply(chunk).await;
    }
    // every batch twice, and the whole history again at the end
    let dup_recs = duplicated.all_events().await;
    for chunk in dup_recs.chunks(5) {
        duplicated.apply(chunk).await;
        duplicated.apply(chunk).await;
    }
    duplicated.apply(&dup_recs).await;
    // streams interleaved in a shuffled order: later versions often come first (gaps
    // filled from the store), and the earlier ones arrive as duplicates afterwards
    let mut mixed = shuffled_recs.clone();
    shuffle(&mut mixed, 42);
    for chunk in mixed.chunks(6) {
        shuffled.apply(chunk).await;
    }

    let expected = in_order.all_docs().await;
    assert!(
        expected.len() > 60,
        "the history renders many documents ({})",
        expected.len()
    );
    // (positions and timestamps differ between databases: the byte comparison is below)
    assert_eq!(duplicated.all_docs().await.len(), expected.len());
    assert_eq!(shuffled.all_docs().await.len(), expected.len());
    for h in [&in_order, &duplicated, &shuffled] {
        h.assert_verified().await;
    }
    // the same history delivered three ways into one store gives the same bytes: apply
    // the shuffled and duplicated deliveries of `in_order`'s own events into fresh
    // read-model state of the same database and compare byte for byte
    sqlx::query("DELETE FROM rm_entities")
        .execute(&in_order.db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rm_docs")
        .execute(&in_order.db.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM rm_list_pages")
        .execute(&in_order.db.pool)
        .await
        .unwrap();
    let mut mixed = recs.clone();
    shuffle(&mut mixed, 7);
    for chunk in mixed.chunks(4) {
        in_order.apply(chunk).await;
        in_order.apply(&chunk[..1]).await;
    }
    assert_eq!(
        in_order.all_docs().await,
        expected,
        "shuffled + duplicated delivery gives byte-identical docs"
    );
    in_order.assert_verified().await;
}

#[tokio::test]
async fn a_stale_write_with_a_lower_rev_cannot_overwrite_a_newer_document() {
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let recs = vec![
        h.record(category(cat, "Boots", None)).await,
        h.record(product(p, "Hiker", 9000, cat, 4)).await,
    ];
    h.apply(&recs).await;
    let key = format!("product:{p}");
    let (rev,): (i64,) =
        sqlx::query_as("SELECT rev FROM rm_docs WHERE rm_version = 1 AND key = $1")
            .bind(&key)
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    let stale = vec![DocWrite {
        key: key.clone(),
        rev: rev - 1,
        doc: Some("{\"stale\":true}".into()),
    }];
    let mut tx = h.db.pool.begin().await.unwrap();
    assert_eq!(
        store::documents::write_pg_docs(&mut tx, 1, &stale)
            .await
            .unwrap(),
        0,
        "PostgreSQL refuses the older rev"
    );
    tx.commit().await.unwrap();
    let written = store::redis_docs::write_redis_docs(
        &mut h.redis,
        &RedisKeys::new(h.prefix.clone(), 1),
        &stale,
    )
    .await
    .unwrap();
    assert_eq!(written, 0, "Redis refuses the older rev");
    assert_eq!(h.doc(&key).await.unwrap()["name"], "Hiker");
    h.assert_verified().await;
}

#[tokio::test]
async fn a_batch_commits_to_postgres_while_redis_is_down_and_the_owed_writes_are_drained_later() {
    let mut h = Harness::new().await;
    let (cat, p, s) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let recs = [
        h.record(category(cat, "Socks", None)).await,
        h.record(product(p, "Wool Socks", 1200, cat, 40)).await,
        h.record(Event::CartItemAdded {
            session_id: s,
            product_id: p,
            added: 3,
            quantity: 3,
        })
        .await,
    ];
    // Redis drops every command: the batch still commits to PostgreSQL (the fallback
    // readers use) and owes its Redis writes instead of failing
    let items: Vec<Incoming> = recs.iter().cloned().map(Incoming::Event).collect();
    let report = apply_batch(&h.db.pool, &mut DroppedRedis, &h.prefix, 1, &items)
        .await
        .expect("a Redis outage does not fail the batch");
    assert_eq!(report.applied, 3);
    assert!(report.redis_owed > 0);
    let (cart,): (Option<String>,) =
        sqlx::query_as("SELECT doc FROM rm_docs WHERE rm_version = 1 AND key = $1")
            .bind(format!("cart:{s}"))
            .fetch_one(&h.db.pool)
            .await
            .unwrap();
    assert!(cart.unwrap().contains("\"total_cents\":3600"));
    assert_eq!(
        projector::redis_repair::owed_count(&h.db.pool)
            .await
            .unwrap(),
        1
    );
    let redis_has: bool = redis::cmd("EXISTS")
        .arg(format!("{}v1:product:{p}", h.prefix))
        .query_async(&mut h.redis)
        .await
        .unwrap();
    assert!(!redis_has, "nothing reached Redis yet");

    // Redis is back: the drain writes what is owed and the debt is gone
    let settled = projector::redis_repair::drain_owed(&h.db.pool, &mut h.redis, &h.prefix)
        .await
        .unwrap();
    assert_eq!(settled, 1);
    assert_eq!(
        projector::redis_repair::owed_count(&h.db.pool)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.doc(&format!("cart:{s}")).await.unwrap()["total_cents"],
        3600
    );
    h.assert_verified().await;
}

#[tokio::test]
async fn a_redis_that_lost_its_data_is_refilled_from_postgres_with_its_store_marker() {
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let recs = vec![
        h.record(category(cat, "Hats", None)).await,
        h.record(product(p, "Sun Hat", 1500, cat, 4)).await,
    ];
    h.apply(&recs).await;
    let (refilled, _) = projector::redis_repair::repair_once(&h.db.pool, &mut h.redis, &h.prefix)
        .await
        .unwrap();
    assert!(refilled > 0, "no marker yet: the first round fills Redis");
    // Redis restarted empty: every key of the store is gone, the marker too
    let keys = projector::store::redis_docs::scan_keys(&mut h.redis, &format!("{}*", h.prefix))
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut h.redis)
        .await
        .unwrap();
    let (refilled, _) = projector::redis_repair::repair_once(&h.db.pool, &mut h.redis, &h.prefix)
        .await
        .unwrap();
    assert_eq!(refilled as usize, h.all_docs().await.len());
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["name"],
        "Sun Hat"
    );
    h.assert_verified().await;
    // the marker is back: a healthy Redis is not refilled again
    let (refilled, _) = projector::redis_repair::repair_once(&h.db.pool, &mut h.redis, &h.prefix)
        .await
        .unwrap();
    assert_eq!(refilled, 0);
}

/// A Redis connection whose every command fails (the server went away).
struct DroppedRedis;

impl redis::aio::ConnectionLike for DroppedRedis {
    fn req_packed_command<'a>(
        &'a mut self,
        _cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()) })
    }
    fn req_packed_commands<'a>(
        &'a mut self,
        _cmd: &'a redis::Pipeline,
        _offset: usize,
        _count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset).into()) })
    }
    fn get_db(&self) -> i64 {
        0
    }
}

#[tokio::test]
async fn verify_reads_each_kind_of_key_as_what_it_is_and_tells_absent_from_different() {
    let mut h = Harness::new().await;
    let (cat, p, q) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let recs = vec![
        h.record(category(cat, "Lamps", None)).await,
        h.record(product(p, "Desk Lamp", 2500, cat, 3)).await,
        h.record(product(q, "Floor Lamp", 8900, cat, 2)).await,
    ];
    h.apply(&recs).await;
    // what a live store also holds: a cached search page (a string) and a negative-cache
    // entry, both written by query-api
    let _: () = redis::cmd("SET")
        .arg(format!("{}v1:search:3:1:lamp", h.prefix))
        .arg("{\"items\":[]}")
        .query_async(&mut h.redis)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(format!("{}v1:cart:{}", h.prefix, Uuid::now_v7()))
        .arg("rev")
        .arg(0)
        .arg("doc")
        .arg("")
        .query_async(&mut h.redis)
        .await
        .unwrap();
    let options = projector::verify::Options {
        rechecks: 1,
        pause: std::time::Duration::from_millis(10),
        ..Default::default()
    };
    let url = vitrine_testkit::redis_url();
    let report = projector::verify::check(&h.db.pool, &url, &h.prefix, 1, &options)
        .await
        .expect("verify runs on a live store");
    assert!(report.is_clean(), "{report}");
    assert_eq!((report.search_entries, report.absent_entries), (1, 1));

    // a cold cache entry is absent, not different
    let _: () = redis::cmd("DEL")
        .arg(format!("{}v1:product:{p}", h.prefix))
        .query_async(&mut h.redis)
        .await
        .unwrap();
    let report = projector::verify::check(&h.db.pool, &url, &h.prefix, 1, &options)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.kinds["product"].absent_from_redis, 1);

    // a wrong document is different, in the store that holds it
    let _: () = redis::cmd("HSET")
        .arg(format!("{}v1:product:{q}", h.prefix))
        .arg("rev")
        .arg(i64::MAX / 2)
        .arg("doc")
        .arg("{\"name\":\"Wrong\"}")
        .query_async(&mut h.redis)
        .await
        .unwrap();
    let report = projector::verify::check(&h.db.pool, &url, &h.prefix, 1, &options)
        .await
        .unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.differences.len(), 1, "{report}");
    assert_eq!(report.differences[0].key, format!("product:{q}"));
    assert_eq!(report.differences[0].store, "redis");
    assert_eq!(report.kinds["product"].different, 1);

    // a sample checks only that many documents
    let sampled = projector::verify::Options {
        sample: Some(2),
        ..options
    };
    let report = projector::verify::check(&h.db.pool, &url, &h.prefix, 1, &sampled)
        .await
        .unwrap();
    let checked: u64 = report.kinds.values().map(|k| k.checked).sum();
    assert_eq!(checked, 2);
}

#[tokio::test]
async fn a_dead_letter_replayed_after_a_fix_folds_its_stream_again_and_a_discard_keeps_its_reason()
{
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let created = vec![
        h.record(category(cat, "Mugs", None)).await,
        h.record(product(p, "Plain Mug", 900, cat, 10)).await,
    ];
    h.apply(&created).await;
    // what an older projector left behind when it could not apply the rename: the event
    // took its place in the stream (version 2) and a dead letter says why
    let mut renamed = update(p);
    if let Event::ProductUpdated { name, .. } = &mut renamed {
        *name = Some("Striped Mug".into());
    }
    let rec = h.record(renamed).await;
    sqlx::query("UPDATE rm_entities SET version = 2 WHERE rm_version = 1 AND stream_id = $1")
        .bind(&rec.stream_id)
        .execute(&h.db.pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO rm_dead_letters (rm_version, position, stream_id, event_type, error, raw)
         VALUES (1, $1, $2, $3, 'unknown field `name`', '{}')",
    )
    .bind(rec.position)
    .bind(&rec.stream_id)
    .bind(&rec.event_type)
    .execute(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["name"],
        "Plain Mug"
    );
    let open = projector::dead_letters::list(&h.db.pool, Some(1), false)
        .await
        .unwrap();
    assert_eq!(open.len(), 1);

    let done = projector::dead_letters::replay(&h.db.pool, &mut h.redis, &h.prefix, 1, &[])
        .await
        .unwrap();
    assert_eq!(done.replayed, vec![open[0].id]);
    assert!(done.still_open.is_empty());
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["name"],
        "Striped Mug"
    );
    h.assert_verified().await;
    assert!(projector::dead_letters::list(&h.db.pool, Some(1), false)
        .await
        .unwrap()
        .is_empty());

    // a poison message that never was an event can only be discarded, with a reason
    sqlx::query(
        "INSERT INTO rm_dead_letters (rm_version, position, stream_id, event_type, error, raw)
         VALUES (1, -7, '', '', 'not a recorded event', 'garbage')",
    )
    .execute(&h.db.pool)
    .await
    .unwrap();
    let done = projector::dead_letters::replay(&h.db.pool, &mut h.redis, &h.prefix, 1, &[])
        .await
        .unwrap();
    assert_eq!(done.still_open.len(), 1);
    let n = projector::dead_letters::discard(
        &h.db.pool,
        &done.still_open,
        "garbage from a test producer",
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    let all = projector::dead_letters::list(&h.db.pool, Some(1), true)
        .await
        .unwrap();
    let discarded: Vec<_> = all.iter().filter(|l| l.status == "discarded").collect();
    assert_eq!(discarded.len(), 1);
    assert_eq!(
        discarded[0].reason.as_deref(),
        Some("garbage from a test producer")
    );
}
