//! The projector's integration tests, one binary: each event's effect ([`read_models`]),
//! convergence under disorder and outages ([`convergence`]), the program sharing
//! partitions ([`consumer_group`]) and `projector rebuild` ([`rebuild`]), what operators read ([`observability`]), on the
//! [`helpers::Harness`].

mod consumer_group;
mod convergence;
mod helpers;
mod observability;
mod read_models;
mod rebuild;
