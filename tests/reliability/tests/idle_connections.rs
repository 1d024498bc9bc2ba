//! Idle client connections up to the gateway's file-descriptor limit: what each runtime does
//! when one more connection would need a descriptor it does not have. The gateway's limit is
//! lowered to [`FD_LIMIT`] (every process of its group, with `prlimit`), then [`IDLE`]
//! connections are opened that never send a byte, then one real request is sent.
//!
//! Each runtime is held to what it does (docs/api.md, "Idle connections up to the
//! file-descriptor limit"):
//! - Axum stalls while it is out of descriptors and serves again once idle connections close
//!   (its header-read timeout closes them after 10 s): the request is answered, the gateway
//!   keeps running;
//! - Spin 3.5.1's `spin trigger http` exits on the first failed accept (`listener.accept()
//!   .await?` in `crates/trigger-http/src/server.rs`). If a Spin release stops doing that, this
//!   test fails and says to update it and the docs.

use std::time::{Duration, Instant};

use crm_reliability_tests::client::{self, client};
use crm_reliability_tests::stack::{Runtime, Service, Shape};
use crm_reliability_tests::{for_each_runtime, record_figures, start_stack};
use serde_json::json;
use tokio::net::TcpStream;

/// The gateway's descriptor limit during the test (a common default soft limit).
const FD_LIMIT: u64 = 1024;
/// Idle connections opened: past the limit.
const IDLE: usize = 1100;
/// Axum must answer within this: its 10 s header-read timeout frees descriptors, plus margin.
const ANSWER_BOUND: Duration = Duration::from_secs(20);

for_each_runtime!(idle_connections_past_the_descriptor_limit => idle_connections, within Duration::from_secs(120));

async fn idle_connections(runtime: Runtime) {
    let (_cluster, mut stack) = start_stack(runtime, Shape::Services, 2000).await;
    let gateway_pid = stack
        .procs
        .iter()
        .find(|(service, _)| *service == Service::Gateway)
        .map(|(_, proc)| proc.pid())
        .expect("a gateway process");
    let limited = limit_group(gateway_pid, FD_LIMIT);
    assert!(
        limited > 0,
        "no process of group {gateway_pid} took the limit"
    );

    let addr = stack.gateway_url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    let mut refused = None;
    for i in 0..IDLE {
        match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(&addr)).await {
            Ok(Ok(stream)) => idle.push(stream),
            other => {
                refused = Some(format!("connection {i}: {other:?}"));
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let answer = client::get(
        &client(ANSWER_BOUND),
        &format!("{}/healthz", stack.gateway_url),
    )
    .await;
    let waited = started.elapsed();
    let gateway_running = stack
        .procs
        .iter_mut()
        .find(|(service, _)| *service == Service::Gateway)
        .is_some_and(|(_, proc)| proc.is_running());
    drop(idle);

    record_figures(
        &format!("{}_idle_connections", runtime.as_str()),
        json!({
            "runtime": runtime.as_str(),
            "fd_limit": FD_LIMIT,
            "idle_opened": IDLE,
            "refused": refused,
            "request": answer.label(),
            "request_ms": client::ms(waited),
            "gateway_running_after": gateway_running,
        }),
    );
    match runtime {
        Runtime::Axum => {
            assert_eq!(
                answer.status,
                Some(200),
                "Axum's gateway must serve again once idle connections are closed: {answer:?}"
            );
            assert!(gateway_running, "Axum's gateway exited");
        }
        Runtime::Spin => assert!(
            !gateway_running,
            "spin trigger http survived running out of descriptors (it exited on Spin 3.5.1): \
             update this test and docs/api.md's idle-connection note"
        ),
    }
}

/// Sets RLIMIT_NOFILE to `limit` on every process whose process group is `pgid` (`spin up`'s
/// trigger is a child in its group); how many took it.
fn limit_group(pgid: i32, limit: u64) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: state, ppid, pgrp, …
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        if rest
            .split_whitespace()
            .nth(2)
            .and_then(|p| p.parse::<i32>().ok())
            != Some(pgid)
        {
            continue;
        }
        let rlim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: limit,
        };
        // SAFETY: a valid rlimit for another process of ours; failure is only counted.
        if unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &rlim, std::ptr::null_mut()) } == 0 {
            count += 1;
        }
    }
    count
}
