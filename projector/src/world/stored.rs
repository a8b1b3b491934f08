//! The mapping between entities and their stored rows in `rm_entities`: the JSON `state`
//! and the lookup columns (`category_id`, `session_id`, `product_ids`) the incremental
//! path queries. The statements are in `crate::store::entities`.

use serde_json::Value;
use uuid::Uuid;
use vitrine_contract::{StreamId, StreamKind};

use super::state::World;

impl World {
    pub fn entity_json(&self, stream: &StreamId) -> Option<Value> {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => self
                .categories
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Product => self
                .products
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Cart => self
                .carts
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
            StreamKind::Order => self
                .orders
                .get(&id)
                .and_then(|e| serde_json::to_value(e).ok()),
        }
    }

    pub fn insert_entity_json(
        &mut self,
        stream: &StreamId,
        state: Value,
    ) -> Result<(), serde_json::Error> {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => {
                self.categories.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Product => {
                self.products.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Cart => {
                self.carts.insert(id, serde_json::from_value(state)?);
            }
            StreamKind::Order => {
                self.orders.insert(id, serde_json::from_value(state)?);
            }
        }
        Ok(())
    }

    pub fn entity_index(&self, stream: &StreamId) -> (Option<Uuid>, Option<Uuid>, Vec<Uuid>) {
        let id = stream.id();
        match stream.kind() {
            StreamKind::Category => (None, None, vec![]),
            StreamKind::Product => (self.products.get(&id).map(|p| p.category_id), None, vec![]),
            StreamKind::Cart => (
                None,
                None,
                self.carts
                    .get(&id)
                    .map(|c| c.lines.iter().map(|l| l.product_id).collect())
                    .unwrap_or_default(),
            ),
            StreamKind::Order => match self.orders.get(&id) {
                Some(o) => (
                    None,
                    Some(o.session_id),
                    o.lines.iter().map(|l| l.product_id).collect(),
                ),
                None => (None, None, vec![]),
            },
        }
    }
}
