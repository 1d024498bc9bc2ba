//! The local side: everything crm-bench starts on this machine, on the harness (crm-harness).
//!
//! - [`run`]: `crm-bench run`, the main job (the side-by-side benchmark, then the report);
//! - [`wrap`]: `crm-bench stack` and `crm-bench postgres`, a command run with a stack or
//!   Postgres up around it;
//! - `tooling`: what both start from (the Spin CLI, the target directory, builds, a runtime
//!   that stops on Ctrl-C).

pub mod run;
mod tooling;
pub mod wrap;
