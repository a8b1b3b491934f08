//! Each event type's effect on the documents it touches, through both stores.

use crate::helpers::*;
use serde_json::json;
use uuid::Uuid;
use vitrine_contract::Event;

#[tokio::test]
async fn product_doc_shows_category_price_stock_status_and_image() {
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let mut recs = vec![
        h.record(category(cat, "Cameras", None)).await,
        h.record(product(p, "Travel Camera", 12_900, cat, 10)).await,
    ];
    h.apply(&recs).await;
    let doc = h.doc(&format!("product:{p}")).await.expect("product doc");
    assert_eq!(doc["id"], json!(p));
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["name"], "Travel Camera");
    assert_eq!(doc["slug"], "travel-camera");
    assert_eq!(doc["description"], "All about Travel Camera");
    assert_eq!(doc["price_cents"], 12_900);
    assert_eq!(doc["currency"], "EUR");
    assert_eq!(
        doc["category"],
        json!({"id": cat, "name": "Cameras", "slug": "cameras"})
    );
    assert_eq!(doc["stock"], 10);
    assert_eq!(doc["stock_status"], "in_stock");
    assert_eq!(doc["image_url"], format!("https://img.example/{p}.jpg"));
    assert_eq!(
        doc["attributes"],
        json!({"a": {"b": [1, 2], "y": true}, "z": 1})
    );

    recs.clear();
    recs.push(
        h.record(Event::StockAdjusted {
            product_id: p,
            delta: -7,
            stock: 3,
        })
        .await,
    );
    h.apply(&recs).await;
    let doc = h.doc(&format!("product:{p}")).await.unwrap();
    assert_eq!(
        (
            doc["version"].clone(),
            doc["stock"].clone(),
            doc["stock_status"].clone()
        ),
        (json!(2), json!(3), json!("low_stock"))
    );

    let order = Uuid::now_v7();
    let r = h
        .record(Event::StockReserved {
            product_id: p,
            order_id: order,
            quantity: 3,
            stock: 0,
        })
        .await;
    h.apply(&[r]).await;
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["stock_status"],
        "out_of_stock"
    );
    let r = h
        .record(Event::StockReleased {
            product_id: p,
            order_id: order,
            quantity: 3,
            stock: 3,
        })
        .await;
    h.apply(&[r]).await;
    assert_eq!(h.doc(&format!("product:{p}")).await.unwrap()["stock"], 3);

    let mut upd = update(p);
    if let Event::ProductUpdated {
        name,
        price_cents,
        image,
        ..
    } = &mut upd
    {
        *name = Some("Pocket Camera".into());
        *price_cents = Some(9_900);
        *image = Some("https://img.example/new.jpg".into());
    }
    let r = h.record(upd).await;
    h.apply(&[r]).await;
    let doc = h.doc(&format!("product:{p}")).await.unwrap();
    assert_eq!(doc["name"], "Pocket Camera");
    assert_eq!(doc["price_cents"], 9_900);
    assert_eq!(doc["image_url"], "https://img.example/new.jpg");
    assert_eq!(doc["version"], 5);

    let r = h.record(Event::ProductDiscontinued { product_id: p }).await;
    h.apply(&[r]).await;
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["stock_status"],
        "discontinued"
    );
    let listed = h.doc("products:all:name:1").await.unwrap();
    assert_eq!(listed["total"], 0, "discontinued products are not listed");
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_search WHERE rm_version = 1")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(found, 0, "discontinued products leave the search index");
    h.assert_verified().await;
}

