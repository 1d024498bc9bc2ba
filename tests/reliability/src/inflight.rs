//! Requests provably in flight when a service is signalled, under a write load, and the ledger
//! of what they left behind: the method of the SIGTERM tests, on processes (`tests/shutdown.rs`)
//! and on the node runtime (`tests/node_shutdown.rs`), written once so both judge the same
//! traffic.
//!
//! Order creates check their customer with a stand-in customer-service ([`HoldingStub`]) that
//! holds the check of one customer id for [`HOLD`]: once the stub has seen all [`IN_FLIGHT`]
//! of those checks, order-service has accepted every one of those requests and is inside the
//! handler, so the signal provably lands mid-request. Around them, workers stream quick
//! creates from before the signal until after the target is gone. Every product carries the
//! run's marker, so the database says what each request left behind whatever its answer was.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::task::JoinHandle;

use crate::client::{client, send, spread, status_counts, Outcome};
use crate::pg::Cluster;
use crate::stub::Stub;

/// The customer id whose check the stub holds, and one it answers at once.
const SLOW_CUSTOMER: i64 = 900_001;
const FAST_CUSTOMER: i64 = 900_002;
/// How long the stub holds a check of `SLOW_CUSTOMER`.
pub const HOLD: Duration = Duration::from_millis(1500);
/// Creates in flight at the signal.
pub const IN_FLIGHT: usize = 12;
/// Workers streaming quick creates around the signal.
const LOAD_WORKERS: usize = 8;

/// A product and the answer its create got.
pub type Create = (String, Outcome);

/// The stand-in customer-service: it holds the check of `SLOW_CUSTOMER` for [`HOLD`] and
/// counts those checks; any other it answers at once. Stops when dropped.
pub struct HoldingStub {
    _stub: Stub,
    /// Where the services under test find it, as their customer-service.
    pub url: String,
    slow_checks: Arc<AtomicUsize>,
}

impl HoldingStub {
    pub async fn start() -> HoldingStub {
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
        HoldingStub {
            _stub: stub,
            url: format!("http://127.0.0.1:{port}"),
            slow_checks,
        }
    }
}

/// The traffic before the signal: the load running, the held creates inside the handler.
pub struct InFlight {
    base: String,
    run: String,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Create>>>,
    held: Vec<JoinHandle<Create>>,
}

/// The traffic after the signal: every held create answered (or not), the load still running
/// until [`Signalled::finish`].
pub struct Signalled {
    run: String,
    sigterm_at: Instant,
    newcomer: Outcome,
    held: Vec<Create>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<Create>>>,
}

/// What the signal left behind, for the verdicts and the figures.
pub struct Ledger {
    pub sigterm_at: Instant,
    /// A request sent 300 ms after the signal.
    pub newcomer: Outcome,
    /// The creates in flight at the signal.
    pub held: Vec<Create>,
    /// The quick creates before and after the signal.
    pub load: Vec<Create>,
    /// The products stored by this run.
    pub stored: Vec<String>,
}

impl InFlight {
    /// Starts the load on order creates at `base` (an order-service, or a gateway in front of
    /// one whose customer-service is `stub`), products marked `run`; half a second later sends
    /// the held creates and returns once the stub has seen them all: the moment to signal.
    pub async fn start(
        http: &reqwest::Client,
        base: &str,
        run: &str,
        stub: &HoldingStub,
    ) -> InFlight {
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..LOAD_WORKERS)
            .map(|worker| quick_creates(http, base, run, worker, &stop))
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = send_held_creates(http, base, run, &stub.slow_checks).await;
        InFlight {
            base: base.to_string(),
            run: run.to_string(),
            stop,
            workers,
            held,
        }
    }

    /// Right after the signal sent at `sigterm_at`: a new request 300 ms later, then the
    /// answers of the held creates (each ends by its answer, the connection's end, or the
    /// client timeout).
    pub async fn signalled(self, sigterm_at: Instant) -> Signalled {
        let newcomer = newcomer_after_sigterm(&self.base).await;
        let mut held = Vec::new();
        for task in self.held {
            held.push(task.await.expect("held request"));
        }
        Signalled {
            run: self.run,
            sigterm_at,
            newcomer,
            held,
            stop: self.stop,
            workers: self.workers,
        }
    }
}

impl Signalled {
    /// Once the target is gone: stops the load, then reads back what the run stored in
    /// `database` of `cluster`.
    pub async fn finish(self, cluster: &Cluster, database: &str) -> Ledger {
        self.stop.store(true, Ordering::Relaxed);
        let mut load = Vec::new();
        for task in self.workers {
            load.extend(task.await.expect("load worker"));
        }
        let pool = cluster.pool(database).await.expect("a pool");
        Ledger {
            sigterm_at: self.sigterm_at,
            newcomer: self.newcomer,
            held: self.held,
            load,
            stored: stored_products(&pool, &self.run).await,
        }
    }
}

impl Ledger {
    /// Every create sent, held and quick alike.
    pub fn creates(&self) -> impl Iterator<Item = &Create> {
        self.load.iter().chain(self.held.iter())
    }

    /// The figures both tests record: the held creates' answers and times, the load started
    /// before and after the signal, the newcomer's fate, the orders stored. Each test adds
    /// its own (how the target exited).
    pub fn figures(&self) -> Value {
        let load = |after: bool| -> Vec<&Outcome> {
            self.load
                .iter()
                .map(|(_, a)| a)
                .filter(|a| (a.started > self.sigterm_at) == after)
                .collect()
        };
        let held = &self.held;
        json!({
            "in_flight_at_sigterm": IN_FLIGHT,
            "in_flight_answered": status_counts(held.iter().map(|(_, a)| a)),
            "in_flight_answer_time": spread(&mut held.iter().map(|(_, a)| a.elapsed).collect::<Vec<_>>()),
            "load_started_before_sigterm": status_counts(load(false)),
            "load_started_after_sigterm": status_counts(load(true)),
            "new_request_after_sigterm": self.newcomer.label(),
            "orders_stored": self.stored.len(),
        })
    }
}

/// Background load: quick order creates from one worker until `stop` (after the target exited).
fn quick_creates(
    http: &reqwest::Client,
    base: &str,
    run: &str,
    worker: usize,
    stop: &Arc<AtomicBool>,
) -> JoinHandle<Vec<Create>> {
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
) -> Vec<JoinHandle<Create>> {
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
    send(
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
