//! SIGTERM to a service under load (to its process group, as Ctrl-C or systemd sends it).
//!
//! Axum drains: requests it already accepted get their answer (no reset), acknowledged writes
//! are all stored, requests it never answered wrote nothing, it stops taking new connections at
//! once and exits 0 when the last in-flight request is done.
//!
//! `spin up` (Spin 3.5.1) does not drain: it exits 0 within a fraction of a second, cancels the
//! guests still running and closes their connections without an answer, or, for a guest it
//! cancels while the connection can still carry one, answers a bare 500 itself (none of our
//! headers; "guest invocation panicked: task was cancelled" in its log). Measured here; see
//! docs/api.md#runtime-notes. What still holds, and is asserted: no hang, new connections are
//! refused at once, and no acknowledged write is lost. A request that got no answer or that
//! bare 500 has an unknown outcome (a guest is cancelled wherever it is, after its INSERT too,
//! and through a gateway the order-service behind it may have written), as with any server
//! that dies mid-request.
//!
//! To have requests provably in flight at the signal, order creates check their customer with a
//! stub that holds the check for 1.5 s for one customer id: once the stub has seen all of those
//! checks, order-service has accepted every one of those requests and is inside the handler.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_reliability_tests::client::{
    self, client, ms, send, spread, status_counts, Outcome, CLIENT_TIMEOUT,
};
use crm_reliability_tests::stack::{Runtime, Service};
use crm_reliability_tests::stub::Stub;
use crm_reliability_tests::topology::Topology;
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, throwaway_database, unique_suffix,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

/// Customer ids the stub delays, and answers at once.
const SLOW_CUSTOMER: i64 = 900_001;
const FAST_CUSTOMER: i64 = 900_002;
const HOLD: Duration = Duration::from_millis(1500);
const IN_FLIGHT: usize = 12;

for_each_runtime!(order_service_sigterm_under_load =>
    |runtime| graceful_shutdown(runtime, Service::OrderService), within Duration::from_secs(120));
for_each_runtime!(gateway_sigterm_under_load =>
    |runtime| graceful_shutdown(runtime, Service::Gateway), within Duration::from_secs(120));

/// A product and the answer its create got.
type Create = (String, Outcome);

/// What the shutdown left behind, for the verdicts and the figures.
struct Shutdown {
    runtime: Runtime,
    target: Service,
    sigterm_at: Instant,
    /// A request sent 300 ms after the signal.
    newcomer: Outcome,
    /// The creates in flight at the signal.
    held: Vec<Create>,
    /// The quick creates before and after the signal.
    load: Vec<Create>,
    exit: Option<std::process::ExitStatus>,
    exit_after: Duration,
    /// The products stored by this run.
    stored: Vec<String>,
}

async fn graceful_shutdown(runtime: Runtime, target: Service) {
    let (cluster, db) = throwaway_database().await;
    let (_stub, stub_url, slow_checks) = start_holding_stub().await;
    let mut stack = Topology::new(runtime, &db)
        .upstream_timeout_ms(5000)
        .customer_service_at(stub_url)
        .start()
        .await
        .expect("the services start");
    let base = match target {
        Service::Gateway => stack.gateway_url.clone(),
        _ => stack
            .order_service
            .as_ref()
            .expect("order-service is in the topology")
            .url(),
    };
    let run = format!("sigterm-{}", unique_suffix());
    let http = client(CLIENT_TIMEOUT);

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..8)
        .map(|worker| quick_creates(&http, &base, &run, worker, &stop))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = send_held_creates(&http, &base, &run, &slow_checks).await;

    let proc = stack.proc_mut(target).expect("the target runs");
    let sigterm_at = Instant::now();
    proc.signal(libc::SIGTERM);
    let newcomer = newcomer_after_sigterm(&base).await;
    let mut held_answers = Vec::new();
    for task in held {
        held_answers.push(task.await.expect("held request"));
    }
    let exit = proc.wait_exit(Duration::from_secs(15));
    let exit_after = sigterm_at.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut load = Vec::new();
    for task in workers {
        load.extend(task.await.expect("load worker"));
    }
    let pool = cluster.pool("crm").await.expect("a pool");
    let shutdown = Shutdown {
        runtime,
        target,
        sigterm_at,
        newcomer,
        held: held_answers,
        load,
        exit,
        exit_after,
        stored: stored_products(&pool, &run).await,
    };

    let mut problems = Vec::new();
    check_exit(&shutdown, &mut problems);
    check_held(&shutdown, &mut problems);
    check_newcomer(&shutdown, &mut problems);
    check_stored(&shutdown, &mut problems);
    record_figures(
        &format!(
            "{}_{}_sigterm",
            runtime.as_str(),
            target.as_str().replace('-', "_")
        ),
        figures(&shutdown),
    );
    assert_no_problems("graceful shutdown", &problems);
}

