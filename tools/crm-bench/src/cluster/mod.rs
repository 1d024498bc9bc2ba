//! The cluster side: what the k3d scripts (scripts/bench-all.sh, scripts/lib/cluster.sh,
//! tests/cluster/*.sh) call crm-bench for. The scripts drive the cluster; this reads what they
//! recorded and writes it in the results format.
//!
//! - [`commands`]: the subcommands (`env`, `artifacts`, `parse …`, `cluster …`);
//! - `parse`: the text the scripts record (kubectl top, probe logs, pushes) read into numbers;
//! - `assemble`: the k3d tests' result files (cold start, resources) and their one-line
//!   descriptions;
//! - `step_load`: the step-load scenario's result from its k6 summary and replica samples.

mod assemble;
pub mod commands;
mod parse;
mod step_load;
