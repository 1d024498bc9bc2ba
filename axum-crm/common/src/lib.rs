//! Plumbing the three Axum services share. The contract itself (rules, SQL, error documents,
//! header names, timing format) lives in `crm-core`; this crate only connects it to axum, sqlx
//! and reqwest, so the service crates are routes and small handlers. Its modules have the same
//! names as spin-common's, each the twin of the other's.

pub mod admission;
pub mod config;
pub mod db;
pub mod layers;
pub mod listener;
pub mod metrics;
pub mod reply;
pub mod routing;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
pub mod upstream;

/// Driving a service's router in-process from its tests (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod test_util;

pub use reply::{AppError, Reply};
pub use routing::{ContractRoutes, Id, JsonBody, LimitedBody};
