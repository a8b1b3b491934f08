//! Cross-program tests, one binary: command-api, the projector and query-api in one
//! process on the real services ([`helpers::Pipeline`]).

mod end_to_end;
mod helpers;
mod rebuild_under_load;
