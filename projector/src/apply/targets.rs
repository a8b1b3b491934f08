//! Phase 3: what the fold's touches reach. Touches name documents directly (a product,
//! a cart) or through a lookup (the products of a category, the carts holding a
//! product, the products bought with one); the lookups run here, then every document to
//! render is render-locked, so renders of one document are serialized.

use std::collections::BTreeSet;

use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;

use crate::store;
use crate::world::{ListId, Touch};

/// The documents a batch renders.
#[derive(Default)]
pub struct Targets {
    pub products: BTreeSet<Uuid>,
    pub lists: BTreeSet<ListId>,
    pub categories_doc: bool,
    pub carts: BTreeSet<Uuid>,
    pub orders: BTreeSet<Uuid>,
    /// Sessions whose order list is rendered.
    pub sessions: BTreeSet<Uuid>,
    pub recs: BTreeSet<Uuid>,
}

/// Resolves `touches` in read-model `version` and takes the render locks.
pub async fn resolve(
    tx: &mut PgConnection,
    version: i32,
    touches: &BTreeSet<Touch>,
) -> sqlx::Result<Targets> {
    let mut products: BTreeSet<Uuid> = BTreeSet::new();
    let mut lists: BTreeSet<ListId> = BTreeSet::new();
    let mut categories_doc = false;
    let mut carts: BTreeSet<Uuid> = BTreeSet::new();
    let mut orders: BTreeSet<Uuid> = BTreeSet::new();
    let mut sessions: BTreeSet<Uuid> = BTreeSet::new();
    let mut recs: BTreeSet<Uuid> = BTreeSet::new();
    let (mut in_categories, mut carts_with, mut recs_around) = (Vec::new(), Vec::new(), Vec::new());
    for t in touches {
        match *t {
            Touch::Product(p) => {
                products.insert(p);
            }
            Touch::List(l) => {
                lists.insert(l);
            }
            Touch::Categories => categories_doc = true,
            Touch::ProductsIn(c) => in_categories.push(c),
            Touch::Cart(s) => {
                carts.insert(s);
            }
            Touch::CartsWith(p) => carts_with.push(p),
            Touch::Order(o) => {
                orders.insert(o);
            }
            Touch::Orders(s) => {
                sessions.insert(s);
            }
            Touch::Recs(p) => {
                recs.insert(p);
            }
            Touch::RecsAround(p) => {
                recs.insert(p);
                recs_around.push(p);
            }
        }
    }
    products.extend(store::dependents::products_in(&mut *tx, version, &in_categories).await?);
    carts.extend(store::dependents::carts_with(&mut *tx, version, &carts_with).await?);
    recs.extend(store::dependents::co_purchased(&mut *tx, version, &recs_around).await?);

    let mut lock_keys: Vec<String> = Vec::new();
    lock_keys.extend(products.iter().map(|p| doc_key::product(*p)));
    lock_keys.extend(recs.iter().map(|p| doc_key::recommendations(*p)));
    lock_keys.extend(lists.iter().map(|l| match l {
        ListId::All => "list:all".to_owned(),
        ListId::Category(c) => format!("list:{c}"),
    }));
    if categories_doc {
        lock_keys.push(doc_key::categories());
    }
    lock_keys.extend(carts.iter().map(|s| doc_key::cart(*s)));
    lock_keys.extend(orders.iter().map(|o| doc_key::order(*o)));
    lock_keys.extend(sessions.iter().map(|s| doc_key::orders(*s)));
    store::locks::lock_renders(&mut *tx, &lock_keys).await?;

    Ok(Targets {
        products,
        lists,
        categories_doc,
        carts,
        orders,
        sessions,
        recs,
    })
}
