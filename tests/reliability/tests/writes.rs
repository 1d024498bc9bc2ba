//! No lost writes: concurrent creates and updates through the gateway, then every entity read
//! back through SQL and the API; then the same with Postgres stopped and started again in the
//! middle of the load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crm_reliability_tests::client::{self, client, ms, spread, Outcome, CLIENT_TIMEOUT};
use crm_reliability_tests::load::{self, counts_by_op, LoadSpec, Op};
use crm_reliability_tests::pg::Cluster;
use crm_reliability_tests::stack::{Runtime, Shape, Stack};
use crm_reliability_tests::{
    assert_no_problems, for_each_runtime, record_figures, start_stack, unique_suffix,
};
use serde_json::{json, Value};

/// The stacks' own default upstream timeout (the Postgres restart runs with it).
const UPSTREAM_TIMEOUT_MS: u64 = 2000;
/// Without faults nothing may fail, and that is about writes, not speed: a generous timeout
/// keeps a slow machine (2 cores shared with Postgres and the load) from turning latency into
/// 504s.
const NO_FAULT_UPSTREAM_TIMEOUT_MS: u64 = 10_000;
/// Concurrent writers.
const LOAD_WORKERS: usize = 32;
const RESTART_WORKERS: usize = 12;
/// How long Postgres stays down.
const OUTAGE: Duration = Duration::from_secs(3);
/// Every answer during the outage must come within this: the data services' database acquire
/// timeout (2 s by default) plus the upstream timeout, plus a margin. Later is a hang.
const OUTAGE_ANSWER_BOUND: Duration = Duration::from_secs(6);
/// Postgres back → the stack serving again: much more than this is a failure to recover.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

for_each_runtime!(no_lost_writes_under_load => no_lost_writes, within Duration::from_secs(180));
for_each_runtime!(postgres_restart_under_load =>
    |runtime| postgres_restart(runtime, Stop::Fast), within Duration::from_secs(180));
for_each_runtime!(postgres_crash_under_load =>
    |runtime| postgres_restart(runtime, Stop::Immediate), within Duration::from_secs(180));

/// How Postgres goes down.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Fast shutdown (SIGINT): sessions are ended, the server stops cleanly.
    Fast,
    /// Immediate shutdown (SIGQUIT): everything quits at once, like a crash; the restart
    /// replays the WAL, and every acknowledged commit must be there.
    Immediate,
}

/// 32 workers × 25 writes, no fault: every one must be acknowledged and read back as such.
async fn no_lost_writes(runtime: Runtime) {
    let (cluster, stack) =
        start_stack(runtime, Shape::Services, NO_FAULT_UPSTREAM_TIMEOUT_MS).await;
    let http = client(CLIENT_TIMEOUT);
    let run = format!("{}-{}", runtime.as_str(), unique_suffix());
    let seeds = load::seed_customers(&http, &stack.gateway_url, &run, 8).await;
    let spec = LoadSpec {
        base: stack.gateway_url.clone(),
        run: run.clone(),
        workers: LOAD_WORKERS,
        ops_per_worker: 25,
        customer_ids: seeds,
        stop: Arc::new(AtomicBool::new(false)),
        http: http.clone(),
    };
    let out = load::run(spec).await;
    let pool = cluster.pool("crm").await.expect("a pool");
    let verified = load::verify(&out.entities, &run, &pool, &http, &stack.gateway_url).await;

    let wall = load::wall_time(&out.records);
    let mut latencies: Vec<Duration> = out.records.iter().map(|r| r.answer.elapsed).collect();
    let mut figures = verified.figures();
    figures["runtime"] = json!(runtime.as_str());
    figures["workers"] = json!(LOAD_WORKERS);
    figures["requests"] = json!(out.records.len());
    figures["statuses"] = json!(counts_by_op(&out.records));
    figures["writes_per_second"] = json!((out.records.len() as f64 / wall.as_secs_f64()).round());
    figures["latency"] = spread(&mut latencies);
    record_figures(&format!("{}_no_lost_writes", runtime.as_str()), figures);

    let mut problems = out.problems.clone();
    for record in out.records.iter().filter(|r| !r.answer.is_2xx()) {
        problems.push(format!(
            "{} answered {} without any fault",
            record.op.name(),
            record.answer.label()
        ));
    }
    problems.extend(verified.problems.iter().cloned());
    assert_no_problems("writes under load", &problems);
    assert_eq!(verified.acked_writes, out.acked_writes());
    assert_eq!(
        verified.acked_writes,
        out.records.len() as u64,
        "every write acknowledged and verified"
    );
}

