//! Pure renderers: a [`World`] (whole or partially loaded) to document bytes.
//!
//! Documents are serialized from structs (fixed field order) built from ordered maps,
//! so the same state always gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;
use vitrine_contract::read_model::{doc_key, Sort, ALL_PRODUCTS, PAGE_SIZE};
use vitrine_contract::OrderLine;

use crate::world::{ListId, Order, OrderStatus, PaymentStatus, Product, World};

/// Recommendations per product.
pub const RECS_LIMIT: usize = 10;

fn to_string<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[derive(Serialize)]
struct CategoryRef<'a> {
    id: Uuid,
    name: &'a str,
    slug: &'a str,
}

#[derive(Serialize)]
struct ProductDoc<'a> {
    id: Uuid,
    version: i64,
    sku: &'a str,
    slug: &'a str,
    name: &'a str,
    description: &'a str,
    price_cents: i64,
    currency: &'a str,
    category: Option<CategoryRef<'a>>,
    stock: i32,
    stock_status: &'static str,
    image_url: Option<&'a str>,
    attributes: &'a Value,
}

pub fn product(world: &World, id: Uuid) -> Option<String> {
    let p = world.products.get(&id)?;
    let category = world.categories.get(&p.category_id).map(|c| CategoryRef {
        id: c.id,
        name: &c.name,
        slug: &c.slug,
    });
    Some(to_string(&ProductDoc {
        id,
        version: world.version_of(&vitrine_contract::StreamId::product(id).to_string()),
        sku: &p.sku,
        slug: &p.slug,
        name: &p.name,
        description: &p.description,
        price_cents: p.price_cents,
        currency: &p.currency,
        category,
        stock: p.stock,
        stock_status: p.stock_status(),
        image_url: p.image.as_deref(),
        attributes: &p.attributes,
    }))
}

#[derive(Serialize)]
pub struct ListItem<'a> {
    id: Uuid,
    slug: &'a str,
    name: &'a str,
    price_cents: i64,
    currency: &'a str,
    image_url: Option<&'a str>,
    stock_status: &'static str,
    category_slug: Option<&'a str>,
}

pub fn list_item<'a>(world: &'a World, p: &'a Product) -> ListItem<'a> {
    ListItem {
        id: p.id,
        slug: &p.slug,
        name: &p.name,
        price_cents: p.price_cents,
        currency: &p.currency,
        image_url: p.image.as_deref(),
        stock_status: p.stock_status(),
        category_slug: world
            .categories
            .get(&p.category_id)
            .map(|c| c.slug.as_str()),
    }
}

/// The search row of a product: `(item JSON, name, description, category name)`, or
/// `None` when it must not be found (discontinued or unknown).
pub fn search_row(world: &World, id: Uuid) -> Option<(String, String, String, String)> {
    let p = world.products.get(&id).filter(|p| !p.discontinued)?;
    let category = world
        .categories
        .get(&p.category_id)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    Some((
        to_string(&list_item(world, p)),
        p.name.clone(),
        p.description.clone(),
        category,
    ))
}

#[derive(Serialize)]
struct ListPage<'a> {
    category: &'a str,
    sort: &'static str,
    page: u32,
    page_size: usize,
    total: usize,
    pages: u32,
    items: Vec<ListItem<'a>>,
}

/// The slug a list is keyed by, if the list can exist yet (a category must be known).
pub fn list_slug(world: &World, list: ListId) -> Option<String> {
    match list {
        ListId::All => Some(ALL_PRODUCTS.to_owned()),
        ListId::Category(c) => world.categories.get(&c).map(|c| c.slug.clone()),
    }
}

/// A list's rendered pages: `(slug, page count, [(doc key, doc)])`.
pub type ListPages = (String, u32, Vec<(String, String)>);