#[tokio::test]
async fn a_product_arriving_before_its_category_gets_it_when_the_category_arrives() {
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let c = h.record(category(cat, "Lenses", None)).await;
    let pr = h.record(product(p, "Wide Lens", 50_000, cat, 2)).await;
    h.apply(&[pr]).await;
    let doc = h.doc(&format!("product:{p}")).await.unwrap();
    assert_eq!(doc["category"], json!(null));
    assert_eq!(doc["stock_status"], "low_stock");
    let all = h.doc("products:all:name:1").await.unwrap();
    assert_eq!(all["items"][0]["category_slug"], json!(null));
    assert!(
        h.doc("products:lenses:name:1").await.is_none(),
        "no category list before the category"
    );

    h.apply(&[c]).await;
    let doc = h.doc(&format!("product:{p}")).await.unwrap();
    assert_eq!(doc["category"]["name"], "Lenses");
    let list = h.doc("products:lenses:price:1").await.unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["items"][0],
        json!({
            "id": p, "slug": "wide-lens", "name": "Wide Lens", "price_cents": 50_000, "currency": "EUR",
            "image_url": format!("https://img.example/{p}.jpg"), "stock_status": "low_stock", "category_slug": "lenses"
        })
    );
    assert_eq!(
        h.doc("products:all:name:1").await.unwrap()["items"][0]["category_slug"],
        "lenses"
    );
    let tree = h.doc("categories").await.unwrap();
    assert_eq!(
        tree,
        json!({"categories": [{"id": cat, "name": "Lenses", "slug": "lenses", "parent_id": null, "children": []}]})
    );
    h.assert_verified().await;
}

#[tokio::test]
async fn a_category_rename_reaches_every_product_doc_list_page_and_the_tree() {
    let mut h = Harness::new().await;
    let (root, cat) = (Uuid::now_v7(), Uuid::now_v7());
    let mut recs = vec![
        h.record(category(root, "Photo", None)).await,
        h.record(category(cat, "Cameras", Some(root))).await,
    ];
    let mut ids = Vec::new();
    for i in 0..25 {
        let p = Uuid::now_v7();
        ids.push(p);
        recs.push(
            h.record(product(p, &format!("Camera {i:02}"), 1000 + i, cat, 10))
                .await,
        );
    }
    h.apply(&recs).await;
    let r = h
        .record(Event::CategoryRenamed {
            category_id: cat,
            name: "Digital Cameras".into(),
        })
        .await;
    h.apply(&[r]).await;
    for p in &ids {
        assert_eq!(
            h.doc(&format!("product:{p}")).await.unwrap()["category"]["name"],
            "Digital Cameras"
        );
    }
    for sort in ["name", "price", "-price", "newest"] {
        let p1 = h.doc(&format!("products:cameras:{sort}:1")).await.unwrap();
        let p2 = h.doc(&format!("products:cameras:{sort}:2")).await.unwrap();
        assert_eq!(
            (
                p1["total"].clone(),
                p1["pages"].clone(),
                p1["items"].as_array().unwrap().len()
            ),
            (json!(25), json!(2), 20)
        );
        assert_eq!(p2["items"].as_array().unwrap().len(), 5);
    }
    let tree = h.doc("categories").await.unwrap();
    assert_eq!(
        tree["categories"][0]["children"][0]["name"],
        "Digital Cameras"
    );
    let hits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rm_search WHERE rm_version = 1 AND tsv @@ plainto_tsquery('english', 'digital')",
    )
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        hits, 25,
        "search finds products by their category's new name"
    );
    h.assert_verified().await;
}