/// The stand-in customer-service: it holds the check of [`SLOW_CUSTOMER`] for [`HOLD`] and
/// counts those checks; any other at once. Returns the stub, its URL and the count.
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

/// Background load: quick order creates from one worker until `stop` (after the target exited).
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
                // The listener is gone; do not spin.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        answers
    })
}

/// Requests provably in flight: [`IN_FLIGHT`] creates whose customer checks the stub holds;
/// returns once it has seen them all (the service has accepted each and is inside the handler).
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

/// A new request after the signal: refused at once (the listener is closed), never held.
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

/// The products of this run's orders in the database.
async fn stored_products(pool: &PgPool, run: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT product FROM orders WHERE product LIKE $1")
        .bind(format!("{run}-%"))
        .fetch_all(pool)
        .await
        .expect("read orders back")
}

fn check_exit(shutdown: &Shutdown, problems: &mut Vec<String>) {
    match shutdown.exit {
        Some(status) if status.success() => {}
        other => problems.push(format!(
            "{} did not exit 0 after SIGTERM: {other:?}",
            shutdown.target.as_str()
        )),
    }
}

/// Axum answers every request in flight; `spin up` drops them (or answers its bare 500).
fn check_held(shutdown: &Shutdown, problems: &mut Vec<String>) {
    for (product, a) in &shutdown.held {
        match shutdown.runtime {
            Runtime::Axum if a.status != Some(201) => problems.push(format!(
                "in-flight {product}: {} ({}) instead of its answer",
                a.label(),
                a.error.as_deref().unwrap_or("")
            )),
            // Dropped, not hung: the connection closes with the process.
            Runtime::Spin if a.label() != "no answer (connection)" && !cancelled_by_spin(a) => {
                problems.push(format!(
                    "in-flight {product}: {} ({}); spin up 3.5.1 closes in-flight connections \
                 on SIGTERM (if it now drains, update docs/api.md#runtime-notes and this test)",
                    a.label(),
                    a.error.as_deref().unwrap_or("")
                ))
            }
            _ => {}
        }
    }
}

fn check_newcomer(shutdown: &Shutdown, problems: &mut Vec<String>) {
    let newcomer = &shutdown.newcomer;
    if newcomer.status.is_some() || newcomer.elapsed > Duration::from_secs(2) {
        problems.push(format!(
            "a new request after SIGTERM got {} after {:?}; expected a refused connection",
            newcomer.label(),
            newcomer.elapsed
        ));
    }
}

/// Stored: exactly the acknowledged creates; nothing that went unanswered.
fn check_stored(shutdown: &Shutdown, problems: &mut Vec<String>) {
    let spin = shutdown.runtime == Runtime::Spin;
    for (product, a) in shutdown.load.iter().chain(shutdown.held.iter()) {
        let is_stored = shutdown.stored.contains(product);
        // Spin cancels a guest wherever it is, after its INSERT too: an unanswered request has
        // an unknown outcome. An acknowledged one must still be stored.
        let unknown_outcome = spin && (a.status.is_none() || cancelled_by_spin(a));
        if a.is_2xx() != is_stored && !unknown_outcome {
            problems.push(format!(
                "{product}: answered {} but stored: {is_stored} (an accepted request lost its answer, or an acknowledged write was lost)",
                a.label()
            ));
        }
        if let Some(status) = a.status {
            if status != 201 && !(spin && cancelled_by_spin(a)) {
                problems.push(format!("{product}: {} during shutdown", a.label()));
            }
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
    json!({
        "in_flight_at_sigterm": IN_FLIGHT,
        "in_flight_answered": status_counts(held.iter().map(|(_, a)| a)),
        "in_flight_answer_time": spread(&mut held.iter().map(|(_, a)| a.elapsed).collect::<Vec<_>>()),
        "exit_after_sigterm_ms": ms(shutdown.exit_after),
        "exit_status": shutdown.exit.map(|s| s.to_string()),
        "load_started_before_sigterm": status_counts(load(false)),
        "load_started_after_sigterm": status_counts(load(true)),
        "new_request_after_sigterm": shutdown.newcomer.label(),
        "orders_stored": shutdown.stored.len(),
    })
}

/// Spin's HTTP trigger answering for a guest it cancelled at shutdown: a bare 500 without any of
/// the services' headers or a contract error body, so it cannot have come from our code.
fn cancelled_by_spin(a: &Outcome) -> bool {
    a.status == Some(500) && a.service.is_none() && a.code.is_none()
}