/// Load through the gateway; Postgres stopped after 1.5 s, started again 3 s later; the load
/// goes on until 2 s after the stack serves again.
async fn postgres_restart(runtime: Runtime, stop: Stop) {
    let (mut cluster, stack) = start_stack(runtime, Shape::Services, UPSTREAM_TIMEOUT_MS).await;
    let http = client(CLIENT_TIMEOUT);
    let run = format!("{}-{}", runtime.as_str(), unique_suffix());
    let traffic = Traffic::start(&http, &stack.gateway_url, &run).await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let outage = take_postgres_down(&mut cluster, stop, &http, &stack).await;
    // Wait (bounded) for the probe's first 200, then 2 s more of load.
    let deadline = outage.back_at + RECOVERY_BOUND + Duration::from_secs(5);
    while first_2xx_after(
        traffic.probes.lock().expect("probes").iter(),
        outage.back_at,
    )
    .is_none()
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (out, probes) = traffic.stop().await;

    let pool = cluster.pool("crm").await.expect("a pool");
    let verified = load::verify(&out.entities, &run, &pool, &http, &stack.gateway_url).await;
    let during = out
        .records
        .iter()
        .filter(|r| r.answer.finished() > outage.down_at && r.answer.started < outage.back_at)
        .cloned()
        .collect();
    let seen = Restart {
        outage,
        during,
        out,
        probes,
    };
    let name = match stop {
        Stop::Fast => "postgres_restart",
        Stop::Immediate => "postgres_crash",
    };
    let mut figures = verified.figures();
    restart_figures(&seen, &mut figures);
    figures["runtime"] = json!(runtime.as_str());
    record_figures(&format!("{}_{name}", runtime.as_str()), figures);

    let mut problems = seen.out.problems.clone();
    only_outage_answers(&seen.out.records, &mut problems);
    outage_was_seen(&seen, &mut problems);
    recovered_in_time(&seen, &mut problems);
    problems.extend(verified.problems.iter().cloned());
    assert_no_problems("Postgres restart under load", &problems);
    assert!(verified.acked_writes > 0);
}

/// The writers and the read probe, running against the gateway.
struct Traffic {
    stop_load: Arc<AtomicBool>,
    load: tokio::task::JoinHandle<load::LoadOutput>,
    stop_probe: Arc<AtomicBool>,
    probes: Arc<Mutex<Vec<Outcome>>>,
    probe: tokio::task::JoinHandle<()>,
}

impl Traffic {
    /// [`RESTART_WORKERS`] writers on 8 seeded customers, and a reader that keeps asking for
    /// the first of them: its first 200 after Postgres is back is the recovery.
    async fn start(http: &reqwest::Client, gw: &str, run: &str) -> Traffic {
        let seeds = load::seed_customers(http, gw, run, 8).await;
        let stop_load = Arc::new(AtomicBool::new(false));
        let spec = LoadSpec {
            base: gw.to_string(),
            run: run.to_string(),
            workers: RESTART_WORKERS,
            ops_per_worker: usize::MAX,
            customer_ids: seeds.clone(),
            stop: stop_load.clone(),
            http: http.clone(),
        };
        let load = tokio::spawn(load::run(spec));
        let stop_probe = Arc::new(AtomicBool::new(false));
        let probes = Arc::new(Mutex::new(Vec::new()));
        let probe = tokio::spawn(probe_loop(
            http.clone(),
            format!("{gw}/customers/{}", seeds[0]),
            stop_probe.clone(),
            probes.clone(),
        ));
        Traffic {
            stop_load,
            load,
            stop_probe,
            probes,
            probe,
        }
    }

