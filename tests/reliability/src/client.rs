//! The test client: one request, one [`Outcome`] (status and error code, or the transport
//! failure), with when it started and how long it took. It never retries: a request either got
//! an answer or it did not, and the tests need to know which.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crm_harness::probe::{answer_label, keep_alive_client};
use reqwest::Method;
use serde_json::Value;

/// Longer than anything a service may take (database acquire and upstream timeouts are
/// seconds); a request still unanswered then is a hang.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(15);

/// The suite's keep-alive client (the harness's, [`keep_alive_client`]), with 64 idle
/// connections per host: more than any test's concurrent workers (32 at most).
pub fn client(timeout: Duration) -> reqwest::Client {
    keep_alive_client(timeout, 64)
}

/// How one request ended, as the load client saw it: an answer (status, body) or none.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// `None` when no answer arrived (refused, reset, client timeout).
    pub status: Option<u16>,
    /// The contract error code of an error body.
    pub code: Option<String>,
    pub body: Value,
    /// `x-crm-service`.
    pub service: Option<String>,
    /// The transport error, when there was no answer.
    pub error: Option<String>,
    pub error_kind: Option<&'static str>,
    pub started: Instant,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn finished(&self) -> Instant {
        self.started + self.elapsed
    }

    pub fn is_2xx(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// `201`, `503 database_unavailable`, `no answer (timeout)` …: what the status counts use.
    pub fn label(&self) -> String {
        answer_label(self.status, self.code.as_deref(), self.error_kind)
    }
}

/// Sends one request with an optional JSON body.
pub async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Outcome {
    let started = Instant::now();
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(body);
    }
    let result = async {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let service = response
            .headers()
            .get("x-crm-service")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, service, bytes))
    }
    .await;
    let elapsed = started.elapsed();
    match result {
        Ok((status, service, bytes)) => {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let code = body
                .pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_string);
            Outcome {
                status: Some(status),
                code,
                body,
                service,
                error: None,
                error_kind: None,
                started,
                elapsed,
            }
        }
        Err(error) => {
            let kind = if error.is_timeout() {
                "timeout"
            } else if error.is_connect() {
                "connect"
            } else {
                "connection"
            };
            Outcome {
                status: None,
                code: None,
                body: Value::Null,
                service: None,
                error: Some(format!("{error:?}")),
                error_kind: Some(kind),
                started,
                elapsed,
            }
        }
    }
}

pub async fn get(http: &reqwest::Client, url: &str) -> Outcome {
    send(http, Method::GET, url, None).await
}

/// Counts per [`Outcome::label`].
pub fn status_counts<'a>(answers: impl IntoIterator<Item = &'a Outcome>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for answer in answers {
        *counts.entry(answer.label()).or_insert(0) += 1;
    }
    counts
}

/// Milliseconds with one decimal, for the figures.
pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// `[min, median, max]` of some durations, in ms.
pub fn spread(durations: &mut [Duration]) -> Value {
    if durations.is_empty() {
        return Value::Null;
    }
    durations.sort();
    serde_json::json!({
        "min_ms": ms(durations[0]),
        "median_ms": ms(durations[durations.len() / 2]),
        "max_ms": ms(durations[durations.len() - 1]),
    })
}
