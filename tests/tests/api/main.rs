//! End-to-end tests of the gateway over HTTP. One binary (one link) for the whole suite.

mod access_matrix;
mod analysis;
mod attacks;
mod auth;
mod coding_schemes;
mod compliance;
mod demo;
mod distributed;
mod errors;
mod interval_cache;
mod limits;
mod migrations;
mod mutations;
mod n_plus_one;
mod pagination;
mod pictures;
mod queue;
mod reports;
mod response_cache;
mod review;
mod schema;
mod third_party;
mod uploads;
mod ws_protocol;
