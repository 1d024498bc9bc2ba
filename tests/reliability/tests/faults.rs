//! Upstream faults on the order path: customer-service killed mid-run, hung (SIGSTOP: the
//! kernel still accepts connections, nothing answers) and slow (a stub that answers after the
//! timeout). Order creates must answer 502/504 within the timeout plus a margin and write
//! nothing; the gateway must keep serving `/healthz` and `/compute` meanwhile; and the order
//! path must work again once a customer-service is back, with no other service restarted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_reliability_tests::client::{
    self, client, ms, send, spread, status_counts, Outcome, CLIENT_TIMEOUT,
};
use crm_reliability_tests::pg::Cluster;
use crm_reliability_tests::procs::Proc;
use crm_reliability_tests::stack::{start_ready, Runtime, Service, Stack};
use crm_reliability_tests::stub::Stub;
use crm_reliability_tests::topology::Topology;
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, throwaway_database, unique_suffix,
};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

/// order-service's UPSTREAM_TIMEOUT_MS (its customer check).
const ORDER_TIMEOUT: Duration = Duration::from_millis(1000);
/// The gateway's: longer than order-service's, so order-service's own 504 reaches the client.
const GATEWAY_TIMEOUT: Duration = Duration::from_millis(2000);
/// How much later than its timeout a 502/504 may come before it counts as a hang.
const MARGIN: Duration = Duration::from_secs(2);

for_each_runtime!(upstream_faults => upstream_faults, within Duration::from_secs(180));

#[derive(Clone)]
struct Setup {
    http: reqwest::Client,
    gateway: String,
    order_service: String,
    customer_id: i64,
    run: String,
    pool: PgPool,
}

impl Setup {
    /// `POST /orders` through the gateway (or at order-service), product `<run>-<tag>-<n>`.
    async fn create_order(&self, base: &str, tag: &str, n: usize) -> Outcome {
        let body = json!({
            "customer_id": self.customer_id,
            "product": format!("{}-{tag}-{n}", self.run),
            "quantity": 2,
            "unit_price_cents": 150,
        });
        send(
            &self.http,
            Method::POST,
            &format!("{base}/orders"),
            Some(&body),
        )
        .await
    }

    /// `n` order creates at once; their answers.
    async fn burst(&self, base: &str, tag: &str, n: usize) -> Vec<Outcome> {
        let mut tasks = Vec::new();
        for i in 0..n {
            let (http, base, tag, run, customer_id) = (
                self.http.clone(),
                base.to_string(),
                tag.to_string(),
                self.run.clone(),
                self.customer_id,
            );
            tasks.push(tokio::spawn(async move {
                let body = json!({
                    "customer_id": customer_id, "product": format!("{run}-{tag}-{i}"),
                    "quantity": 2, "unit_price_cents": 150,
                });
                send(&http, Method::POST, &format!("{base}/orders"), Some(&body)).await
            }));
        }
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.expect("order create task"));
        }
        answers
    }

    /// Rows whose product starts with `<run>-<tag>-`.
    async fn rows(&self, tag: &str) -> Vec<String> {
        sqlx::query_scalar("SELECT product FROM orders WHERE product LIKE $1 ORDER BY product")
            .bind(format!("{}-{tag}-%", self.run))
            .fetch_all(&self.pool)
            .await
            .expect("read orders back")
    }

    /// `/healthz` and `/compute` on the gateway, `n` times each, sequentially.
    async fn gateway_side_routes(&self, n: usize) -> Vec<Outcome> {
        let mut answers = Vec::new();
        for _ in 0..n {
            answers.push(client::get(&self.http, &format!("{}/healthz", self.gateway)).await);
            answers
                .push(client::get(&self.http, &format!("{}/compute?n=1000", self.gateway)).await);
        }
        answers
    }
}

