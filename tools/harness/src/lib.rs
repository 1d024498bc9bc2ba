//! crm-harness: what the benchmark (`crm-bench`) and the black-box suites (`tests/reliability`,
//! the contract suite through `crm-bench stack`) need to run the two stacks for real, written
//! once:
//!
//! - [`procs`]: child processes in their own process groups, logs to files, always stopped;
//! - [`pg`]: a Postgres to use (the one configured, or a throwaway cluster), fresh databases,
//!   the schema and the benchmark's seed rows;
//! - [`stack`]: Axum or Spin (per-service or combined manifest), the fault topology, on free
//!   loopback ports;
//! - [`topology`]: the three services wired to one another, the one builder of the main stack
//!   and of its variants (other timeouts, a stub in customer-service's place);
//! - [`floor`]: each runtime's floor (the least service for `GET /customers/{id}`, and
//!   `/hello`), on a free port;
//! - [`probe`]: waiting for a URL and timing a cold start;
//! - [`procfs`]: RSS, PSS and CPU of process trees, sampled from procfs;
//! - [`budget`]: one CPU budget: the stack under test on its own core (cgroup cpuset or
//!   affinity), its CPU time, the busy share of each core;
//! - [`k6`]: running a k6 script with typed settings;
//! - [`overload`]: open-loop load at a constant arrival rate (what it offered, what came back),
//!   a quick capacity figure, and the recovery probe;
//! - [`soak`]: a stack under steady load for a long time, sampled per interval, with slopes;
//! - [`wrk`]: running wrk (a target's capacity) and reading its report;
//! - [`node`]: the cluster's node runtime without the cluster: a private containerd 1.7 and a
//!   loopback registry running the Spin services under containerd-shim-spin and the Axum images
//!   under runc, with the manifests' resources as cgroup limits;
//! - [`tools`]: the project's tool table (`scripts/tools.sh`): k6 and the Postgres server, installed
//!   the one way the scripts install them;
//! - [`promql`]: the metric names a Grafana dashboard's queries use (checked against real scrapes).
//!
//! Nothing here panics on a failure it can report: errors are `anyhow::Error`s with context
//! (the suites turn them into test failures, the CLI into a message).

pub mod budget;
pub mod faults;
pub mod floor;
pub mod k6;
pub mod node;
pub mod overload;
pub mod pg;
pub mod probe;
pub mod procfs;
pub mod procs;
pub mod promql;
pub mod soak;
pub mod stack;
pub mod tools;
pub mod topology;
pub mod wrk;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The repository root: `CRM_ROOT`, else the nearest ancestor of the current directory that
/// holds `migrations/` and `spin-crm/` (the scripts and `cargo test` run inside the checkout),
/// else the checkout this crate was compiled in. Found at run time, so a binary built in one
/// checkout serves the one it is run from.
pub fn repo_root() -> PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        if let Some(root) = std::env::var_os("CRM_ROOT").filter(|v| !v.is_empty()) {
            return PathBuf::from(root);
        }
        let is_root = |dir: &Path| dir.join("migrations").is_dir() && dir.join("spin-crm").is_dir();
        if let Some(root) = std::env::current_dir()
            .ok()
            .and_then(|cwd| cwd.ancestors().find(|d| is_root(d)).map(Path::to_path_buf))
        {
            return root;
        }
        let built_in = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        built_in.canonicalize().unwrap_or(built_in)
    })
    .clone()
}

/// A short unique string of lowercase letters and digits (database and directory names).
pub fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos % 0xffff_ffff)
}
