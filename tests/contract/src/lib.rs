//! Helpers of the black-box contract suite: the contract is `docs/api.md`.
//!
//! Everything a test needs to read as behaviour lives here, one concern a module. The suite
//! never talks to Postgres or to any implementation crate: it only knows URLs.
//!
//! - [`env`]: the URLs and settings of a run, read from the environment;
//! - [`client`]: [`Api`], one running service, and [`Service`];
//! - [`received`]: [`Received`], a response as received, and the assertions tests make on it;
//! - [`invariants`]: what every response owes, checked by [`Api`] on each one;
//! - `raw`: HTTP/1.1 over a bare TCP connection, for what a client library cannot send;
//! - [`views`]: typed customers, orders and pages that check their shape while parsing;
//! - [`fixtures`]: fresh data, bodies and paths, the contract's limits;
//! - [`checks`]: the checks run on more than one service (the gateway and a data service).

pub mod checks;
pub mod client;
pub mod env;
pub mod fixtures;
pub mod invariants;
mod raw;
pub mod received;
pub mod views;

pub use client::{Api, Service};
pub use env::expected_runtime;
pub use fixtures::*;
pub use received::{Received, CREATE_TIMING, DB_TIMING, DB_TIMING_MIN};
pub use reqwest::Method;
pub use serde_json::{json, Value};
pub use views::{assert_keys, assert_page, Customer, Order};
