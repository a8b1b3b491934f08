//! command-api's integration tests, one binary: the HTTP contract on a real PostgreSQL
//! ([`http`]) and the outbox relay on a real broker ([`relay`]), both through the one
//! [`helpers::TestApp`].

mod helpers;
mod http;
mod relay;
