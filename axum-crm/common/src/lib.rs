//! Plumbing the three Axum services share. The contract itself (rules, SQL, error documents,
//! header names, timing format) lives in `crm-core`; this crate only connects it to axum, sqlx
//! and reqwest, so the service crates are routes and small handlers.

pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod serve;
pub mod timing;
pub mod upstream;

pub use error::{methods, AppError, ContractRoutes};
pub use extract::{Id, JsonBody, LimitedBody};
pub use timing::{Reply, Timer};
