//! Postgres's connection limit: when Postgres refuses a new connection ("sorry, too many clients
//! already", SQLSTATE 53300), a read through the gateway is answered 503
//! `database_unavailable` — never a 500, never a hang — and the stack serves again by itself
//! once slots are free. The stack's pooled connections are cut first (Postgres restarted with
//! few slots, all of them then taken by this test), so each stack must open a new one: Axum's
//! sqlx pool and Spin's host-side `pg4` pool alike.

use std::time::{Duration, Instant};

use crm_reliability_tests::client::{self, client, Outcome, CLIENT_TIMEOUT};
use crm_reliability_tests::stack::{Runtime, Shape};
use crm_reliability_tests::{for_each_runtime, record_figures, start_stack};
use reqwest::Method;
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// Postgres's slots while the test holds them all: few, so taking them is quick.
const SLOTS: u32 = 12;
/// Reads sent while every slot is taken.
const READS: usize = 10;
/// Each of them must be answered within this: the data service's database acquire timeout
/// (1 s by default) plus the gateway's upstream timeout, plus a margin. Later is a hang.
const ANSWER_BOUND: Duration = Duration::from_secs(6);
/// Slots free again → the stack serving again: much more than this is a failure to recover.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
const UPSTREAM_TIMEOUT_MS: u64 = 2000;

for_each_runtime!(postgres_refuses_connections => refused_connections, within Duration::from_secs(120));

async fn refused_connections(runtime: Runtime) {
    let (mut cluster, stack) = start_stack(runtime, Shape::Services, UPSTREAM_TIMEOUT_MS).await;
    let http = client(CLIENT_TIMEOUT);
    let read_url = created_customer_url(&http, &stack.gateway_url).await;

    // Every pooled connection gone, and no slot left for a new one.
    cluster.stop_server(libc::SIGINT).expect("Postgres stops");
    cluster.set_max_connections(SLOTS);
    cluster.start_server().await.expect("Postgres starts again");
    let (hogs, refusal) = take_every_slot(&cluster.url("crm")).await;
    assert!(
        refusal.contains("53300") || refusal.contains("too many clients"),
        "Postgres refused the test's own connection with something else: {refusal}"
    );

    let mut refused = Vec::new();
    for _ in 0..READS {
        refused.push(client::get(&http, &read_url).await);
    }
    let problems: Vec<String> = refused
        .iter()
        .filter(|o| o.label() != "503 database_unavailable" || o.elapsed > ANSWER_BOUND)
        .map(|o| format!("{} after {:?}: {}", o.label(), o.elapsed, o.body))
        .collect();

    for conn in hogs {
        let _ = conn.close().await;
    }
    let recovered = recovery(&http, &read_url).await;

    let slowest = refused.iter().map(|o| o.elapsed).max().unwrap_or_default();
    record_figures(
        &format!("{}_postgres_refuses_connections", runtime.as_str()),
        json!({
            "runtime": runtime.as_str(),
            "slots": SLOTS,
            "answers_while_refused": client::status_counts(&refused),
            "slowest_answer_ms": client::ms(slowest),
            "recovered_after_ms": recovered.map(client::ms),
        }),
    );
    assert!(
        problems.is_empty(),
        "while Postgres refused connections, every read must be a prompt 503 \
         database_unavailable:\n{}",
        problems.join("\n")
    );
    assert!(
        recovered.is_some(),
        "no 200 within {RECOVERY_BOUND:?} of Postgres's slots being free again"
    );
}

/// A customer created through the gateway; the URL to read it back.
async fn created_customer_url(http: &reqwest::Client, gateway: &str) -> String {
    let body = json!({"name": "Ada Limit", "email": format!("limit-{}@example.com", crm_reliability_tests::unique_suffix())});
    let created = client::send(
        http,
        Method::POST,
        &format!("{gateway}/customers"),
        Some(&body),
    )
    .await;
    assert_eq!(created.status, Some(201), "create: {}", created.body);
    let id = created.body["id"].as_i64().expect("the new customer's id");
    let url = format!("{gateway}/customers/{id}");
    let read = client::get(http, &url).await;
    assert_eq!(read.status, Some(200), "read back: {}", read.body);
    url
}

/// Connections as the superuser (who may also take the reserved slots) until Postgres refuses
/// one; those connections and the refusal's text.
async fn take_every_slot(url: &str) -> (Vec<PgConnection>, String) {
    let mut hogs = Vec::new();
    loop {
        match PgConnection::connect(url).await {
            Ok(conn) => hogs.push(conn),
            Err(error) => return (hogs, format!("{error:?} {error}")),
        }
        assert!(
            hogs.len() <= SLOTS as usize,
            "Postgres accepted more than its {SLOTS} slots"
        );
    }
}

/// The time from now to the first 200, polling; `None` past [`RECOVERY_BOUND`].
async fn recovery(http: &reqwest::Client, url: &str) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < RECOVERY_BOUND {
        let answer: Outcome = client::get(http, url).await;
        if answer.status == Some(200) {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
