//! SIGTERM as a rollout sends it: to the order-service **task** on the node runtime
//! (crm_harness::node: a private containerd 1.7, Spin under containerd-shim-spin v0.22.0, Axum's
//! static image under runc), `ctr tasks kill --signal SIGTERM`, which is what the kubelet's
//! StopContainer comes to through CRI (the SIGKILL after the grace period aside), under a
//! write load. The process-shape version, with `spin up` and the Axum binary, is shutdown.rs;
//! this one shares its method (`crm_reliability_tests::inflight`): order creates whose customer
//! check a stub holds for 1.5 s are provably in flight at the signal (the containers share the
//! host's network, so the stub on 127.0.0.1 stands in for customer-service).
//!
//! Asserted, because anything else is a bug whatever the runtime: no acknowledged write is
//! lost (every 2xx create is in the database), Axum answers no 500, the task exits within the
//! pods' grace period (Kubernetes' default 30 s: k8s/ sets none), and the node leaves nothing
//! behind. Recorded (`record_figures`): the in-flight creates answered, dropped or 500, the
//! load before and after the signal, a new request's fate, the exit code and the time to exit.
//!
//! Root only (a private containerd): as another user the test prints that it was skipped and
//! records `{"skipped": …}`; the reliability stage runs as root in CI.

use std::time::{Duration, Instant};

use crm_harness::node::{self, NodeStack, StackOptions};
use crm_reliability_tests::client::{client, ms, CLIENT_TIMEOUT};
use crm_reliability_tests::inflight::{HoldingStub, InFlight, Ledger};
use crm_reliability_tests::stack::{Binaries, Runtime};
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, throwaway_database, unique_suffix,
};
use serde_json::{json, Value};

/// terminationGracePeriodSeconds' default (k8s/ sets none).
const GRACE: Duration = Duration::from_secs(30);

for_each_runtime!(order_service_task_sigterm_on_the_node =>
    |runtime| task_sigterm(runtime), within Duration::from_secs(240));

struct Shutdown {
    runtime: Runtime,
    ledger: Ledger,
    /// `ctr tasks delete`'s report of the exit (e.g. "exit 0").
    exit: String,
    /// `None`: still running after [`GRACE`].
    exit_after: Option<Duration>,
}

async fn task_sigterm(runtime: Runtime) {
    let name = format!("{}_node_order_service_task_sigterm", runtime.as_str());
    if !node::running_as_root() {
        let why = "SKIPPED, NOT PASSED: the node runtime needs root (a private containerd); \
                   run the reliability stage as root";
        eprintln!("{name}: {why}");
        record_figures(&name, json!({ "skipped": why }));
        return;
    }
    let (cluster, db) = throwaway_database().await;
    let stub = HoldingStub::start().await;
    let spin = Binaries::current().spin.clone();
    let options = StackOptions {
        customer_service_at: Some(stub.url.clone()),
    };
    let mut stack = NodeStack::start_with(runtime, &db, spin.as_deref(), 5000, &options)
        .await
        .expect("the stack starts on the node runtime");
    let id = format!("{}-order-service", runtime.as_str());
    let base = stack.order_service_url.clone();
    let run = format!("node-sigterm-{}", unique_suffix());
    let in_flight = InFlight::start(&client(CLIENT_TIMEOUT), &base, &run, &stub).await;

    let sigterm_at = Instant::now();
    stack
        .node
        .ctr(&["tasks", "kill", "--signal", "SIGTERM", &id])
        .expect("ctr tasks kill");
    let signalled = in_flight.signalled(sigterm_at).await;
    let exit_after = wait_stopped(&stack, &id, sigterm_at).await;
    // Deletes the task (SIGKILL first if it is still running: a failure below then).
    let exit = stack.node.stop_container(&id, Duration::ZERO);
    let shutdown = Shutdown {
        runtime,
        ledger: signalled.finish(&cluster, "crm").await,
        exit,
        exit_after,
    };
    let stopped = stack.stop(Duration::from_secs(5));

    let mut problems = Vec::new();
    if shutdown.exit_after.is_none() {
        problems.push(format!(
            "the {id} task still ran {GRACE:?} after SIGTERM (the kubelet would SIGKILL it)"
        ));
    }
    check_stored(&shutdown, &mut problems);
    if let Err(e) = stopped {
        problems.push(format!("the node runtime's stop: {e:#}"));
    }
    record_figures(&name, figures(&shutdown));
    assert_no_problems("SIGTERM to the order-service task", &problems);
}

/// Polls the task until it is no longer RUNNING; `None` when it still is after [`GRACE`].
async fn wait_stopped(stack: &NodeStack, id: &str, since: Instant) -> Option<Duration> {
    while since.elapsed() < GRACE {
        if stack.node.task_status(id).as_deref() != Some("RUNNING") {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Every acknowledged create stored; no 500 from Axum (Spin's host may answer a bare 500 for
/// a guest it cancelled: recorded, as in shutdown.rs, not a failure).
fn check_stored(shutdown: &Shutdown, problems: &mut Vec<String>) {
    for (product, a) in shutdown.ledger.creates() {
        if a.is_2xx() && !shutdown.ledger.stored.contains(product) {
            problems.push(format!(
                "{product}: answered {} but not stored: an acknowledged write was lost",
                a.label()
            ));
        }
        if shutdown.runtime == Runtime::Axum && a.status == Some(500) {
            problems.push(format!("{product}: 500 from Axum during the shutdown"));
        }
    }
}

fn figures(shutdown: &Shutdown) -> Value {
    let ledger = &shutdown.ledger;
    let unanswered_but_stored = ledger
        .creates()
        .filter(|(p, a)| a.status.is_none() && ledger.stored.contains(p))
        .count();
    let mut figures = ledger.figures();
    figures["signal"] =
        json!("SIGTERM to the task (ctr tasks kill), as the kubelet's StopContainer");
    figures["exit_after_sigterm_ms"] = json!(shutdown.exit_after.map(ms));
    figures["exit"] = json!(shutdown.exit);
    figures["unanswered_but_stored"] = json!(unanswered_but_stored);
    figures
}