    /// Stops both; what the writers got, and every probe's answer.
    async fn stop(self) -> (load::LoadOutput, Vec<Outcome>) {
        self.stop_load.store(true, Ordering::Relaxed);
        self.stop_probe.store(true, Ordering::Relaxed);
        let out = self.load.await.expect("load task");
        self.probe.await.expect("probe task");
        let probes = std::mem::take(&mut *self.probes.lock().expect("probes"));
        (out, probes)
    }
}

/// Postgres's outage as the test made it, and the health answers in the middle of it.
struct Outage {
    down_at: Instant,
    back_at: Instant,
    stop_took: Duration,
    gateway_healthz: Outcome,
    customer_service_readyz: Outcome,
}

/// Stops Postgres (`stop`), asks mid-outage whether the gateway is healthy (it has no
/// dependency) and customer-service ready (it is not), and starts Postgres after [`OUTAGE`].
async fn take_postgres_down(
    cluster: &mut Cluster,
    stop: Stop,
    http: &reqwest::Client,
    stack: &Stack,
) -> Outage {
    let signal = match stop {
        Stop::Fast => libc::SIGINT,
        Stop::Immediate => libc::SIGQUIT,
    };
    let down_at = Instant::now();
    let stop_took = cluster.stop_server(signal).expect("Postgres stops");
    tokio::time::sleep(OUTAGE / 2).await;
    let gateway_healthz = client::get(http, &format!("{}/healthz", stack.gateway_url)).await;
    let customer_service = stack.customer_service.as_ref().expect("services shape");
    let customer_service_readyz =
        client::get(http, &format!("{}/readyz", customer_service.url())).await;
    tokio::time::sleep(OUTAGE.saturating_sub(down_at.elapsed())).await;
    let back_at = cluster.start_server().await.expect("Postgres starts");
    Outage {
        down_at,
        back_at,
        stop_took,
        gateway_healthz,
        customer_service_readyz,
    }
}

/// What the load and the probe saw around the outage.
struct Restart {
    outage: Outage,
    /// The writes that were under way while Postgres was down.
    during: Vec<load::Record>,
    out: load::LoadOutput,
    probes: Vec<Outcome>,
}

impl Restart {
    fn recovery_read(&self) -> Option<Duration> {
        first_2xx_after(&self.probes, self.outage.back_at)
    }

    fn recovery_write(&self) -> Option<Duration> {
        first_2xx_after(
            self.out.records.iter().map(|r| &r.answer),
            self.outage.back_at,
        )
    }
}

fn restart_figures(seen: &Restart, figures: &mut Value) {
    let records = &seen.out.records;
    let mut outage_latencies: Vec<Duration> = seen
        .during
        .iter()
        .filter(|r| !r.answer.is_2xx())
        .map(|r| r.answer.elapsed)
        .collect();
    figures["workers"] = json!(RESTART_WORKERS);
    figures["latency_2xx"] = spread(
        &mut records
            .iter()
            .filter(|r| r.answer.is_2xx())
            .map(|r| r.answer.elapsed)
            .collect::<Vec<_>>(),
    );
    figures["requests"] = json!(records.len());
    figures["postgres_stop_ms"] = json!(ms(seen.outage.stop_took));
    figures["outage_ms"] = json!(ms(seen.outage.back_at - seen.outage.down_at));
    figures["recovery_first_2xx_read_ms"] = json!(seen.recovery_read().map(ms));
    figures["recovery_first_2xx_write_ms"] = json!(seen.recovery_write().map(ms));
    figures["statuses"] = json!(counts_by_op(records));
    figures["statuses_during_outage"] = json!(counts_by_op(&seen.during));
    figures["outage_error_answer_time"] = spread(&mut outage_latencies);
    figures["gateway_healthz_during_outage"] = json!(seen.outage.gateway_healthz.label());
    figures["customer_service_readyz_during_outage"] =
        json!(seen.outage.customer_service_readyz.label());
}

