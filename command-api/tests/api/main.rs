//! command-api's integration tests, one binary: the HTTP contract on a real PostgreSQL
//! ([`http`]), payments through the fake provider ([`payments`]), payment deadlines and
//! per-session limits ([`expiry`]) and the outbox relay on a real broker ([`relay`]),
//! what operators read ([`observability`]), all through the one [`helpers::TestApp`];
//! abuse from outside in [`security`]; broker settings passed through to librdkafka in
//! [`kafka_options`].

mod expiry;
mod helpers;
mod http;
mod kafka_options;
mod observability;
mod payments;
mod relay;
mod security;