#[tokio::test]
async fn a_price_change_reorders_list_pages_and_emptied_pages_become_tombstones() {
    let mut h = Harness::new().await;
    let cat = Uuid::now_v7();
    let mut recs = vec![h.record(category(cat, "Bags", None)).await];
    let mut ids = Vec::new();
    for i in 0..21 {
        let p = Uuid::now_v7();
        ids.push(p);
        recs.push(
            h.record(product(p, &format!("Bag {i:02}"), 100 * (i + 1), cat, 10))
                .await,
        );
    }
    h.apply(&recs).await;
    let cheap = h.doc("products:bags:price:1").await.unwrap();
    assert_eq!(cheap["items"][0]["id"], json!(ids[0]));
    assert_eq!(
        h.doc("products:bags:-price:1").await.unwrap()["items"][0]["id"],
        json!(ids[20])
    );
    assert_eq!(
        h.doc("products:bags:newest:1").await.unwrap()["items"][0]["id"],
        json!(ids[20])
    );

    let mut upd = update(ids[0]);
    if let Event::ProductUpdated { price_cents, .. } = &mut upd {
        *price_cents = Some(1_000_000);
    }
    let r = h.record(upd).await;
    h.apply(&[r]).await;
    assert_eq!(
        h.doc("products:bags:price:1").await.unwrap()["items"][0]["id"],
        json!(ids[1])
    );
    assert_eq!(
        h.doc("products:bags:-price:1").await.unwrap()["items"][0]["id"],
        json!(ids[0])
    );
    assert_eq!(
        h.doc("products:bags:price:2").await.unwrap()["items"][0]["id"],
        json!(ids[0])
    );

    let r = h
        .record(Event::ProductDiscontinued { product_id: ids[3] })
        .await;
    h.apply(&[r]).await;
    assert_eq!(h.doc("products:bags:name:1").await.unwrap()["pages"], 1);
    assert!(
        h.doc("products:bags:name:2").await.is_none(),
        "page 2 is a tombstone"
    );
    assert!(h.doc("products:all:price:2").await.is_none());
    h.assert_verified().await;
}

#[tokio::test]
async fn carts_show_current_names_and_prices_and_empty_on_checkout() {
    let mut h = Harness::new().await;
    let (cat, a, b, session) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let mut recs = vec![
        h.record(category(cat, "Misc", None)).await,
        h.record(product(a, "Mug", 800, cat, 50)).await,
        h.record(product(b, "Tea", 450, cat, 50)).await,
    ];
    recs.push(
        h.record(Event::CartItemAdded {
            session_id: session,
            product_id: a,
            added: 2,
            quantity: 2,
        })
        .await,
    );
    recs.push(
        h.record(Event::CartItemAdded {
            session_id: session,
            product_id: b,
            added: 1,
            quantity: 1,
        })
        .await,
    );
    recs.push(
        h.record(Event::CartItemAdded {
            session_id: session,
            product_id: b,
            added: 2,
            quantity: 3,
        })
        .await,
    );
    h.apply(&recs).await;
    let cart = h.doc(&format!("cart:{session}")).await.unwrap();
    assert_eq!(
        cart,
        json!({
            "id": session, "session_id": session, "version": 3,
            "lines": [
                {"product_id": a, "name": "Mug", "unit_price_cents": 800, "currency": "EUR", "quantity": 2, "line_total_cents": 1600},
                {"product_id": b, "name": "Tea", "unit_price_cents": 450, "currency": "EUR", "quantity": 3, "line_total_cents": 1350}
            ],
            "total_cents": 2950, "currency": "EUR", "item_count": 5
        })
    );

    let mut upd = update(a);
    if let Event::ProductUpdated {
        name, price_cents, ..
    } = &mut upd
    {
        *name = Some("Big Mug".into());
        *price_cents = Some(1000);
    }
    let r = h.record(upd).await;
    h.apply(&[r]).await;
    let cart = h.doc(&format!("cart:{session}")).await.unwrap();
    assert_eq!(cart["lines"][0]["name"], "Big Mug");
    assert_eq!(cart["total_cents"], 3350);

    let recs = vec![
        h.record(Event::CartItemQuantitySet {
            session_id: session,
            product_id: b,
            quantity: 1,
        })
        .await,
        h.record(Event::CartItemRemoved {
            session_id: session,
            product_id: a,
        })
        .await,
    ];
    h.apply(&recs).await;
    let cart = h.doc(&format!("cart:{session}")).await.unwrap();
    assert_eq!(
        (
            cart["item_count"].clone(),
            cart["total_cents"].clone(),
            cart["version"].clone()
        ),
        (json!(1), json!(450), json!(5))
    );

    let r = h
        .record(Event::CartCheckedOut {
            session_id: session,
            order_id: Uuid::now_v7(),
        })
        .await;
    h.apply(&[r]).await;
    let cart = h.doc(&format!("cart:{session}")).await.unwrap();
    assert_eq!(cart["lines"], json!([]));
    assert_eq!(cart["total_cents"], 0);
    h.assert_verified().await;
}

