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
//! checks, order-service has accepted every one of those requests and is inside the handler
//! (`crm_reliability_tests::inflight`, shared with node_shutdown.rs).

use std::time::{Duration, Instant};

use crm_reliability_tests::client::{client, ms, Outcome, CLIENT_TIMEOUT};
use crm_reliability_tests::inflight::{HoldingStub, InFlight, Ledger};
use crm_reliability_tests::stack::{Runtime, Service};
use crm_reliability_tests::topology::Topology;
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, throwaway_database, unique_suffix,
};
use serde_json::{json, Value};

for_each_runtime!(order_service_sigterm_under_load =>
    |runtime| graceful_shutdown(runtime, Service::OrderService), within Duration::from_secs(120));
for_each_runtime!(gateway_sigterm_under_load =>
    |runtime| graceful_shutdown(runtime, Service::Gateway), within Duration::from_secs(120));

/// What the shutdown left behind, for the verdicts and the figures.
struct Shutdown {
    runtime: Runtime,
    target: Service,
    ledger: Ledger,
    exit: Option<std::process::ExitStatus>,
    exit_after: Duration,
}

async fn graceful_shutdown(runtime: Runtime, target: Service) {
    let (cluster, db) = throwaway_database().await;
    let stub = HoldingStub::start().await;
    let mut stack = Topology::new(runtime, &db)
        .upstream_timeout_ms(5000)
        .customer_service_at(stub.url.clone())
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
    let in_flight = InFlight::start(&client(CLIENT_TIMEOUT), &base, &run, &stub).await;

    let proc = stack.proc_mut(target).expect("the target runs");
    let sigterm_at = Instant::now();
    proc.signal(libc::SIGTERM);
    let signalled = in_flight.signalled(sigterm_at).await;
    let exit = proc.wait_exit(Duration::from_secs(15));
    let exit_after = sigterm_at.elapsed();
    let shutdown = Shutdown {
        runtime,
        target,
        ledger: signalled.finish(&cluster, "crm").await,
        exit,
        exit_after,
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
    for (product, a) in &shutdown.ledger.held {
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
    let newcomer = &shutdown.ledger.newcomer;
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
    for (product, a) in shutdown.ledger.creates() {
        let is_stored = shutdown.ledger.stored.contains(product);
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
    let mut figures = shutdown.ledger.figures();
    figures["exit_after_sigterm_ms"] = json!(ms(shutdown.exit_after));
    figures["exit_status"] = json!(shutdown.exit.map(|s| s.to_string()));
    figures
}

/// Spin's HTTP trigger answering for a guest it cancelled at shutdown: a bare 500 without any of
/// the services' headers or a contract error body, so it cannot have come from our code.
fn cancelled_by_spin(a: &Outcome) -> bool {
    a.status == Some(500) && a.service.is_none() && a.code.is_none()
}
