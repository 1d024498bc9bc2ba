//! Offered load, open-loop: requests sent at a constant arrival rate whatever the answers do (a
//! closed loop — N clients each waiting for its answer before sending again — slows down with
//! the service and never overloads it). Also the quick closed-loop burst that measures a stack's
//! capacity first, so the overload is offered as a multiple of it, and the probe that times the
//! recovery afterwards.
//!
//! Written here rather than driven through k6 so a test can see each answer (status, error
//! code, `retry-after`) beside the processes it samples, in one process; k6's
//! `constant-arrival-rate` does the same for the benchmark. Like k6, the generator says when it
//! could not offer the rate: requests it did not send because too many were outstanding
//! (k6's dropped iterations) and how far its ticks fell behind the schedule (its core was
//! saturated).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::probe::{answer_label, keep_alive_client};

/// How one request ended.
#[derive(Clone, Debug)]
pub struct Answer {
    /// `None` when no answer arrived (refused, reset, client timeout).
    pub status: Option<u16>,
    /// The contract error code of an error body.
    pub code: Option<String>,
    /// Whether a `retry-after` header came with it.
    pub retry_after: bool,
    pub latency: Duration,
    /// What went wrong when no answer arrived: `timeout`, `connect`, `connection`.
    pub error_kind: Option<&'static str>,
    /// Since the start of the run.
    pub sent_at: Duration,
}

impl Answer {
    pub fn is_2xx(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// `200`, `503 overloaded`, `no answer (timeout)` …
    pub fn label(&self) -> String {
        answer_label(self.status, self.code.as_deref(), self.error_kind)
    }
}

/// The open-loop generator's client ([`keep_alive_client`]): 256 idle connections per host,
/// as an overload keeps many requests outstanding at once; `timeout` per request.
pub fn client(timeout: Duration) -> reqwest::Client {
    keep_alive_client(timeout, 256)
}

/// One GET, timed.
pub async fn get(http: &reqwest::Client, url: &str, run_start: Instant) -> Answer {
    let started = Instant::now();
    let result = async {
        let response = http.get(url).send().await?;
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, retry_after, bytes))
    }
    .await;
    let latency = started.elapsed();
    let sent_at = started.duration_since(run_start);
    match result {
        Ok((status, retry_after, bytes)) => Answer {
            status: Some(status),
            code: (status >= 400).then(|| error_code(&bytes)).flatten(),
            retry_after,
            latency,
            error_kind: None,
            sent_at,
        },
        Err(error) => Answer {
            status: None,
            code: None,
            retry_after: false,
            latency,
            error_kind: Some(if error.is_timeout() {
                "timeout"
            } else if error.is_connect() {
                "connect"
            } else {
                "connection"
            }),
            sent_at,
        },
    }
}

fn error_code(body: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(doc.pointer("/error/code")?.as_str()?.to_string())
}

/// What an open-loop run offered and got.
#[derive(Clone, Debug, Default)]
pub struct OpenLoopReport {
    /// The rate asked for (requests per second).
    pub target_rps: f64,
    pub duration: Duration,
    /// Requests sent.
    pub sent: u64,
    /// Ticks at which no request was sent: `max_outstanding` were still unanswered.
    pub dropped: u64,
    /// How far the generator's ticks fell behind their schedule at worst.
    pub max_lag: Duration,
    pub answers: Vec<Answer>,
}

/// The generator's ticks may lag by this much before the run counts as not offered.
pub const LAG_BOUND: Duration = Duration::from_millis(250);

