//! query-api's integration tests, one binary: reads on hits and misses ([`reads`]),
//! `min_version` ([`read_your_writes`]), degraded modes ([`degraded`]) and instances
//! behind nginx ([`nginx`]), abuse from outside ([`security`]), TLS to both stores
//! ([`tls`]), what operators read ([`observability`]), on the [`helpers::TestApp`] with a
//! stand-in projector.
//! Tests that need command-api or the projector live in the `e2e` crate.

mod degraded;
mod helpers;
mod nginx;
mod observability;
mod read_your_writes;
mod reads;
mod security;
mod tls;