/// Every page of every sort of one list.
/// Discontinued products are not listed; a product of an unknown category is in `all` only.
pub fn list_pages(world: &World, list: ListId) -> Option<ListPages> {
    let slug = list_slug(world, list)?;
    let mut members: Vec<&Product> = world
        .products
        .values()
        .filter(|p| !p.discontinued)
        .filter(|p| match list {
            ListId::All => true,
            ListId::Category(c) => p.category_id == c,
        })
        .collect();
    let total = members.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1) as u32;
    let mut docs = Vec::with_capacity(pages as usize * 4);
    for sort in Sort::ALL {
        match sort {
            Sort::Name => members.sort_by(|a, b| {
                (a.name.to_lowercase(), &a.name, a.id).cmp(&(b.name.to_lowercase(), &b.name, b.id))
            }),
            Sort::Price => members.sort_by_key(|p| (p.price_cents, p.id)),
            Sort::PriceDesc => members.sort_by_key(|p| (std::cmp::Reverse(p.price_cents), p.id)),
            Sort::Newest => members.sort_by_key(|p| (std::cmp::Reverse(p.created_position), p.id)),
        }
        for page in 1..=pages {
            let items = members
                .iter()
                .skip((page as usize - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .map(|p| list_item(world, p))
                .collect();
            let doc = to_string(&ListPage {
                category: &slug,
                sort: sort.as_str(),
                page,
                page_size: PAGE_SIZE,
                total,
                pages,
                items,
            });
            docs.push((doc_key::product_list(&slug, sort, page), doc));
        }
    }
    Some((slug, pages, docs))
}

#[derive(Serialize)]
struct CategoryNode {
    id: Uuid,
    name: String,
    slug: String,
    parent_id: Option<Uuid>,
    children: Vec<CategoryNode>,
}

/// The category tree, siblings sorted by name. A category whose parent is not known
/// (yet) is shown as a root.
pub fn categories(world: &World) -> String {
    let mut children: BTreeMap<Option<Uuid>, Vec<Uuid>> = BTreeMap::new();
    for c in world.categories.values() {
        let parent = c
            .parent_id
            .filter(|p| world.categories.contains_key(p) && *p != c.id);
        children.entry(parent).or_default().push(c.id);
    }
    fn build(
        world: &World,
        children: &BTreeMap<Option<Uuid>, Vec<Uuid>>,
        parent: Option<Uuid>,
        depth: usize,
    ) -> Vec<CategoryNode> {
        let mut nodes: Vec<CategoryNode> = children
            .get(&parent)
            .map(|ids| {
                ids.iter()
                    .filter_map(|id| world.categories.get(id))
                    .map(|c| CategoryNode {
                        id: c.id,
                        name: c.name.clone(),
                        slug: c.slug.clone(),
                        parent_id: c.parent_id,
                        // depth bound: a parent cycle must not recurse forever
                        children: if depth < 32 {
                            build(world, children, Some(c.id), depth + 1)
                        } else {
                            vec![]
                        },
                    })
                    .collect()
            })
            .unwrap_or_default();
        nodes.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        nodes
    }
    #[derive(Serialize)]
    struct Tree {
        categories: Vec<CategoryNode>,
    }
    to_string(&Tree {
        categories: build(world, &children, None, 0),
    })
}

#[derive(Serialize)]
struct CartLineDoc<'a> {
    product_id: Uuid,
    name: &'a str,
    unit_price_cents: i64,
    currency: &'a str,
    quantity: i32,
    line_total_cents: i64,
}

#[derive(Serialize)]
struct CartDoc<'a> {
    id: Uuid,
    session_id: Uuid,
    version: i64,
    lines: Vec<CartLineDoc<'a>>,
    total_cents: i64,
    currency: Option<&'a str>,
    item_count: i64,
}