impl OpenLoopReport {
    /// Requests sent per second.
    pub fn offered_rps(&self) -> f64 {
        self.sent as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// Whether the rate was really offered: nothing dropped, no tick late by more than
    /// [`LAG_BOUND`], and at least 95 % of the target sent.
    pub fn offered_in_full(&self) -> bool {
        self.dropped == 0
            && self.max_lag <= LAG_BOUND
            && self.offered_rps() >= 0.95 * self.target_rps
    }

    /// 2xx answers per second of the run.
    pub fn goodput_rps(&self) -> f64 {
        let ok = self.answers.iter().filter(|a| a.is_2xx()).count();
        ok as f64 / self.duration.as_secs_f64().max(1e-9)
    }

    /// Each outcome's share of the answers (0–1), by [`Answer::label`].
    pub fn shares(&self) -> BTreeMap<String, f64> {
        let total = self.answers.len().max(1) as f64;
        let mut counts: BTreeMap<String, f64> = BTreeMap::new();
        for answer in &self.answers {
            *counts.entry(answer.label()).or_default() += 1.0;
        }
        counts.values_mut().for_each(|c| *c /= total);
        counts
    }

    /// Latency quantile `q` (0–1) of the 2xx answers, in ms.
    pub fn success_quantile_ms(&self, q: f64) -> Option<f64> {
        let latencies: Vec<Duration> = self
            .answers
            .iter()
            .filter(|a| a.is_2xx())
            .map(|a| a.latency)
            .collect();
        quantile_ms(latencies, q)
    }

    /// The slowest answer of each error kind (non-2xx), in ms: how quickly excess is refused.
    pub fn slowest_error_ms(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = BTreeMap::new();
        for answer in self.answers.iter().filter(|a| !a.is_2xx()) {
            let ms = answer.latency.as_secs_f64() * 1e3;
            let slot = out.entry(answer.label()).or_default();
            *slot = slot.max(ms);
        }
        out
    }

    /// The figures a report shows.
    pub fn figures(&self) -> serde_json::Value {
        let round = |x: f64| (x * 10.0).round() / 10.0;
        serde_json::json!({
            "target_rps": round(self.target_rps),
            "offered_rps": round(self.offered_rps()),
            "offered_in_full": self.offered_in_full(),
            "dropped": self.dropped,
            "generator_max_lag_ms": round(self.max_lag.as_secs_f64() * 1e3),
            "seconds": round(self.duration.as_secs_f64()),
            "sent": self.sent,
            "goodput_rps": round(self.goodput_rps()),
            "shares": self.shares().into_iter().map(|(k, v)| (k, serde_json::json!((v * 1e4).round() / 1e4))).collect::<serde_json::Map<_, _>>(),
            "success_p50_ms": self.success_quantile_ms(0.5).map(round),
            "success_p99_ms": self.success_quantile_ms(0.99).map(round),
            "slowest_error_ms": self.slowest_error_ms().into_iter().map(|(k, v)| (k, serde_json::json!(round(v)))).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// The `q` quantile (nearest rank) of `latencies`, in ms.
pub fn quantile_ms(mut latencies: Vec<Duration>, q: f64) -> Option<f64> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
    Some(latencies[rank - 1].as_secs_f64() * 1e3)
}

/// GETs `urls` in turn at `rate` per second for `duration`, each on a task of its own, never
/// more than `max_outstanding` unanswered at once (a tick finding that many is dropped and
/// counted); waits for the last answers (each bounded by the client's timeout).
pub async fn open_loop(
    http: &reqwest::Client,
    urls: &[String],
    rate: f64,
    duration: Duration,
    max_outstanding: usize,
) -> OpenLoopReport {
    assert!(
        rate > 0.0 && !urls.is_empty(),
        "open_loop needs a rate and URLs"
    );
    let permits = Arc::new(Semaphore::new(max_outstanding));
    let start = Instant::now();
    let mut report = OpenLoopReport {
        target_rps: rate,
        duration,
        ..OpenLoopReport::default()
    };
    let mut tasks = Vec::new();
    let mut tick: u64 = 0;
    loop {
        let due = Duration::from_secs_f64(tick as f64 / rate);
        if due >= duration {
            break;
        }
        let now = start.elapsed();
        if now < due {
            tokio::time::sleep(due - now).await;
        } else {
            report.max_lag = report.max_lag.max(now - due);
        }
        tick += 1;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            report.dropped += 1;
            continue;
        };
        let url = urls[(tick as usize) % urls.len()].clone();
        let http = http.clone();
        report.sent += 1;
        tasks.push(tokio::spawn(async move {
            let answer = get(&http, &url, start).await;
            drop(permit);
            answer
        }));
    }
    report.duration = start.elapsed().max(duration);
    for task in tasks {
        if let Ok(answer) = task.await {
            report.answers.push(answer);
        }
    }
    report
}

/// A quick capacity figure: `concurrency` clients, each sending its next GET when its answer
/// arrives, for `duration`; 2xx answers per second. A closed loop never overloads the stack,
/// so this is what it serves at full use.
pub async fn closed_loop_capacity(
    http: &reqwest::Client,
    urls: &[String],
    concurrency: usize,
    duration: Duration,
) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let http = http.clone();
        let urls = urls.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut n = worker;
            while start.elapsed() < duration {
                if get(&http, &urls[n % urls.len()], start).await.is_2xx() {
                    ok += 1;
                }
                n += concurrency;
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap_or(0);
    }
    ok as f64 / start.elapsed().as_secs_f64()
}

/// The latency of `n` sequential GETs of `url` (the 2xx ones).
pub async fn probe_latencies(http: &reqwest::Client, url: &str, n: usize) -> Vec<Duration> {
    let start = Instant::now();
    let mut out = Vec::new();
    for _ in 0..n {
        let answer = get(http, url, start).await;
        if answer.is_2xx() {
            out.push(answer.latency);
        }
    }
    out
}

/// Consecutive normal probes that count as recovered.
const RECOVERED_AFTER: usize = 3;

/// The time from now until `url` answers 2xx within `normal` [`RECOVERED_AFTER`] times in a
/// row (counted to the arrival of the first of them), probing every 25 ms; `None` past `limit`.
pub async fn recovery(
    http: &reqwest::Client,
    url: &str,
    normal: Duration,
    limit: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    let mut streak: Option<Duration> = None;
    let mut count = 0;
    while start.elapsed() < limit {
        let answer = get(http, url, start).await;
        if answer.is_2xx() && answer.latency <= normal {
            // When the first normal answer arrived.
            streak.get_or_insert(start.elapsed());
            count += 1;
            if count >= RECOVERED_AFTER {
                return streak;
            }
        } else {
            streak = None;
            count = 0;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    None
}

/// What "normal" latency is after a run, from probes before it: three times their p99, and at
/// least 20 ms above it (a quiet stack answers in about a millisecond, where scheduling noise
/// alone is several times that).
pub fn normal_latency(baseline: &[Duration]) -> Duration {
    let p99 = quantile_ms(baseline.to_vec(), 0.99).unwrap_or(10.0);
    Duration::from_secs_f64((3.0 * p99).max(p99 + 20.0) / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: Option<u16>, ms: u64) -> Answer {
        Answer {
            status,
            code: (status == Some(503)).then(|| "overloaded".to_string()),
            retry_after: status == Some(503),
            latency: Duration::from_millis(ms),
            error_kind: status.is_none().then_some("timeout"),
            sent_at: Duration::ZERO,
        }
    }

    #[test]
    fn shares_goodput_and_quantiles() {
        let report = OpenLoopReport {
            target_rps: 4.0,
            duration: Duration::from_secs(1),
            sent: 4,
            answers: vec![
                answer(Some(200), 10),
                answer(Some(200), 30),
                answer(Some(503), 1),
                answer(None, 15_000),
            ],
            ..OpenLoopReport::default()
        };
        assert_eq!(report.goodput_rps(), 2.0);
        let shares = report.shares();
        assert_eq!(shares["200"], 0.5);
        assert_eq!(shares["503 overloaded"], 0.25);
        assert_eq!(shares["no answer (timeout)"], 0.25);
        assert_eq!(report.success_quantile_ms(0.99), Some(30.0));
        assert_eq!(report.success_quantile_ms(0.5), Some(10.0));
        assert!(report.offered_in_full());
        let dropped = OpenLoopReport {
            dropped: 1,
            ..report
        };
        assert!(!dropped.offered_in_full());
    }

    #[test]
    fn normal_latency_has_a_floor() {
        let quiet = [Duration::from_millis(1); 10];
        assert_eq!(normal_latency(&quiet), Duration::from_millis(21));
        let slow = [Duration::from_millis(40); 10];
        assert_eq!(normal_latency(&slow), Duration::from_millis(120));
        assert_eq!(quantile_ms(Vec::new(), 0.5), None);
    }
}