/// Every non-2xx answer is an outage answer (503, or 502 for an order create whose customer
/// check met a 503), and came within [`OUTAGE_ANSWER_BOUND`].
fn only_outage_answers(records: &[load::Record], problems: &mut Vec<String>) {
    for record in records {
        let a = &record.answer;
        if a.is_2xx() {
            continue;
        }
        let allowed = match a.label().as_str() {
            "503 database_unavailable" => true,
            // Order create checks the customer first; customer-service answering 503 (its
            // database is down) is a 5xx upstream → 502 (docs/api.md#the-customer-check).
            "502 upstream_unavailable" => record.op == Op::CreateOrder,
            _ => false,
        };
        if !allowed {
            problems.push(format!(
                "{} answered {} after {:?} ({}, {}): not an outage answer",
                record.op.name(),
                a.label(),
                a.elapsed,
                a.service.as_deref().unwrap_or("-"),
                a.error.as_deref().unwrap_or("")
            ));
        } else if a.elapsed > OUTAGE_ANSWER_BOUND {
            problems.push(format!(
                "{} answered {} only after {:?}: a hang",
                record.op.name(),
                a.label(),
                a.elapsed
            ));
        }
    }
}

/// Postgres was really down: writes got 503, the gateway stayed healthy, customer-service was
/// not ready.
fn outage_was_seen(seen: &Restart, problems: &mut Vec<String>) {
    if !seen
        .during
        .iter()
        .any(|r| r.answer.label() == "503 database_unavailable")
    {
        problems.push(
            "no 503 database_unavailable during the outage: was Postgres really down?".into(),
        );
    }
    let healthz = &seen.outage.gateway_healthz;
    if healthz.status != Some(200) {
        problems.push(format!(
            "gateway /healthz during the outage: {}",
            healthz.label()
        ));
    }
    let readyz = &seen.outage.customer_service_readyz;
    if readyz.label() != "503 database_unavailable" {
        problems.push(format!(
            "customer-service /readyz during the outage: {}",
            readyz.label()
        ));
    }
}

/// Reads and writes succeeded again within [`RECOVERY_BOUND`] of Postgres accepting
/// connections, and no probe got a 500 or no answer.
fn recovered_in_time(seen: &Restart, problems: &mut Vec<String>) {
    match seen.recovery_read() {
        Some(t) if t <= RECOVERY_BOUND => {}
        other => problems.push(format!(
            "reads did not recover within {RECOVERY_BOUND:?} of Postgres returning ({other:?})"
        )),
    }
    match seen.recovery_write() {
        Some(t) if t <= RECOVERY_BOUND => {}
        other => problems.push(format!(
            "writes did not recover within {RECOVERY_BOUND:?} of Postgres returning ({other:?})"
        )),
    }
    for probe in seen
        .probes
        .iter()
        .filter(|p| p.status.is_none() || p.status == Some(500))
    {
        problems.push(format!(
            "read probe: {} after {:?}",
            probe.label(),
            probe.elapsed
        ));
    }
}

async fn probe_loop(
    http: reqwest::Client,
    url: String,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<Vec<Outcome>>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let answer = client::get(&http, &url).await;
        answers.lock().expect("probes").push(answer);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn first_2xx_after<'a>(
    answers: impl IntoIterator<Item = &'a Outcome>,
    t: Instant,
) -> Option<Duration> {
    answers
        .into_iter()
        .filter(|a| a.is_2xx() && a.finished() > t)
        .map(|a| a.finished() - t)
        .min()
}