/// A cart priced with its products' current names and prices. A line whose product is
/// not known yet is left out until the product arrives (which re-renders the cart).
pub fn cart(world: &World, session_id: Uuid) -> Option<String> {
    let cart = world.carts.get(&session_id)?;
    let lines: Vec<CartLineDoc> = cart
        .lines
        .iter()
        .filter_map(|l| {
            let p = world.products.get(&l.product_id)?;
            Some(CartLineDoc {
                product_id: p.id,
                name: &p.name,
                unit_price_cents: p.price_cents,
                currency: &p.currency,
                quantity: l.quantity,
                line_total_cents: p.price_cents * i64::from(l.quantity),
            })
        })
        .collect();
    Some(to_string(&CartDoc {
        id: session_id,
        session_id,
        version: world.version_of(&vitrine_contract::StreamId::cart(session_id).to_string()),
        total_cents: lines.iter().map(|l| l.line_total_cents).sum(),
        currency: lines.first().map(|l| l.currency),
        item_count: lines.iter().map(|l| i64::from(l.quantity)).sum(),
        lines,
    }))
}

#[derive(Serialize)]
struct OrderDoc<'a> {
    id: Uuid,
    session_id: Uuid,
    version: i64,
    status: OrderStatus,
    lines: &'a [OrderLine],
    total_cents: i64,
    currency: &'a str,
    payment_status: PaymentStatus,
    payment_reference: Option<&'a str>,
    pay_by: Option<&'a str>,
    placed_at: &'a str,
}

pub fn order(world: &World, id: Uuid) -> Option<String> {
    let o = world.orders.get(&id)?;
    Some(to_string(&OrderDoc {
        id,
        session_id: o.session_id,
        version: world.version_of(&vitrine_contract::StreamId::order(id).to_string()),
        status: o.status,
        lines: &o.lines,
        total_cents: o.total_cents,
        currency: &o.currency,
        payment_status: o.payment_status,
        payment_reference: o.payment_reference.as_deref(),
        pay_by: o.pay_by.as_deref(),
        placed_at: &o.placed_at,
    }))
}

#[derive(Serialize)]
struct OrderSummary<'a> {
    id: Uuid,
    status: OrderStatus,
    payment_status: PaymentStatus,
    total_cents: i64,
    currency: &'a str,
    placed_at: &'a str,
}

#[derive(Serialize)]
struct OrdersDoc<'a> {
    session_id: Uuid,
    orders: Vec<OrderSummary<'a>>,
}

/// The orders of a session, newest first.
pub fn orders(world: &World, session_id: Uuid) -> Option<String> {
    let mine: Vec<&Order> = world
        .orders
        .values()
        .filter(|o| o.session_id == session_id)
        .collect();
    orders_doc(session_id, mine)
}

/// The orders document of one session from its orders (`None` when it has none).
fn orders_doc(session_id: Uuid, mut mine: Vec<&Order>) -> Option<String> {
    if mine.is_empty() {
        return None;
    }
    mine.sort_by_key(|o| (std::cmp::Reverse(o.placed_position), o.id));
    Some(to_string(&OrdersDoc {
        session_id,
        orders: mine
            .into_iter()
            .map(|o| OrderSummary {
                id: o.id,
                status: o.status,
                payment_status: o.payment_status,
                total_cents: o.total_cents,
                currency: &o.currency,
                placed_at: &o.placed_at,
            })
            .collect(),
    }))
}

#[derive(Serialize)]
struct RecItem<'a> {
    id: Uuid,
    name: &'a str,
    price_cents: i64,
    currency: &'a str,
    image_url: Option<&'a str>,
    score: u32,
}

#[derive(Serialize)]
struct RecsDoc<'a> {
    product_id: Uuid,
    items: Vec<RecItem<'a>>,
}

/// Up to [`RECS_LIMIT`] products most often in the same non-cancelled orders as `id`
/// (score = number of such orders, given in `scores`: from [`CoPurchases`] for a whole
/// world, from `store::dependents::co_purchase_scores` on the live path), ties by id; discontinued
/// products are left out. `None` when the product is unknown.
pub fn recommendations_from(
    world: &World,
    id: Uuid,
    scores: BTreeMap<Uuid, u32>,
) -> Option<String> {
    world.products.get(&id)?;
    Some(recs_doc(world, id, scores))
}

