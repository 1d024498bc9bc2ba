//! What the three Spin components share and the Axum stack does not: Spin's response type with
//! the contract's headers, `pg4` connections, rows and errors, and wasi:http upstream calls with
//! a deadline. Everything the contract decides (rules, SQL, codes, header names, timing format)
//! comes from `crm-core`; this crate only adapts Spin's APIs to it. Its modules have the same
//! names as axum-common's, each the twin of the other's.

pub mod config;
pub mod db;
pub mod reply;
pub mod routing;
pub mod upstream;

pub use reply::{run, Ctx};