#[tokio::test]
async fn orders_follow_their_status_and_placed_orders_drive_recommendations() {
    let mut h = Harness::new().await;
    let cat = Uuid::now_v7();
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let session = Uuid::now_v7();
    let (o1, o2, o3) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let recs = vec![
        h.record(category(cat, "Kitchen", None)).await,
        h.record(product(a, "Pan", 3000, cat, 50)).await,
        h.record(product(b, "Lid", 900, cat, 50)).await,
        h.record(product(c, "Spoon", 200, cat, 50)).await,
        h.record(placed(
            o1,
            session,
            vec![line(a, "Pan", 3000, 1), line(b, "Lid", 900, 1)],
        ))
        .await,
        h.record(placed(
            o2,
            session,
            vec![
                line(a, "Pan", 3000, 1),
                line(b, "Lid", 900, 2),
                line(c, "Spoon", 200, 1),
            ],
        ))
        .await,
        h.record(placed(
            o3,
            Uuid::now_v7(),
            vec![line(a, "Pan", 3000, 1), line(c, "Spoon", 200, 1)],
        ))
        .await,
    ];
    h.apply(&recs).await;
    let order = h.doc(&format!("order:{o1}")).await.unwrap();
    assert_eq!(order["status"], "placed");
    assert_eq!(order["session_id"], json!(session));
    assert_eq!(order["version"], 1);
    assert_eq!(order["total_cents"], 3900);
    assert_eq!(order["lines"][1]["name"], "Lid");
    assert_eq!(order["payment_reference"], json!(null));
    assert!(order["placed_at"].as_str().unwrap().ends_with('Z'));
    let recs_a = h.doc(&format!("recs:{a}")).await.unwrap();
    assert_eq!(recs_a["items"][0]["score"], 2);
    let mut scored: Vec<(String, i64)> = recs_a["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_owned(),
                i["score"].as_i64().unwrap(),
            )
        })
        .collect();
    scored.sort();
    assert_eq!(scored, vec![("Lid".to_owned(), 2), ("Spoon".to_owned(), 2)]);
    assert_eq!(
        h.doc(&format!("recs:{b}")).await.unwrap()["items"][0],
        json!({
            "id": a, "name": "Pan", "price_cents": 3000, "currency": "EUR", "image_url": format!("https://img.example/{a}.jpg"), "score": 2
        })
    );

    let recs = vec![
        h.record(Event::OrderPaid {
            order_id: o1,
            payment_reference: "PAY-1".into(),
        })
        .await,
        h.record(Event::OrderShipped { order_id: o1 }).await,
        h.record(Event::OrderCancelled { order_id: o3 }).await,
    ];
    h.apply(&recs).await;
    let order = h.doc(&format!("order:{o1}")).await.unwrap();
    assert_eq!(
        (
            order["status"].clone(),
            order["payment_reference"].clone(),
            order["version"].clone()
        ),
        (json!("shipped"), json!("PAY-1"), json!(3))
    );
    assert_eq!(
        h.doc(&format!("order:{o3}")).await.unwrap()["status"],
        "cancelled"
    );
    let mine = h.doc(&format!("orders:{session}")).await.unwrap();
    let ids: Vec<_> = mine["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(o2), json!(o1)], "newest first");
    assert_eq!(mine["orders"][1]["status"], "shipped");
    let recs_a = h.doc(&format!("recs:{a}")).await.unwrap();
    assert_eq!(
        recs_a["items"][0],
        json!({"id": b, "name": "Lid", "price_cents": 900, "currency": "EUR",
        "image_url": format!("https://img.example/{b}.jpg"), "score": 2})
    );
    assert_eq!(
        recs_a["items"][1]["score"], 1,
        "a cancelled order no longer counts"
    );

    let mut upd = update(b);
    if let Event::ProductUpdated { name, .. } = &mut upd {
        *name = Some("Glass Lid".into());
    }
    let r = h.record(upd).await;
    h.apply(&[r]).await;
    assert_eq!(
        h.doc(&format!("recs:{a}")).await.unwrap()["items"][0]["name"],
        "Glass Lid"
    );
    h.assert_verified().await;
}

