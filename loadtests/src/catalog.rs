//! What a live store offers to read: categories, product ids and the list pages that
//! exist, found through query-api's public reads the way a shopper would.
//!
//! The readers are tolerant of the documents' exact shape: a list page's items are the
//! first array found under `items`, `results`, `products`, `data` or `hits` (or the body
//! itself when it is an array); categories are every object with an `id` and a `slug`,
//! at any depth of the tree.

use anyhow::{bail, Result};
use serde_json::Value;
use vitrine_contract::read_model::{Sort, PAGE_SIZE};

use crate::http::{Api, Auth};

/// A category as the storefront lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub id: String,
    pub slug: String,
}

/// The readable catalog of a live store.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub categories: Vec<Category>,
    pub product_ids: Vec<String>,
    /// Paths of list pages known to hold products, without `sort`
    /// (`/api/v1/products/?page=2`, `/api/v1/products/?category=phones&page=1`).
    pub list_pages: Vec<String>,
}

/// The items of a list or search page.
pub fn page_items(body: &Value) -> &[Value] {
    if let Some(items) = body.as_array() {
        return items;
    }
    ["items", "results", "products", "data", "hits"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_array))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The `id`s of a list or search page's items.
pub fn page_product_ids(body: &Value) -> Vec<String> {
    page_items(body)
        .iter()
        .filter_map(|item| item.get("id").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Every object with an `id` and a `slug` in a categories document, depth first.
pub fn categories_in(body: &Value) -> Vec<Category> {
    fn walk(value: &Value, out: &mut Vec<Category>) {
        match value {
            Value::Object(map) => {
                if let (Some(id), Some(slug)) = (
                    map.get("id").and_then(Value::as_str),
                    map.get("slug").and_then(Value::as_str),
                ) {
                    out.push(Category {
                        id: id.to_owned(),
                        slug: slug.to_owned(),
                    });
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, &mut out);
    out
}

/// `GET /api/v1/categories/` (an error status reads as no categories).
pub async fn categories(api: &Api) -> Result<Vec<Category>> {
    let reply = api.get("/api/v1/categories/", Auth::default()).await?;
    if !reply.status.is_success() {
        return Ok(Vec::new());
    }
    Ok(categories_in(&reply.json()))
}

/// Reads the categories and the list pages of every product and of each category
/// (at most `max_pages` pages each), collecting product ids. Fails when the store lists
/// no product at all.
pub async fn discover(api: &Api, max_pages: u32) -> Result<Catalog> {
    let mut catalog = Catalog {
        categories: categories(api).await?,
        ..Catalog::default()
    };
    let mut scopes = vec![String::new()];
    scopes.extend(
        catalog
            .categories
            .iter()
            .map(|c| format!("category={}&", c.slug)),
    );
    let sort = Sort::Name.as_str();
    for scope in scopes {
        for page in 1..=max_pages {
            let path = format!("/api/v1/products/?{scope}page={page}");
            let reply = api
                .get(&format!("{path}&sort={sort}"), Auth::default())
                .await?;
            if !reply.status.is_success() {
                break;
            }
            let ids = page_product_ids(&reply.json());
            if ids.is_empty() {
                break;
            }
            let full = ids.len() >= PAGE_SIZE;
            catalog.product_ids.extend(ids);
            catalog.list_pages.push(path);
            if !full {
                break;
            }
        }
    }
    catalog.product_ids.sort();
    catalog.product_ids.dedup();
    if catalog.product_ids.is_empty() {
        bail!(
            "{} lists no products: is the store up and seeded (cargo run -p loadtests --bin seed)?",
            api.base()
        );
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn page_items_are_found_under_common_keys_or_at_top() {
        let page = json!({"page": 1, "items": [{"id": "a"}, {"id": "b"}, {"name": "no id"}]});
        assert_eq!(page_product_ids(&page), vec!["a", "b"]);
        assert_eq!(page_product_ids(&json!([{"id": "c"}])), vec!["c"]);
        assert!(page_product_ids(&json!({"total": 0})).is_empty());
    }

    #[test]
    fn categories_are_found_at_any_depth_of_the_tree() {
        let tree = json!({"version": 3, "categories": [
            {"id": "1", "slug": "phones", "children": [{"id": "2", "slug": "cases"}]},
            {"id": "3", "slug": "laptops", "children": []}
        ]});
        let slugs: Vec<_> = categories_in(&tree).into_iter().map(|c| c.slug).collect();
        assert_eq!(slugs, vec!["phones", "cases", "laptops"]);
    }
}
