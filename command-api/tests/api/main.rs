//! command-api's integration tests, one binary: the HTTP contract on a real PostgreSQL
//! ([`http`]) and the outbox relay on a real broker ([`relay`]), both through the one
//! [`helpers::TestApp`]; abuse from outside in [`security`].

mod helpers;
mod http;
mod relay;
mod security;