#[tokio::test]
async fn an_order_document_shows_its_payment_state_and_an_expired_order_stops_counting() {
    let mut h = Harness::new().await;
    let cat = Uuid::now_v7();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let session = Uuid::now_v7();
    let (o1, o2) = (Uuid::now_v7(), Uuid::now_v7());
    let pay_by = chrono::DateTime::parse_from_rfc3339("2030-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut first = placed(o1, session, vec![line(a, "Pan", 3000, 1)]);
    if let Event::OrderPlaced { pay_by: due, .. } = &mut first {
        *due = Some(pay_by);
    }
    let recs = vec![
        h.record(category(cat, "Kitchen", None)).await,
        h.record(product(a, "Pan", 3000, cat, 50)).await,
        h.record(product(b, "Lid", 900, cat, 50)).await,
        h.record(first).await,
        h.record(placed(
            o2,
            session,
            vec![line(a, "Pan", 3000, 1), line(b, "Lid", 900, 1)],
        ))
        .await,
    ];
    h.apply(&recs).await;
    let order = h.doc(&format!("order:{o1}")).await.unwrap();
    assert_eq!(
        (order["payment_status"].clone(), order["pay_by"].clone()),
        (json!("none"), json!("2030-01-02T03:04:05Z"))
    );
    assert_eq!(
        h.doc(&format!("recs:{a}")).await.unwrap()["items"][0]["score"],
        1
    );

    let started = |intent: &str| Event::PaymentStarted {
        order_id: o1,
        intent_id: intent.into(),
        amount_cents: 3000,
        currency: "EUR".into(),
    };
    let r = h.record(started("pi_1")).await;
    h.apply(&[r]).await;
    let doc = h.doc(&format!("order:{o1}")).await.unwrap();
    assert_eq!(
        (doc["status"].clone(), doc["payment_status"].clone()),
        (json!("placed"), json!("pending"))
    );
    let r = h
        .record(Event::PaymentFailed {
            order_id: o1,
            intent_id: "pi_1".into(),
            reason: "card_declined".into(),
        })
        .await;
    h.apply(&[r]).await;
    assert_eq!(
        h.doc(&format!("order:{o1}")).await.unwrap()["payment_status"],
        "failed"
    );
    let recs = vec![
        h.record(started("pi_2")).await,
        h.record(Event::OrderPaid {
            order_id: o1,
            payment_reference: "pi_2".into(),
        })
        .await,
        h.record(Event::OrderExpired { order_id: o2 }).await,
    ];
    h.apply(&recs).await;
    let doc = h.doc(&format!("order:{o1}")).await.unwrap();
    assert_eq!(
        (
            doc["status"].clone(),
            doc["payment_status"].clone(),
            doc["payment_reference"].clone()
        ),
        (json!("paid"), json!("paid"), json!("pi_2"))
    );
    assert_eq!(
        h.doc(&format!("order:{o2}")).await.unwrap()["status"],
        "expired"
    );
    let mine = h.doc(&format!("orders:{session}")).await.unwrap();
    assert_eq!(mine["orders"][0]["status"], "expired");
    assert_eq!(mine["orders"][1]["payment_status"], "paid");
    let recs_a = h.doc(&format!("recs:{a}")).await.unwrap();
    assert_eq!(
        recs_a["items"],
        json!([]),
        "an expired order is no co-purchase"
    );
    h.assert_verified().await;
}

#[tokio::test]
async fn a_poison_event_is_dead_lettered_and_the_events_after_it_apply() {
    let mut h = Harness::new().await;
    let (cat, p) = (Uuid::now_v7(), Uuid::now_v7());
    let stream = format!("product-{p}");
    let mut recs = vec![
        h.record(category(cat, "Toys", None)).await,
        h.record(product(p, "Kite", 1500, cat, 9)).await,
    ];
    recs.push(
        h.insert_raw(
            &stream,
            2,
            "product_teleported",
            1,
            json!({"product_id": p}),
        )
        .await,
    );
    recs.push(
        h.insert_raw(
            &stream,
            3,
            "stock_adjusted",
            1,
            json!({"product_id": p, "delta": "lots"}),
        )
        .await,
    );
    recs.push(
        h.record(Event::StockAdjusted {
            product_id: p,
            delta: 1,
            stock: 10,
        })
        .await,
    );
    let report = h.apply(&recs).await;
    assert_eq!(report.dead_letters, 2);
    let letters: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT position, stream_id, event_type FROM rm_dead_letters ORDER BY position",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        letters,
        vec![
            (
                recs[2].position,
                stream.clone(),
                "product_teleported".into()
            ),
            (recs[3].position, stream.clone(), "stock_adjusted".into()),
        ]
    );
    let doc = h.doc(&format!("product:{p}")).await.unwrap();
    assert_eq!(
        (doc["stock"].clone(), doc["version"].clone()),
        (json!(10), json!(4))
    );
    // redelivery records nothing twice
    h.apply(&recs).await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_dead_letters")
        .fetch_one(&h.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 2);
    h.assert_verified().await;
}

