//! Cross-program tests, one binary: command-api, the projector and query-api in one
//! process on the real services ([`helpers::Pipeline`]); [`fuzz`] sends them random requests.

mod end_to_end;
mod fuzz;
mod helpers;
mod rebuild_under_load;
