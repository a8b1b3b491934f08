//! The pure state of the read side: per-stream entities and the last applied version of
//! each stream.
//!
//! Entities hold only what their own stream says (a product keeps its `category_id`, not
//! the category's name); documents join them at render time ([`crate::render`]). That is
//! why documents converge whatever the arrival order across streams. The same `World`
//! serves a whole-history fold (`verify`, a rebuild) and, partially loaded from
//! PostgreSQL, the incremental path.
//!
//! Layout (children only depend on `state`, never on each other):
//! - [`state`]: the entities and the [`World`] that holds them;
//! - [`fold`]: events into state (pure): [`World::apply`], [`World::fold`], what an event
//!   makes stale ([`Touch`]) and which entities it depends on;
//! - [`stored`]: the mapping between entities and their `rm_entities` rows (JSON state and
//!   lookup columns); the SQL itself is `crate::store::entities`.

pub mod fold;
pub mod state;
pub mod stored;

pub use fold::{EventMeta, Touch};
pub use state::{
    canonical, Cart, CartLine, Category, ListId, Order, OrderStatus, PaymentStatus, Product, World,
    LOW_STOCK,
};
