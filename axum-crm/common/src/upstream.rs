//! Service-to-service HTTP: one pooled keep-alive client per service, responses read whole,
//! and transport failures mapped per the contract (timeout → 504, anything else → 502).

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use crm_core::upstream::DEFAULT_TIMEOUT_MS;
use crm_core::ApiError;

use crate::config::positive_ms;
use crate::telemetry;
use tracing::Instrument;

/// The setting of the services that call another one (the gateway, order-service).
#[derive(clap::Args, Debug, Clone)]
pub struct UpstreamConfig {
    /// How long a call to another service may take, its whole response included, before the
    /// request is answered 504 `upstream_timeout`.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = positive_ms())]
    pub upstream_timeout_ms: u64,
}

impl UpstreamConfig {
    /// The client, every call bounded by the timeout (logged at start).
    pub fn client(&self) -> Result<reqwest::Client, String> {
        tracing::info!(
            upstream_timeout_ms = self.upstream_timeout_ms,
            "upstream client"
        );
        client(Duration::from_millis(self.upstream_timeout_ms))
            .map_err(|e| format!("cannot build the HTTP client ({e})"))
    }
}

/// The client: HTTP/1.1 keep-alive pool, `timeout` for the whole exchange (connect, headers,
/// body), no proxies from the environment, no redirects.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // Below the upstream's idle limit (`listener::DEFAULT_HEADER_READ_TIMEOUT`, 10 s), so the
        // pool rarely reuses a socket the upstream is closing.
        .pool_idle_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// An upstream's complete response and how long it took, request sent to body read.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub round_trip: Duration,
}

/// A failed exchange, with how long it took (the gateway reports it as `gw`).
#[derive(Debug)]
pub struct Failure {
    pub error: reqwest::Error,
    pub round_trip: Duration,
}

/// Sends `request` to `upstream` (a service name, the metrics' label) and reads the whole
/// response; counts the call by outcome: the status class, or `timeout` / `unavailable` as
/// [`upstream_error`] maps a failure. When traces are exported the call is a client span whose
/// context goes out as `traceparent`.
pub async fn call(
    upstream: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<UpstreamResponse, Failure> {
    let started = Instant::now();
    let (client, request) = request.build_split();
    let span = match &request {
        Ok(request) => telemetry::client_span(upstream, request.method(), request.url()),
        Err(_) => tracing::Span::none(),
    };
    let exchange = async {
        let mut request = request?;
        telemetry::inject(&span, request.headers_mut());
        let response = client.execute(request).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await?;
        Ok::<_, reqwest::Error>((status, headers, body))
    };
    let result = exchange.instrument(span.clone()).await;
    telemetry::record_upstream(&span, result.as_ref().map(|(status, _, _)| *status));
    let outcome = match &result {
        Ok((status, _, _)) => status_class(*status),
        Err(error) if error.is_timeout() => "timeout",
        Err(_) => "unavailable",
    };
    metrics::counter!(crate::metrics::UPSTREAM_REQUESTS, "upstream" => upstream, "outcome" => outcome)
        .increment(1);
    metrics::histogram!(crate::metrics::UPSTREAM_DURATION, "upstream" => upstream)
        .record(started.elapsed());
    match result {
        Ok((status, headers, body)) => Ok(UpstreamResponse {
            status,
            headers,
            body,
            round_trip: started.elapsed(),
        }),
        Err(error) => Err(Failure {
            error,
            round_trip: started.elapsed(),
        }),
    }
}

/// `2xx` … `5xx`.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// No complete response in time → 504 `upstream_timeout`; refused, reset, or any other transport
/// failure → 502 `upstream_unavailable`.
pub fn upstream_error(upstream: &str, error: &reqwest::Error) -> ApiError {
    if error.is_timeout() {
        tracing::warn!(upstream, %error, "upstream timed out");
        ApiError::upstream_timeout(upstream)
    } else {
        tracing::warn!(upstream, %error, "upstream unavailable");
        ApiError::upstream_unavailable(upstream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crm_core::ErrorCode;

    #[tokio::test]
    async fn refused_is_502_and_silence_is_504() {
        let client = client(Duration::from_millis(300)).unwrap();

        // A port nobody listens on: bind, learn the port, close.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let failure = call("x", client.get(format!("http://127.0.0.1:{port}/healthz")))
            .await
            .unwrap_err();
        assert_eq!(
            upstream_error("x", &failure.error).code,
            ErrorCode::UpstreamUnavailable
        );

        // A listener that accepts and never answers.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = silent.accept().await {
                held.push(socket);
            }
        });
        let started = Instant::now();
        let failure = call("x", client.get(format!("http://{addr}/healthz")))
            .await
            .unwrap_err();
        assert_eq!(
            upstream_error("x", &failure.error).code,
            ErrorCode::UpstreamTimeout
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(failure.round_trip >= Duration::from_millis(300));
        hold.abort();
    }
}
