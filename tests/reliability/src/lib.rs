//! Reliability tests that try to break both stacks: concurrent writes checked against the
//! database, a Postgres restart under load, an upstream that is killed, hung or slow, and
//! SIGTERM under load (Axum). See `tests/reliability/README.md`.
//!
//! The crate starts everything itself, through the project's harness (`tools/harness`, the
//! same code `crm-bench` runs the benchmark with): a throwaway Postgres cluster per test
//! ([`pg`]), the services as processes ([`stack`]); stub upstreams in-process ([`stub`]). It
//! then only talks HTTP and, to read back what was really stored, SQL. The SIGTERM tests share
//! their traffic around the signal ([`inflight`]).

pub mod client;
pub mod inflight;
pub mod load;
pub mod stub;

pub use crm_harness::{floor, pg, procs, stack, topology};

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use crate::pg::Cluster;
use crate::stack::{Runtime, Shape, Stack};

pub use crm_harness::unique_suffix;

/// Runs one test body on its own runtime, one test at a time per binary (they restart
/// Postgres and measure latencies: sharing the two cores would blur both), within `limit`:
/// a test still running then has hung, and fails. Every process and cluster the body started
/// is stopped when its future is dropped, on success, failure or timeout alike.
pub fn run_test<F: Future<Output = ()>>(name: &str, limit: Duration, body: F) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        if tokio::time::timeout(limit, body).await.is_err() {
            panic!(
                "{name}: still running after {limit:?}; a hang is a bug (logs: {})",
                procs::log_dir().display()
            );
        }
    });
}

/// Declares one test per runtime, `<name>::axum` and `<name>::spin`, each running
/// `body(runtime)` (a function of the runtime returning the test's future) with [`run_test`]
/// within `limit`:
///
/// ```ignore
/// for_each_runtime!(upstream_faults => upstream_faults, within Duration::from_secs(180));
/// for_each_runtime!(gateway_sigterm_under_load =>
///     |runtime| graceful_shutdown(runtime, Service::Gateway), within Duration::from_secs(120));
/// ```
#[macro_export]
macro_rules! for_each_runtime {
    ($name:ident => $body:expr, within $limit:expr) => {
        $crate::for_each_runtime!(@tests $name, $body, $limit, [axum Axum, spin Spin]);
    };
    (@tests $name:ident, $body:expr, $limit:expr, [$($test:ident $runtime:ident),+]) => {
        mod $name {
            use super::*;

            $(
                #[test]
                fn $test() {
                    let body = $body;
                    $crate::run_test(
                        concat!(stringify!($name), "::", stringify!($test)),
                        $limit,
                        body($crate::stack::Runtime::$runtime),
                    );
                }
            )+
        }
    };
}

/// A throwaway Postgres cluster with an empty database `crm`, and that database's URL: where
/// every scenario starts. Dropping the cluster stops and deletes it.
pub async fn throwaway_database() -> (Cluster, String) {
    let cluster = Cluster::start().await.expect("a throwaway Postgres");
    let db = cluster
        .create_database("crm")
        .await
        .expect("CREATE DATABASE");
    (cluster, db)
}

/// A [`throwaway_database`] and `runtime`'s stack in `shape` on it, ready, its upstream calls
/// timing out after `upstream_timeout_ms`. Destructure it (`let (cluster, stack) = …`): the
/// bindings drop in reverse, so the stack stops before its database's cluster does.
pub async fn start_stack(
    runtime: Runtime,
    shape: Shape,
    upstream_timeout_ms: u64,
) -> (Cluster, Stack) {
    let (cluster, db) = throwaway_database().await;
    let stack = Stack::start(runtime, shape, &db, upstream_timeout_ms)
        .await
        .expect("the stack starts");
    (cluster, stack)
}

/// Prints a test's figures and, when `CRM_RESULTS` is set, stores them under `name` in
/// `$CRM_RESULTS/reliability.json` (one object, one key per test).
pub fn record_figures(name: &str, figures: Value) {
    println!(
        "RELIABILITY {name}\n{}",
        serde_json::to_string_pretty(&figures).unwrap_or_default()
    );
    let Ok(dir) = std::env::var("CRM_RESULTS") else {
        return;
    };
    if dir.trim().is_empty() {
        return;
    }
    let dir = PathBuf::from(dir.trim());
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("reliability.json");
    let mut all: serde_json::Map<String, Value> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    all.insert(name.to_string(), figures);
    let text = serde_json::to_string_pretty(&Value::Object(all)).expect("json");
    std::fs::write(&path, text + "\n")
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

/// Fails with every problem listed (the first 25), or does nothing.
pub fn assert_no_problems(what: &str, problems: &[String]) {
    if problems.is_empty() {
        return;
    }
    let shown: Vec<&str> = problems.iter().take(25).map(String::as_str).collect();
    panic!(
        "{what}: {} problem(s) (logs: {}):\n  {}",
        problems.len(),
        procs::log_dir().display(),
        shown.join("\n  ")
    );
}
