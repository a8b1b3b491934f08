//! The event contract shared by Vitrine's three programs.
//!
//! command-api writes these events, the projector reads them back (from Kafka or from
//! the event store during a rebuild), and query-api reads the documents the projector
//! derives from them. Anything two programs must agree on lives here, nothing else.
//!
//! Layout:
//! - [`event`]: the event enum, stream ids, serde shapes and `schema_version`;
//! - [`upcast`]: old event shapes lifted to the current one when read;
//! - [`envelope`]: a recorded event (position, stream, version, metadata) as stored and published;
//! - [`read_model`]: Redis keys and PostgreSQL names of the read models, shared by projector and query-api;
//! - [`payment`]: the payment provider's signed webhook (scheme, event shape, a fake provider);
//! - [`session`]: signed anonymous-session tokens (issued by command-api, checked by query-api);
//! - [`slug`]: URL-safe names of products and categories (made, checked, derived by the upcaster);
//! - [`secret`]: a string that never prints, and what makes one too weak for production.
//!
//! The module graph has no cycles: `envelope` → `event` → `upcast` → `slug`;
//! `session` → `secret`; `read_model` stands alone.
//!
//! Pure data and functions: no I/O, no runtime. What the programs run on (telemetry,
//! migrations, the event store's SQL, the HTTP machinery) is the `vitrine-runtime` crate.

pub mod envelope;
pub mod event;
pub mod payment;
pub mod read_model;
pub mod secret;
pub mod session;
pub mod slug;
pub mod upcast;

pub use envelope::{Metadata, RecordedEvent};
pub use event::{Event, OrderLine, StreamId, StreamKind};