fn expect_all(
    problems: &mut Vec<String>,
    what: &str,
    answers: &[Outcome],
    label: &str,
    bound: Duration,
) {
    for a in answers {
        if a.label() != label {
            problems.push(format!(
                "{what}: {} after {:?} ({}), expected {label}",
                a.label(),
                a.elapsed,
                a.error.as_deref().unwrap_or("")
            ));
        } else if a.elapsed > bound {
            problems.push(format!(
                "{what}: {label} only after {:?} (bound {bound:?})",
                a.elapsed
            ));
        }
    }
}

fn times(answers: &[Outcome]) -> Value {
    spread(&mut answers.iter().map(|a| a.elapsed).collect::<Vec<_>>())
}

/// The topology under test, on a Postgres of its own: customer-service is the one that fails.
struct Faulted {
    stack: Stack,
    _cluster: Cluster,
}

impl Faulted {
    fn customer_service(&mut self) -> &mut Proc {
        self.stack
            .proc_mut(Service::CustomerService)
            .expect("customer-service runs in the topology")
    }

    fn customer_service_port(&self) -> u16 {
        self.stack
            .customer_service
            .as_ref()
            .expect("customer-service is in the topology")
            .port
    }

    /// A new customer-service on the same port, in place of the one that failed.
    async fn restart_customer_service(&mut self) {
        let config = self
            .stack
            .customer_service
            .clone()
            .expect("customer-service is in the topology");
        *self.customer_service() = start_ready(&config).await.expect("the service starts");
    }
}

async fn upstream_faults(runtime: Runtime) {
    let (mut faulted, s) = start(runtime).await;
    let mut problems = Vec::new();
    let mut figures = json!({"runtime": runtime.as_str(),
        "order_service_upstream_timeout_ms": ORDER_TIMEOUT.as_millis() as u64,
        "gateway_upstream_timeout_ms": GATEWAY_TIMEOUT.as_millis() as u64});

    figures["killed"] = killed(&s, &mut faulted, &mut problems).await;
    // Back: a new customer-service on the same port; the order path works again at once.
    faulted.restart_customer_service().await;
    expect_created(&s, "back", "restarted customer-service", &mut problems).await;
    figures["hung"] = hung(&s, &mut faulted, &mut problems).await;
    figures["slow"] = slow(&s, &mut faulted, &mut problems).await;
    // And once more a real customer-service: no restart of order-service or the gateway needed.
    faulted.restart_customer_service().await;
    expect_created(&s, "again", "after the faults", &mut problems).await;
    let orders = faulted
        .stack
        .proc_mut(Service::OrderService)
        .expect("order-service runs in the topology");
    if !orders.is_running() {
        problems.push(format!(
            "order-service exited during the faults:\n{}",
            orders.log_tail(20)
        ));
    }

    record_figures(&format!("{}_upstream_faults", runtime.as_str()), figures);
    assert_no_problems("upstream faults", &problems);
}

/// The topology with its timeouts, a customer to order for, and an order that goes through.
async fn start(runtime: Runtime) -> (Faulted, Setup) {
    let (cluster, db) = throwaway_database().await;
    let stack = Topology::new(runtime, &db)
        .upstream_timeout_ms(ORDER_TIMEOUT.as_millis() as u64)
        .gateway_timeout_ms(GATEWAY_TIMEOUT.as_millis() as u64)
        .start()
        .await
        .expect("the services start");

    let http = client(CLIENT_TIMEOUT);
    let gw = stack.gateway_url.clone();
    let seed = send(
        &http,
        Method::POST,
        &format!("{gw}/customers"),
        Some(&json!({"name": "Fault", "email": "fault@rel.example.com"})),
    )
    .await;
    assert_eq!(seed.status, Some(201), "seed customer: {}", seed.body);
    let s = Setup {
        http,
        gateway: gw.clone(),
        order_service: stack
            .order_service
            .as_ref()
            .expect("order-service is in the topology")
            .url(),
        customer_id: seed.body["id"].as_i64().expect("id"),
        run: format!("{}-{}", runtime.as_str(), unique_suffix()),
        pool: cluster.pool("crm").await.expect("a pool"),
    };
    let baseline = s.create_order(&gw, "baseline", 0).await;
    assert_eq!(
        baseline.status,
        Some(201),
        "baseline order: {}",
        baseline.body
    );
    let faulted = Faulted {
        stack,
        _cluster: cluster,
    };
    (faulted, s)
}

