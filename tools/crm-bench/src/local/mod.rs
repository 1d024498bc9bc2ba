//! The local side: everything crm-bench starts on this machine, on the harness (crm-harness).
//!
//! - [`run`]: `crm-bench run`, the main job (the side-by-side benchmark, then the report);
//! - [`wrap`]: `crm-bench stack` and `crm-bench postgres`, a command run with a stack or
//!   Postgres up around it;
//! - `node`: `crm-bench stack --shape node`, the stack as containers on the node runtime;
//! - [`containers`]: `crm-bench containers`, the container shape's cold starts, memory and
//!   density on the node runtime, and the musl binary as a process;
//! - [`layers`]: `crm-bench layers`, what each of Axum's middleware layers costs
//!   (customer-service with layers switched off, under the run's CPU budget);
//! - `tooling`: what both start from (the Spin CLI, the target directory, builds, a runtime
//!   that stops on Ctrl-C).

pub mod containers;
pub mod layers;
mod node;
pub mod run;
mod tooling;
pub mod wrap;