/// How often each product was bought together with each other one (non-cancelled,
/// unexpired orders), summed over parts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CoPurchases(pub BTreeMap<Uuid, BTreeMap<Uuid, u32>>);

impl CoPurchases {
    /// Adds the orders of `world`.
    pub fn add(&mut self, world: &World) {
        for o in world
            .orders
            .values()
            .filter(|o| o.counts_for_recommendations())
        {
            let ids: BTreeSet<Uuid> = o.lines.iter().map(|l| l.product_id).collect();
            for a in &ids {
                let row = self.0.entry(*a).or_default();
                for b in ids.iter().filter(|b| *b != a) {
                    *row.entry(*b).or_default() += 1;
                }
            }
        }
    }

    /// The scores of `id`'s partners, taken out.
    pub fn take(&mut self, id: &Uuid) -> BTreeMap<Uuid, u32> {
        self.0.remove(id).unwrap_or_default()
    }
}

fn recs_doc(world: &World, id: Uuid, scores: BTreeMap<Uuid, u32>) -> String {
    let mut ranked: Vec<(u32, Uuid)> = scores.into_iter().map(|(id, s)| (s, id)).collect();
    ranked.sort_by_key(|(s, id)| (std::cmp::Reverse(*s), *id));
    let items = ranked
        .into_iter()
        .filter_map(|(score, pid)| {
            let p = world.products.get(&pid).filter(|p| !p.discontinued)?;
            Some(RecItem {
                id: p.id,
                name: &p.name,
                price_cents: p.price_cents,
                currency: &p.currency,
                image_url: p.image.as_deref(),
                score,
            })
        })
        .take(RECS_LIMIT)
        .collect();
    to_string(&RecsDoc {
        product_id: id,
        items,
    })
}

/// The catalog's documents: products, their recommendations (scores from `co`, a whole
/// history's co-purchases, taken out as they are used), list pages and the category tree.
pub fn catalog_docs(world: &World, co: &mut CoPurchases) -> BTreeMap<String, String> {
    let mut docs = BTreeMap::new();
    for id in world.products.keys() {
        if let Some(d) = product(world, *id) {
            docs.insert(doc_key::product(*id), d);
        }
        docs.insert(
            doc_key::recommendations(*id),
            recs_doc(world, *id, co.take(id)),
        );
    }
    // the incremental path first renders `all` and `categories` on the first catalog event
    let catalog = !world.products.is_empty() || !world.categories.is_empty();
    let all = catalog.then_some(ListId::All);
    let lists = all
        .into_iter()
        .chain(world.categories.keys().map(|c| ListId::Category(*c)));
    for list in lists {
        if let Some((_, _, pages)) = list_pages(world, list) {
            docs.extend(pages);
        }
    }
    if !world.categories.is_empty() {
        docs.insert(doc_key::categories(), categories(world));
    }
    docs
}

/// The documents of the sessions in `world`: carts, orders, and each session's orders
/// list (whole only if `world` holds every order of the session: a fold of whole
/// sessions, see `crate::history`).
pub fn session_docs(world: &World) -> BTreeMap<String, String> {
    let mut docs = BTreeMap::new();
    for s in world.carts.keys() {
        if let Some(d) = cart(world, *s) {
            docs.insert(doc_key::cart(*s), d);
        }
    }
    let mut by_session: BTreeMap<Uuid, Vec<&Order>> = BTreeMap::new();
    for (id, o) in &world.orders {
        by_session.entry(o.session_id).or_default().push(o);
        if let Some(d) = order(world, *id) {
            docs.insert(doc_key::order(*id), d);
        }
    }
    for (s, mine) in by_session {
        if let Some(d) = orders_doc(s, mine) {
            docs.insert(doc_key::orders(s), d);
        }
    }
    docs
}
