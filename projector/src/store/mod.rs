//! Every SQL statement and Redis command of the projector's batches, one module per
//! thing stored (the read-model versions are `crate::versions`, the partition offsets
//! `crate::partitions`, the events `vitrine_runtime::event_store`):
//!
//! - [`entities`]: `rm_entities`, the fold's state per stream, and what renders need of it;
//! - [`dependents`]: products of a category, carts holding a product, co-purchases;
//! - [`locks`]: the dependency and render locks of a batch;
//! - [`documents`]: `rm_docs`, revs, `rm_search`, list page counts;
//! - [`redis_docs`]: the fenced Redis writes and key scans;
//! - [`progress`]: applied position, catalog generation, live version, dead letters.

pub mod dependents;
pub mod documents;
pub mod entities;
pub mod locks;
pub mod progress;
pub mod redis_docs;