#[tokio::test]
async fn cached_searches_are_retired_by_catalog_changes_but_not_by_stock_that_keeps_its_status() {
    let mut h = Harness::new().await;
    let cat = Uuid::now_v7();
    let p = Uuid::now_v7();
    let recs = vec![
        h.record(category(cat, "Cameras", None)).await,
        h.record(product(p, "Travel Camera", 25_000, cat, 100))
            .await,
    ];
    h.apply(&recs).await;
    let generation = |h: &Harness| {
        let pool = h.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT catalog_gen FROM rm_live")
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let before = generation(&h).await;

    // a checkout takes 2 of 100: the stock status stays in_stock, search results stay valid
    let reserved = h
        .record(Event::StockReserved {
            product_id: p,
            order_id: Uuid::now_v7(),
            quantity: 2,
            stock: 98,
        })
        .await;
    h.apply(&[reserved]).await;
    assert_eq!(
        generation(&h).await,
        before,
        "a stock change within a status keeps cached searches"
    );
    assert_eq!(
        h.doc(&format!("product:{p}")).await.unwrap()["stock"],
        json!(98)
    );

    // the last units: the status flips, list items (and search results) show it
    let emptied = h
        .record(Event::StockAdjusted {
            product_id: p,
            delta: -98,
            stock: 0,
        })
        .await;
    h.apply(&[emptied]).await;
    let after_flip = generation(&h).await;
    assert!(
        after_flip > before,
        "a stock status change retires cached searches"
    );

    // a description change alters what a search matches, though no list item shows it
    let described = h
        .record(Event::ProductUpdated {
            product_id: p,
            name: None,
            description: Some("now with a waterproof case".into()),
            price_cents: None,
            currency: None,
            category_id: None,
            image: None,
            attributes: None,
        })
        .await;
    h.apply(&[described]).await;
    assert!(
        generation(&h).await > after_flip,
        "a text change retires cached searches"
    );
    h.assert_verified().await;
}
