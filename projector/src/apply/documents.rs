//! Phase 4: the targets rendered. Loads (after the render locks, so it sees every
//! earlier render's state) exactly what the documents depend on, renders each once with
//! the pure renderers, and collects the search rows; emptied list pages become
//! tombstones.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::PgConnection;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, Sort};

use super::targets::Targets;
use crate::render;
use crate::store;
use crate::store::documents::SearchRow;
use crate::store::entities::RenderNeeds;
use crate::world::ListId;

/// Rendered documents (doc key → bytes, `None` a tombstone) and search-row changes.
#[derive(Default)]
pub struct Rendered {
    pub docs: BTreeMap<String, Option<String>>,
    pub search_upserts: Vec<SearchRow>,
    pub search_deletes: Vec<Uuid>,
}

pub async fn render_targets(
    tx: &mut PgConnection,
    version: i32,
    targets: &Targets,
) -> sqlx::Result<Rendered> {
    let Targets {
        products,
        lists,
        categories_doc,
        carts,
        orders,
        sessions,
        recs,
    } = targets;
    let categories_doc = *categories_doc;
    // Co-purchase scores come from one aggregate over the orders' product ids (GIN
    // indexed), not from loading every order that holds a product.
    let recs_list: Vec<Uuid> = recs.iter().copied().collect();
    let mut scores = store::dependents::co_purchase_scores(&mut *tx, version, &recs_list).await?;
    let candidates: BTreeSet<Uuid> = scores.values().flat_map(|m| m.keys().copied()).collect();
    let needs = RenderNeeds {
        all_products: lists.contains(&ListId::All),
        products: products
            .iter()
            .chain(recs.iter())
            .chain(candidates.iter())
            .copied()
            .collect(),
        product_categories: lists
            .iter()
            .filter_map(|l| match l {
                ListId::Category(c) => Some(*c),
                ListId::All => None,
            })
            .collect(),
        carts: carts.iter().copied().collect(),
        orders: orders.iter().copied().collect(),
        orders_of_sessions: sessions.iter().copied().collect(),
    };
    let view = store::entities::load_render_world(&mut *tx, version, &needs).await?;

    let mut docs: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut search_upserts: Vec<SearchRow> = Vec::new();
    let mut search_deletes: Vec<Uuid> = Vec::new();
    for p in products {
        if let Some(d) = render::product(&view, *p) {
            docs.insert(doc_key::product(*p), Some(d));
        }
        match render::search_row(&view, *p) {
            Some((item, name, description, category)) => {
                search_upserts.push((*p, item, name, description, category))
            }
            None => search_deletes.push(*p),
        }
    }
    for p in recs {
        let scores = scores.remove(p).unwrap_or_default();
        if let Some(d) = render::recommendations_from(&view, *p, scores) {
            docs.insert(doc_key::recommendations(*p), Some(d));
        }
    }
    for list in lists {
        if let Some((slug, pages, rendered)) = render::list_pages(&view, *list) {
            let before = store::documents::list_page_count(&mut *tx, version, &slug).await?;
            for (k, d) in rendered {
                docs.insert(k, Some(d));
            }
            for page in pages + 1..=before {
                for sort in Sort::ALL {
                    docs.insert(doc_key::product_list(&slug, sort, page), None);
                }
            }
            if before != pages {
                store::documents::set_list_page_count(&mut *tx, version, &slug, pages).await?;
            }
        }
    }
    if categories_doc {
        docs.insert(doc_key::categories(), Some(render::categories(&view)));
    }
    for s in carts {
        if let Some(d) = render::cart(&view, *s) {
            docs.insert(doc_key::cart(*s), Some(d));
        }
    }
    for o in orders {
        if let Some(d) = render::order(&view, *o) {
            docs.insert(doc_key::order(*o), Some(d));
        }
    }
    for s in sessions {
        if let Some(d) = render::orders(&view, *s) {
            docs.insert(doc_key::orders(*s), Some(d));
        }
    }

    Ok(Rendered {
        docs,
        search_upserts,
        search_deletes,
    })
}
