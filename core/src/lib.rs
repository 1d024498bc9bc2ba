//! The CRM domain shared by the Axum and the Spin stacks.
//!
//! Everything here is free of I/O and of any runtime, so it builds for native targets and for
//! `wasm32-wasip1` alike, and both stacks apply the *same* rules, run the *same* SQL and answer
//! with the *same* error documents. The adapters (`axum-crm/*`, `spin-crm/*`) only move bytes
//! between HTTP, Postgres and these functions.

pub mod compute;
pub mod customer;
pub mod error;
pub mod http;
pub mod order;
pub mod params;
mod rules;
pub mod sql;
pub mod timestamp;
pub mod timing;
pub mod upstream;

pub use error::{ApiError, ErrorCode, FieldError};
