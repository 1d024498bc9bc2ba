//! SIGTERM as a rollout sends it: to the order-service **task** on the node runtime
//! (crm_harness::node: a private containerd 1.7, Spin under containerd-shim-spin v0.22.0, Axum's
//! static image under runc), `ctr tasks kill --signal SIGTERM`, which is what the kubelet's
//! StopContainer comes to through CRI (the SIGKILL after the grace period aside), under a
//! write load. The process-shape version, with `spin up` and the Axum binary, is shutdown.rs;
//! this one reuses its method: order creates whose customer check a stub holds for 1.5 s are
//! provably in flight at the signal (the containers share the host's network, so the stub on
//! 127.0.0.1 stands in for customer-service).
//!
//! Asserted, because anything else is a bug whatever the runtime: no acknowledged write is
//! lost (every 2xx create is in the database), Axum answers no 500, the task exits within the
//! pods' grace period (Kubernetes' default 30 s: k8s/ sets none), and the node leaves nothing
//! behind. Recorded (`record_figures`): the in-flight creates answered, dropped or 500, the
//! load before and after the signal, a new request's fate, the exit code and the time to exit.
//!
//! Root only (a private containerd): as another user the test prints that it was skipped and
//! records `{"skipped": …}`; the reliability stage runs as root in CI.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_harness::node::{self, NodeStack, StackOptions};
use crm_reliability_tests::client::{
    self, client, ms, send, spread, status_counts, Outcome, CLIENT_TIMEOUT,
};
use crm_reliability_tests::stack::{Binaries, Runtime};
use crm_reliability_tests::stub::Stub;
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, throwaway_database, unique_suffix,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

const SLOW_CUSTOMER: i64 = 900_001;
const FAST_CUSTOMER: i64 = 900_002;
const HOLD: Duration = Duration::from_millis(1500);
const IN_FLIGHT: usize = 12;
/// terminationGracePeriodSeconds' default (k8s/ sets none).
const GRACE: Duration = Duration::from_secs(30);

for_each_runtime!(order_service_task_sigterm_on_the_node =>
    |runtime| task_sigterm(runtime), within Duration::from_secs(240));

type Create = (String, Outcome);

