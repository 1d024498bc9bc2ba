//! Waiting for a service and timing how long it takes: plain GETs, each on a fresh connection
//! (a cold start is measured as a new client sees it). Also the harness's other client, the
//! keep-alive one its load and the suites' requests go through, and the one name of an answer
//! they count by, so every figure spells a status the same way.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::procs::Proc;

/// A client that never reuses a connection and never follows a proxy.
pub fn fresh_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(0)
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds")
}

/// A client for load: keep-alive with up to `idle_per_host` idle connections kept per host, no
/// proxy, no redirects, never retrying; `timeout` per request (an answer later than that
/// counts as none).
pub fn keep_alive_client(timeout: Duration, idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(idle_per_host)
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with these settings always builds")
}

/// How an answer is named in status counts: `200`, `503 overloaded` (status and contract error
/// code), or `no answer (timeout)` (`error_kind`: `timeout`, `connect`, `connection`).
pub fn answer_label(status: Option<u16>, code: Option<&str>, error_kind: Option<&str>) -> String {
    match (status, code) {
        (Some(status), Some(code)) => format!("{status} {code}"),
        (Some(status), None) => status.to_string(),
        (None, _) => format!("no answer ({})", error_kind.unwrap_or("error")),
    }
}

/// One GET: the status, or `None` when there was no HTTP answer.
pub async fn get_status(client: &reqwest::Client, url: &str) -> Option<u16> {
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    Some(status)
}

/// Polls `url` until it answers 200, within `limit`. With `proc`, fails at once (with its log)
/// when that process exits first.
pub async fn wait_for_200(url: &str, limit: Duration, mut proc: Option<&mut Proc>) -> Result<()> {
    let client = fresh_client(Duration::from_secs(2));
    let deadline = Instant::now() + limit;
    loop {
        if get_status(&client, url).await == Some(200) {
            return Ok(());
        }
        if let Some(proc) = proc.as_deref_mut() {
            if !proc.is_running() {
                bail!(
                    "{} exited before {url} answered (log {}):\n{}",
                    proc.name,
                    proc.log.display(),
                    proc.log_tail(40)
                );
            }
        }
        if Instant::now() > deadline {
            let tail = proc.map(|p| p.log_tail(40)).unwrap_or_default();
            bail!("{url} did not answer 200 within {limit:?}\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Time from `since` to the first 200 of `url`, polling every `interval`; `None` when
/// `deadline` passed first. Also returns how many probes failed before.
pub async fn first_200_after(
    url: &str,
    since: Instant,
    interval: Duration,
    deadline: Instant,
) -> (Option<Duration>, u32) {
    let client = fresh_client(Duration::from_secs(2));
    let mut failed = 0;
    while Instant::now() < deadline {
        if get_status(&client, url).await == Some(200) {
            return (Some(since.elapsed()), failed);
        }
        failed += 1;
        tokio::time::sleep(interval).await;
    }
    (None, failed)
}

/// The duration of one GET of `url` that answers 200, on a fresh connection; `None` otherwise.
pub async fn timed_get(client: &reqwest::Client, url: &str) -> Option<Duration> {
    let started = Instant::now();
    (get_status(client, url).await == Some(200)).then(|| started.elapsed())
}