/// One order create through the gateway must succeed again (within 5 s).
async fn expect_created(s: &Setup, tag: &str, what: &str, problems: &mut Vec<String>) {
    let answer = s.create_order(&s.gateway, tag, 0).await;
    expect_all(
        problems,
        &format!("{what}: order create"),
        std::slice::from_ref(&answer),
        "201",
        Duration::from_secs(5),
    );
}

/// 1. Killed: SIGKILL customer-service while order creates stream through the gateway.
async fn killed(s: &Setup, faulted: &mut Faulted, problems: &mut Vec<String>) -> Value {
    let stop = Arc::new(AtomicBool::new(false));
    let streams: Vec<_> = (0..4)
        .map(|worker| stream_creates(s, worker, &stop))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    faulted.customer_service().kill().expect("SIGKILL");
    let killed_at = Instant::now();
    let side = s.gateway_side_routes(5).await;
    let customer_read = client::get(
        &s.http,
        &format!("{}/customers/{}", s.gateway, s.customer_id),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let mut stream: Vec<(String, Outcome)> = Vec::new();
    for task in streams {
        stream.extend(task.await.expect("stream task"));
    }
    let after_kill: Vec<Outcome> = stream
        .iter()
        .filter(|(_, a)| a.started > killed_at)
        .map(|(_, a)| a.clone())
        .collect();
    expect_all(
        problems,
        "killed: order create",
        &after_kill,
        "502 upstream_unavailable",
        ORDER_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "killed: GET /customers/{id} via gateway",
        std::slice::from_ref(&customer_read),
        "502 upstream_unavailable",
        GATEWAY_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "killed: gateway /healthz and /compute",
        &side,
        "200",
        Duration::from_secs(2),
    );
    for (_, a) in &stream {
        if !matches!(a.label().as_str(), "201" | "502 upstream_unavailable") {
            problems.push(format!(
                "killed: order create around the kill answered {}",
                a.label()
            ));
        }
    }
    // Exactly the acknowledged creates were written.
    let rows = s.rows("killed").await;
    for (product, a) in &stream {
        let stored = rows.contains(product);
        if a.is_2xx() != stored {
            problems.push(format!(
                "killed: {product} answered {} but stored: {stored}",
                a.label()
            ));
        }
    }
    json!({
        "order_creates": status_counts(stream.iter().map(|(_, a)| a)),
        "order_create_502_time": times(&after_kill),
        "gateway_healthz_compute_time": times(&side),
    })
}

/// A worker sending order creates through the gateway, one after the other, until `stop`;
/// each answer with the product it tried to store.
fn stream_creates(
    s: &Setup,
    worker: usize,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<(String, Outcome)>> {
    let (http, gw, stop, run, cid) = (
        s.http.clone(),
        s.gateway.clone(),
        stop.clone(),
        s.run.clone(),
        s.customer_id,
    );
    tokio::spawn(async move {
        let mut answers = Vec::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let product = format!("{run}-killed-{worker}x{n}");
            let body = json!({"customer_id": cid, "product": product, "quantity": 1});
            let answer = send(&http, Method::POST, &format!("{gw}/orders"), Some(&body)).await;
            answers.push((product, answer));
            n += 1;
        }
        answers
    })
}

/// 2. Hung: SIGSTOP. Connections are accepted by the kernel, nothing answers.
async fn hung(s: &Setup, faulted: &mut Faulted, problems: &mut Vec<String>) -> Value {
    faulted.customer_service().signal(libc::SIGSTOP);
    let hung_creates = {
        let s2 = s.clone();
        tokio::spawn(async move { s2.burst(&s2.gateway, "hung", 16).await })
    };
    let direct = {
        let s3 = s.clone();
        tokio::spawn(async move { s3.create_order(&s3.order_service, "hung-direct", 0).await })
    };
    let customer_read = {
        let (http, url) = (
            s.http.clone(),
            format!("{}/customers/{}", s.gateway, s.customer_id),
        );
        tokio::spawn(async move { client::get(&http, &url).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let side_started = Instant::now();
    let side = s.gateway_side_routes(5).await;
    let side_done = side_started.elapsed();
    let hung = hung_creates.await.expect("hung creates");
    let direct = direct.await.expect("direct create");
    let customer_read = customer_read.await.expect("customer read");
    expect_all(
        problems,
        "hung: order create via gateway",
        &hung,
        "504 upstream_timeout",
        ORDER_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "hung: order create at order-service",
        std::slice::from_ref(&direct),
        "504 upstream_timeout",
        ORDER_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "hung: GET /customers/{id} via gateway",
        std::slice::from_ref(&customer_read),
        "504 upstream_timeout",
        GATEWAY_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "hung: gateway /healthz and /compute",
        &side,
        "200",
        Duration::from_secs(2),
    );
    // The side routes were all answered while the creates were still stuck.
    let first_create_done = hung.iter().map(Outcome::finished).min();
    if let Some(done) = first_create_done {
        if side.iter().any(|a| a.finished() > done) {
            problems.push(format!(
                "hung: the gateway's /healthz and /compute were not answered while order creates were stuck ({side_done:?})"
            ));
        }
    }
    for a in hung.iter().chain([&direct]) {
        if a.elapsed < ORDER_TIMEOUT.mul_f64(0.9) {
            problems.push(format!(
                "hung: 504 after only {:?}, before the timeout",
                a.elapsed
            ));
        }
    }
    expect_nothing_written(s, "hung", problems).await;
    faulted.customer_service().signal(libc::SIGCONT);
    expect_created(s, "resumed", "resumed customer-service", problems).await;
    json!({
        "order_creates_via_gateway": status_counts(&hung),
        "order_create_504_time": times(&hung),
        "order_create_504_time_at_order_service_ms": ms(direct.elapsed),
        "customer_read_via_gateway_504_ms": ms(customer_read.elapsed),
        "gateway_healthz_compute_time_while_stuck": times(&side),
    })
}

/// 3. Slow: a stub that answers 200, but only after the timeout plus 1 s.
async fn slow(s: &Setup, faulted: &mut Faulted, problems: &mut Vec<String>) -> Value {
    faulted.customer_service().kill().expect("SIGKILL");
    let late = ORDER_TIMEOUT + Duration::from_secs(1);
    let (stub, _) = Stub::start(
        faulted.customer_service_port(),
        Arc::new(move |_: &str| late),
    )
    .await;
    let slow_creates = {
        let s2 = s.clone();
        tokio::spawn(async move { s2.burst(&s2.gateway, "slow", 8).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let side = s.gateway_side_routes(3).await;
    let slow = slow_creates.await.expect("slow creates");
    expect_all(
        problems,
        "slow: order create via gateway",
        &slow,
        "504 upstream_timeout",
        ORDER_TIMEOUT + MARGIN,
    );
    expect_all(
        problems,
        "slow: gateway /healthz and /compute",
        &side,
        "200",
        Duration::from_secs(2),
    );
    let stub_hits = stub.hits.load(Ordering::SeqCst);
    if stub_hits < slow.len() {
        problems.push(format!(
            "slow: the stub saw {stub_hits} customer checks for {} creates",
            slow.len()
        ));
    }
    // Let the late answers arrive (and be ignored), then check nothing was written.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    expect_nothing_written(s, "slow", problems).await;
    json!({
        "stub_answers_after_ms": ms(late),
        "order_creates_via_gateway": status_counts(&slow),
        "order_create_504_time": times(&slow),
    })
}

/// No order of the phase `tag` was stored: its customer checks all timed out.
async fn expect_nothing_written(s: &Setup, tag: &str, problems: &mut Vec<String>) {
    let rows = s.rows(tag).await;
    if !rows.is_empty() {
        problems.push(format!(
            "{tag}: {} order(s) written although the customer check timed out",
            rows.len()
        ));
    }
}