struct Shutdown {
    runtime: Runtime,
    sigterm_at: Instant,
    newcomer: Outcome,
    held: Vec<Create>,
    load: Vec<Create>,
    /// `ctr tasks delete`'s report of the exit (e.g. "exit 0").
    exit: String,
    /// `None`: still running after [`GRACE`].
    exit_after: Option<Duration>,
    stored: Vec<String>,
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
    let (_stub, stub_url, slow_checks) = start_holding_stub().await;
    let spin = Binaries::current().spin.clone();
    let options = StackOptions {
        customer_service_at: Some(stub_url),
    };
    let mut stack = NodeStack::start_with(runtime, &db, spin.as_deref(), 5000, &options)
        .await
        .expect("the stack starts on the node runtime");
    let id = format!("{}-order-service", runtime.as_str());
    let base = stack.order_service_url.clone();
    let run = format!("node-sigterm-{}", unique_suffix());
    let http = client(CLIENT_TIMEOUT);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|worker| quick_creates(&http, &base, &run, worker, &stop))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = send_held_creates(&http, &base, &run, &slow_checks).await;

    let sigterm_at = Instant::now();
    stack
        .node
        .ctr(&["tasks", "kill", "--signal", "SIGTERM", &id])
        .expect("ctr tasks kill");
    let newcomer = newcomer_after_sigterm(&base).await;
    let mut held_answers = Vec::new();
    for task in held {
        held_answers.push(task.await.expect("held request"));
    }
    let exit_after = wait_stopped(&stack, &id, sigterm_at).await;
    // Deletes the task (SIGKILL first if it is still running: a failure below then).
    let exit = stack.node.stop_container(&id, Duration::ZERO);
    stop.store(true, Ordering::Relaxed);
    let mut load = Vec::new();
    for task in workers {
        load.extend(task.await.expect("load worker"));
    }
    let pool = cluster.pool("crm").await.expect("a pool");
    let shutdown = Shutdown {
        runtime,
        sigterm_at,
        newcomer,
        held: held_answers,
        load,
        exit,
        exit_after,
        stored: stored_products(&pool, &run).await,
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

/// The stand-in customer-service (as shutdown.rs): holds the check of [`SLOW_CUSTOMER`] for
/// [`HOLD`] and counts those checks; any other at once.
async fn start_holding_stub() -> (Stub, String, Arc<AtomicUsize>) {
    let slow_checks = Arc::new(AtomicUsize::new(0));
    let counter = slow_checks.clone();
    let slow_path = format!("/customers/{SLOW_CUSTOMER}");
    let (stub, port) = Stub::start(
        0,
        Arc::new(move |path: &str| {
            if path == slow_path {
                counter.fetch_add(1, Ordering::SeqCst);
                HOLD
            } else {
                Duration::ZERO
            }
        }),
    )
    .await;
    (stub, format!("http://127.0.0.1:{port}"), slow_checks)
}

fn quick_creates(
    http: &reqwest::Client,
    base: &str,
    run: &str,
    worker: usize,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Create>> {
    let (http, base, stop, run) = (
        http.clone(),
        base.to_string(),
        stop.clone(),
        run.to_string(),
    );
    tokio::spawn(async move {
        let mut answers = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let product = format!("{run}-load-{worker}x{n}");
            let body = json!({"customer_id": FAST_CUSTOMER, "product": product, "quantity": 1});
            let answer = send(&http, Method::POST, &format!("{base}/orders"), Some(&body)).await;
            let refused = answer.status.is_none();
            answers.push((product, answer));
            n += 1;
            if refused {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        answers
    })
}

async fn send_held_creates(
    http: &reqwest::Client,
    base: &str,
    run: &str,
    slow_checks: &AtomicUsize,
) -> Vec<tokio::task::JoinHandle<Create>> {
    let held: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let (http, base) = (http.clone(), base.to_string());
            let product = format!("{run}-held-{i}");
            tokio::spawn(async move {
                let body = json!({"customer_id": SLOW_CUSTOMER, "product": product.clone(), "quantity": 3});
                let answer = send(&http, Method::POST, &format!("{base}/orders"), Some(&body)).await;
                (product, answer)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow_checks.load(Ordering::SeqCst) < IN_FLIGHT {
        assert!(
            Instant::now() < deadline,
            "the held requests never reached the stub"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    held
}

async fn newcomer_after_sigterm(base: &str) -> Outcome {
    tokio::time::sleep(Duration::from_millis(300)).await;
    client::send(
        &client(Duration::from_secs(3)),
        Method::GET,
        &format!("{base}/healthz"),
        None,
    )
    .await
}

async fn stored_products(pool: &PgPool, run: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT product FROM orders WHERE product LIKE $1")
        .bind(format!("{run}-%"))
        .fetch_all(pool)
        .await
        .expect("read orders back")
}

/// Every acknowledged create stored; no 500 from Axum (Spin's host may answer a bare 500 for
/// a guest it cancelled: recorded, as in shutdown.rs, not a failure).
fn check_stored(shutdown: &Shutdown, problems: &mut Vec<String>) {
    for (product, a) in shutdown.load.iter().chain(shutdown.held.iter()) {
        if a.is_2xx() && !shutdown.stored.contains(product) {
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
    let load = |after: bool| -> Vec<&Outcome> {
        shutdown
            .load
            .iter()
            .map(|(_, a)| a)
            .filter(|a| (a.started > shutdown.sigterm_at) == after)
            .collect()
    };
    let held = &shutdown.held;
    let unanswered_but_stored = shutdown
        .load
        .iter()
        .chain(held.iter())
        .filter(|(p, a)| a.status.is_none() && shutdown.stored.contains(p))
        .count();
    json!({
        "signal": "SIGTERM to the task (ctr tasks kill), as the kubelet's StopContainer",
        "in_flight_at_sigterm": IN_FLIGHT,
        "in_flight_answered": status_counts(held.iter().map(|(_, a)| a)),
        "in_flight_answer_time": spread(&mut held.iter().map(|(_, a)| a.elapsed).collect::<Vec<_>>()),
        "exit_after_sigterm_ms": shutdown.exit_after.map(ms),
        "exit": shutdown.exit,
        "load_started_before_sigterm": status_counts(load(false)),
        "load_started_after_sigterm": status_counts(load(true)),
        "new_request_after_sigterm": shutdown.newcomer.label(),
        "orders_stored": shutdown.stored.len(),
        "unanswered_but_stored": unanswered_but_stored,
    })
}
