//! Prometheus metrics, served on an admin listener of their own (`METRICS_ADDR`) so the public
//! API keeps its contract: its route table, JSON on every answer, 404 for any other path.
//!
//! What is recorded (every series also carries `service`):
//! - [`HTTP_REQUESTS`] and [`HTTP_DURATION`]: each answer of the public listener by `method`,
//!   `route` (the route template, `unmatched` for the 404 fallback) and `status`;
//! - [`DB_POOL_SIZE`], [`DB_POOL_IDLE`], [`DB_POOL_MAX`] (read at each scrape), [`DB_ACQUIRES`] by
//!   `outcome` and [`DB_ACQUIRE_DURATION`]: the data services' sqlx pool;
//! - [`UPSTREAM_REQUESTS`] by `upstream` and `outcome`, and [`UPSTREAM_DURATION`]: the calls of
//!   the gateway and order-service to another service.
//!
//! The `metrics` macros are no-ops until [`install`] runs, so the routers' in-process tests and a
//! service started with `METRICS_ADDR=off` record nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

use crm_core::http::Service;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::listener::serve_with;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const DB_POOL_SIZE: &str = "db_pool_connections";
pub const DB_POOL_IDLE: &str = "db_pool_idle_connections";
pub const DB_POOL_MAX: &str = "db_pool_max_connections";
pub const DB_ACQUIRES: &str = "db_pool_acquires_total";
pub const DB_ACQUIRE_DURATION: &str = "db_pool_acquire_duration_seconds";
pub const UPSTREAM_REQUESTS: &str = "upstream_requests_total";
pub const UPSTREAM_DURATION: &str = "upstream_request_duration_seconds";

/// The admin listener's one path.
pub const METRICS_PATH: &str = "/metrics";

/// The `route` of an answer from the 404 fallback: the path itself would let any client add
/// series without bound.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Histogram buckets in seconds: from a cached read on loopback (sub-millisecond) to the
/// upstream and request timeouts (2 s and 30 s by default).
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the recorder drops what it no longer needs between scrapes (its upkeep must be run
/// by its owner when it does not serve HTTP itself).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// `METRICS_ADDR`: where the admin listener binds, or nowhere (`off`, or empty).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

/// Parses `METRICS_ADDR`: `host:port`, or `off` / empty for no listener (and no recording).
pub fn metrics_addr(value: &str) -> Result<MetricsAddr, String> {
    let value = value.trim();
    if value.is_empty() || value.eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr(None));
    }
    value
        .parse()
        .map(|addr| MetricsAddr(Some(addr)))
        .map_err(|e| format!("not an address like 0.0.0.0:9000, nor `off` ({e})"))
}

/// Installs the Prometheus recorder (once per process) and starts its upkeep. `None`, logged,
/// when it cannot be installed: the service then runs without metrics.
fn install(service: Service) -> Option<PrometheusHandle> {
    let installed = PrometheusBuilder::new()
        .add_global_label("service", service.as_str())
        .set_buckets(BUCKETS)
        .and_then(PrometheusBuilder::install_recorder);
    match installed {
        Ok(handle) => {
            describe();
            let upkeep = handle.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    upkeep.run_upkeep();
                }
            });
            Some(handle)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot record metrics; serving without them");
            None
        }
    }
}

/// The `# HELP` lines.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "Answers of the public listener by method, route template and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time from the request's head to the response's head, by method, route template and status."
    );
    describe_gauge!(
        DB_POOL_SIZE,
        "Connections the sqlx pool holds (idle or in use), at the scrape."
    );
    describe_gauge!(
        DB_POOL_IDLE,
        "Idle connections of the sqlx pool, at the scrape."
    );
    describe_gauge!(
        DB_POOL_MAX,
        "Most connections the sqlx pool opens (DB_POOL_MAX)."
    );
    describe_counter!(
        DB_ACQUIRES,
        "Connection acquires by outcome: ok, timeout (DB_ACQUIRE_TIMEOUT_MS), error."
    );
    describe_histogram!(
        DB_ACQUIRE_DURATION,
        Unit::Seconds,
        "Time waiting for a pool connection, connecting included."
    );
    describe_counter!(
        UPSTREAM_REQUESTS,
        "Calls to another service by upstream and outcome: status class, timeout or unavailable."
    );
    describe_histogram!(
        UPSTREAM_DURATION,
        Unit::Seconds,
        "Calls to another service, request sent to body read, by upstream."
    );
}

/// What the admin listener reads at each scrape.
#[derive(Clone)]
struct Scrape {
    handle: PrometheusHandle,
    gauges: Option<Arc<dyn Gauges>>,
}

/// Gauges read at each scrape rather than kept up to date (the data services' pool: `db::Db`).
pub trait Gauges: Send + Sync + 'static {
    /// Sets the gauges to what they are now.
    fn record(&self);
}

/// Starts the admin listener on `addr` with `GET /metrics`, if `addr` is set. Never fails the
/// service: many services may run side by side on one host (the tests, `crm-bench`), so a port
/// in use is logged and the service goes on without its metrics listener.
pub async fn start(
    service: Service,
    addr: MetricsAddr,
    gauges: Option<Arc<dyn Gauges>>,
    header_read_timeout: Duration,
) {
    let Some(addr) = addr.0 else {
        tracing::info!("metrics off (METRICS_ADDR)");
        return;
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::warn!(%error, metrics_addr = %addr, "cannot listen for metrics; serving without them");
            return;
        }
    };
    let Some(handle) = install(service) else {
        return;
    };
    tracing::info!(metrics_addr = %addr, path = METRICS_PATH, "metrics listening");
    let app = Router::new()
        .route(METRICS_PATH, get(scrape))
        .with_state(Scrape { handle, gauges });
    tokio::spawn(async move {
        if let Err(error) = serve_with(listener, app, header_read_timeout).await {
            tracing::warn!(%error, "metrics listener failed");
        }
    });
}

/// `GET /metrics`: the pool gauges as they are now, then every series in Prometheus's text
/// format.
async fn scrape(State(scrape): State<Scrape>) -> Response {
    if let Some(gauges) = &scrape.gauges {
        gauges.record();
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        scrape.handle.render(),
    )
        .into_response()
}

/// Middleware (outermost, so it sees the final status and the whole time): counts and times
/// each answer by method, route template and status.
pub async fn track_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_ROUTE.to_string(), |path| {
            path.as_str().to_string()
        });
    let response = next.run(request).await;
    let labels = [
        ("method", method.to_string()),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed());
    response
}

/// The method as a label: the standard ones by name, any other as `other` (a client could
/// otherwise add series without bound).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addr_parses_an_address_or_off() {
        assert_eq!(
            metrics_addr("127.0.0.1:9100").unwrap(),
            MetricsAddr(Some("127.0.0.1:9100".parse().unwrap()))
        );
        for off in ["off", "OFF", "", "  "] {
            assert_eq!(metrics_addr(off).unwrap(), MetricsAddr(None), "{off:?}");
        }
        assert!(metrics_addr("9000").unwrap_err().contains("off"));
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
