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
use crm_reliability_tests::pg::{self, Cluster};
use crm_reliability_tests::procs::free_port;
use crm_reliability_tests::stack::{
    start_ready, start_service, Runtime, Service, ServiceConfig, NOWHERE,
};
use crm_reliability_tests::stub::Stub;
use crm_reliability_tests::{assert_no_problems, record_figures, run_test, unique_suffix};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

/// order-service's UPSTREAM_TIMEOUT_MS (its customer check).
const ORDER_TIMEOUT: Duration = Duration::from_millis(1000);
/// The gateway's: longer than order-service's, so order-service's own 504 reaches the client.
const GATEWAY_TIMEOUT: Duration = Duration::from_millis(2000);
/// How much later than its timeout a 502/504 may come before it counts as a hang.
const MARGIN: Duration = Duration::from_secs(2);

#[test]
fn axum_upstream_faults() {
    run_test(
        "axum_upstream_faults",
        Duration::from_secs(180),
        upstream_faults(Runtime::Axum),
    );
}

#[test]
fn spin_upstream_faults() {
    run_test(
        "spin_upstream_faults",
        Duration::from_secs(180),
        upstream_faults(Runtime::Spin),
    );
}

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

async fn upstream_faults(runtime: Runtime) {
    let cluster = Cluster::start().await.expect("a throwaway Postgres");
    let db = cluster
        .create_database("crm")
        .await
        .expect("CREATE DATABASE");
    if runtime == Runtime::Spin {
        pg::migrate(&db).await.expect("the schema");
    }
    let cs_config = ServiceConfig {
        runtime,
        svc: Service::CustomerService,
        port: free_port().expect("a free port"),
        database_url: db.clone(),
        customer_service_url: NOWHERE.to_string(),
        order_service_url: NOWHERE.to_string(),
        upstream_timeout_ms: ORDER_TIMEOUT.as_millis() as u64,
        metrics_port: None,
    };
    let os_config = ServiceConfig {
        svc: Service::OrderService,
        port: free_port().expect("a free port"),
        customer_service_url: cs_config.url(),
        ..cs_config.clone()
    };
    let gw_config = ServiceConfig {
        svc: Service::Gateway,
        port: free_port().expect("a free port"),
        customer_service_url: cs_config.url(),
        order_service_url: os_config.url(),
        upstream_timeout_ms: GATEWAY_TIMEOUT.as_millis() as u64,
        ..cs_config.clone()
    };
    let mut customers = start_ready(&cs_config).await.expect("the service starts");
    let mut orders = start_ready(&os_config).await.expect("the service starts");
    let _gateway = start_service(&gw_config).await.expect("the service starts");

    let http = client(CLIENT_TIMEOUT);
    let gw = gw_config.url();
    let seed = send(
        &http,
        Method::POST,
        &format!("{gw}/customers"),
        Some(&json!({"name": "Fault", "email": "fault@rel.example.com"})),
    )
    .await;
    assert_eq!(seed.status, Some(201), "seed customer: {}", seed.body);
    let s = Setup {
        http: http.clone(),
        gateway: gw.clone(),
        order_service: os_config.url(),
        customer_id: seed.body["id"].as_i64().expect("id"),
        run: format!("{}-{}", runtime.as_str(), unique_suffix()),
        pool: cluster.pool("crm").await.expect("a pool"),
    };
    let order_bound = ORDER_TIMEOUT + MARGIN;
    let mut problems = Vec::new();
    let mut figures = json!({"runtime": runtime.as_str(),
        "order_service_upstream_timeout_ms": ORDER_TIMEOUT.as_millis() as u64,
        "gateway_upstream_timeout_ms": GATEWAY_TIMEOUT.as_millis() as u64});

    let baseline = s.create_order(&gw, "baseline", 0).await;
    assert_eq!(
        baseline.status,
        Some(201),
        "baseline order: {}",
        baseline.body
    );

    // 1. Killed: SIGKILL customer-service while order creates stream through the gateway.
    let stop = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::new();
    for worker in 0..4 {
        let (http, gw, stop, run, cid) = (
            http.clone(),
            gw.clone(),
            stop.clone(),
            s.run.clone(),
            s.customer_id,
        );
        streams.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"customer_id": cid, "product": format!("{run}-killed-{worker}x{n}"), "quantity": 1});
                answers.push((format!("{run}-killed-{worker}x{n}"), send(&http, Method::POST, &format!("{gw}/orders"), Some(&body)).await));
                n += 1;
            }
            answers
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    customers.kill().expect("SIGKILL");
    let killed_at = Instant::now();
    let side = s.gateway_side_routes(5).await;
    let customer_read = client::get(&http, &format!("{gw}/customers/{}", s.customer_id)).await;
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
        &mut problems,
        "killed: order create",
        &after_kill,
        "502 upstream_unavailable",
        order_bound,
    );
    expect_all(
        &mut problems,
        "killed: GET /customers/{id} via gateway",
        std::slice::from_ref(&customer_read),
        "502 upstream_unavailable",
        GATEWAY_TIMEOUT + MARGIN,
    );
    expect_all(
        &mut problems,
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
    figures["killed"] = json!({
        "order_creates": status_counts(stream.iter().map(|(_, a)| a)),
        "order_create_502_time": times(&after_kill),
        "gateway_healthz_compute_time": times(&side),
    });

    // Back: a new customer-service on the same port; the order path works again at once.
    customers = start_ready(&cs_config).await.expect("the service starts");
    let back = s.create_order(&gw, "back", 0).await;
    expect_all(
        &mut problems,
        "restarted customer-service: order create",
        std::slice::from_ref(&back),
        "201",
        Duration::from_secs(5),
    );

    // 2. Hung: SIGSTOP. Connections are accepted by the kernel, nothing answers.
    customers.signal(libc::SIGSTOP);
    let hung_creates = {
        let s2 = s.clone();
        tokio::spawn(async move { s2.burst(&s2.gateway, "hung", 16).await })
    };
    let direct = {
        let s3 = s.clone();
        tokio::spawn(async move { s3.create_order(&s3.order_service, "hung-direct", 0).await })
    };
    let customer_read = {
        let (http, url) = (http.clone(), format!("{gw}/customers/{}", s.customer_id));
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
        &mut problems,
        "hung: order create via gateway",
        &hung,
        "504 upstream_timeout",
        order_bound,
    );
    expect_all(
        &mut problems,
        "hung: order create at order-service",
        std::slice::from_ref(&direct),
        "504 upstream_timeout",
        order_bound,
    );
    expect_all(
        &mut problems,
        "hung: GET /customers/{id} via gateway",
        std::slice::from_ref(&customer_read),
        "504 upstream_timeout",
        GATEWAY_TIMEOUT + MARGIN,
    );
    expect_all(
        &mut problems,
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
    let rows = s.rows("hung").await;
    if !rows.is_empty() {
        problems.push(format!(
            "hung: {} order(s) written although the customer check timed out",
            rows.len()
        ));
    }
    customers.signal(libc::SIGCONT);
    let resumed = s.create_order(&gw, "resumed", 0).await;
    expect_all(
        &mut problems,
        "resumed customer-service: order create",
        std::slice::from_ref(&resumed),
        "201",
        Duration::from_secs(5),
    );
    figures["hung"] = json!({
        "order_creates_via_gateway": status_counts(&hung),
        "order_create_504_time": times(&hung),
        "order_create_504_time_at_order_service_ms": ms(direct.elapsed),
        "customer_read_via_gateway_504_ms": ms(customer_read.elapsed),
        "gateway_healthz_compute_time_while_stuck": times(&side),
    });

    // 3. Slow: a stub that answers 200, but only after the timeout plus 1 s.
    customers.kill().expect("SIGKILL");
    let late = ORDER_TIMEOUT + Duration::from_secs(1);
    let (stub, _) = Stub::start(cs_config.port, Arc::new(move |_: &str| late)).await;
    let slow_creates = {
        let s2 = s.clone();
        tokio::spawn(async move { s2.burst(&s2.gateway, "slow", 8).await })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    let side = s.gateway_side_routes(3).await;
    let slow = slow_creates.await.expect("slow creates");
    expect_all(
        &mut problems,
        "slow: order create via gateway",
        &slow,
        "504 upstream_timeout",
        order_bound,
    );
    expect_all(
        &mut problems,
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
    let rows = s.rows("slow").await;
    if !rows.is_empty() {
        problems.push(format!(
            "slow: {} order(s) written although the customer check timed out",
            rows.len()
        ));
    }
    figures["slow"] = json!({
        "stub_answers_after_ms": ms(late),
        "order_creates_via_gateway": status_counts(&slow),
        "order_create_504_time": times(&slow),
    });
    drop(stub);

    // And once more a real customer-service: no restart of order-service or the gateway needed.
    let _customers = start_ready(&cs_config).await.expect("the service starts");
    let again = s.create_order(&gw, "again", 0).await;
    expect_all(
        &mut problems,
        "after the faults: order create",
        std::slice::from_ref(&again),
        "201",
        Duration::from_secs(5),
    );
    if !orders.is_running() {
        problems.push(format!(
            "order-service exited during the faults:\n{}",
            orders.log_tail(20)
        ));
    }

    record_figures(&format!("{}_upstream_faults", runtime.as_str()), figures);
    assert_no_problems("upstream faults", &problems);
}
