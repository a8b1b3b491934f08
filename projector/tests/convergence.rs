//! Delivery order, duplicates, gaps, stale writers and store outages all end in the
//! same documents as a fresh fold.

mod common;

use common::*;
use projector::store::{self, DocWrite};
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
        store::write_pg_docs(&mut tx, 1, &stale).await.unwrap(),
        0,
        "PostgreSQL refuses the older rev"
    );
    tx.commit().await.unwrap();
    let written =
        store::write_redis_docs(&mut h.redis, &RedisKeys::new(h.prefix.clone(), 1), &stale)
            .await
            .unwrap();
    assert_eq!(written, 0, "Redis refuses the older rev");
    assert_eq!(h.doc(&key).await.unwrap()["name"], "Hiker");
    h.assert_verified().await;
}

#[tokio::test]
async fn a_redis_outage_after_the_postgres_commit_heals_when_the_batch_is_retried() {
    let mut h = Harness::new().await;
    let (cat, p, s) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let recs = vec![
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
    // Redis drops every command: the batch commits to PostgreSQL and then fails, like a
    // crash between the two writes
    let items: Vec<Incoming> = recs.iter().cloned().map(Incoming::Event).collect();
    assert!(
        apply_batch(&h.db.pool, &mut DroppedRedis, &h.prefix, 1, &items)
            .await
            .is_err()
    );
    let redis_has: bool = redis::cmd("EXISTS")
        .arg(format!("{}v1:product:{p}", h.prefix))
        .query_async(&mut h.redis)
        .await
        .unwrap();
    assert!(!redis_has, "nothing reached Redis yet");
    // the retry finds the events applied and writes the documents again
    let report = h.apply(&recs).await;
    assert_eq!((report.applied, report.skipped), (0, 3));
    assert_eq!(
        h.doc(&format!("cart:{s}")).await.unwrap()["total_cents"],
        3600
    );
    h.assert_verified().await;
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
