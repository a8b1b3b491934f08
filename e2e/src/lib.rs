//! No code: the crate holds the cross-program tests in `tests/api/`, which start
//! command-api, the projector and query-api together.
