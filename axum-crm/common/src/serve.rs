//! What every service does the same way: its `main` ([`main`], given the service's [`App`]),
//! logging, and the middleware stack that keeps all answers inside the contract. Accepting
//! connections and stopping are [`crate::listener`]'s.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::{BoxError, Router};
use clap::Parser;
use crm_core::http::{Route, Runtime, Service, HEADER_RUNTIME, HEADER_SERVICE};
use crm_core::ApiError;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;

use crate::config::ServerConfig;
use crate::db::Db;
use crate::listener::serve_with;
use crate::metrics::{track_requests, Gauges, MetricsAddr};
use crate::reply::{server_timing, AppError};
use crate::routing::{contract_errors, healthz, not_found};

/// A service as its `main` starts it: the settings clap reads, and the app they make.
pub trait App: Parser {
    const SERVICE: Service;

    /// Where it listens (each service has its own default port), and the other settings every
    /// service has.
    fn server(&self) -> (SocketAddr, &ServerConfig);

    /// Where the admin listener serves the metrics (`METRICS_ADDR`; each service has its own
    /// default port), or nowhere.
    fn metrics_addr(&self) -> MetricsAddr;

    /// The router, built once logging runs (so it may log its settings); a data service also
    /// hands back its pool, to be closed after the last request.
    fn start(&self) -> Result<(Router, Option<Db>), String>;
}

/// Every service's `main`: reads `A` from flags and environment (exit status 2 on a bad
/// value), starts logging (and traces, when an OTLP endpoint is set), builds the app and
/// serves it until SIGTERM or SIGINT; then closes the pool and flushes the last spans.
pub async fn main<A: App>() -> ExitCode {
    let config: A = crate::config::load();
    let (listen_addr, server) = config.server();
    let telemetry = crate::telemetry::init(A::SERVICE, server);
    let (app, db) = match config.start() {
        Ok(started) => started,
        Err(error) => {
            tracing::error!(%error, "cannot start");
            telemetry.shutdown().await;
            return ExitCode::FAILURE;
        }
    };
    // Before the public listener, so a scrape never misses its first requests; never fatal.
    let pool_gauges = db.clone().map(|db| Arc::new(db) as Arc<dyn Gauges>);
    crate::metrics::start(
        A::SERVICE,
        config.metrics_addr(),
        pool_gauges,
        server.header_read_timeout(),
    )
    .await;
    let code = run(A::SERVICE, listen_addr, server, app).await;
    if let Some(db) = db {
        db.close().await;
    }
    telemetry.shutdown().await;
    code
}

/// The gateway's default limit of requests in flight (`MAX_CONCURRENT_REQUESTS`): one data
/// service's (4 × its default pool). More would only forward requests for the service behind to
/// refuse — a hop, two parses and a shed answer each, which under overload take the CPU the
/// served requests need (measured: at 3× capacity with 64 here, some of the forwarded reads
/// waited past the upstream timeout and got 504). Excess is refused at the gateway's door;
/// the services still shed their own (an order create's customer check, a direct caller).
pub const GATEWAY_DEFAULT_MAX_CONCURRENT_REQUESTS: u32 = 20;

/// `routes` refusing what exceeds `max_in_flight` requests at once: tower's concurrency limit
/// (one semaphore for every route, hence the global variant: the plain layer would give each
/// route a limit of its own) behind its load shedder, so a request finding no permit is
/// answered at once with 503 `overloaded` and `retry-after` — it never waits in a queue, and
/// none of its work (reading the body, the database, an upstream) has begun.
fn shed_load(routes: Router, max_in_flight: usize) -> Router {
    routes.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(|_: BoxError| async {
                AppError(ApiError::overloaded())
            }))
            .load_shed()
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight)),
    )
}

/// Wraps a service's routes (state already applied) into the contract: the load shedder
/// ([`shed_load`], `max_in_flight`), `/healthz` (never shed), 404
/// fallback, `server-timing`, the `x-crm-*` headers (kept when a handler set them: the gateway
/// passes the upstream's through), JSON bodies on every error, panics → 500 `internal`, a
/// request timeout answering `timeout_status`, request logs and spans, and request metrics.
pub fn contract_router(
    routes: Router,
    service: Service,
    request_timeout: Duration,
    timeout_status: StatusCode,
    max_in_flight: usize,
) -> Router {
    let routes = shed_load(routes, max_in_flight);
    let routes = routes.route(Route::Healthz.pattern(), healthz(service));
    routes.fallback(not_found).layer(
        ServiceBuilder::new()
            // Outermost: counts the status the client gets, timed over everything below.
            .layer(axum::middleware::from_fn(track_requests))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(crate::telemetry::server_span)
                    .on_request(())
                    .on_response(on_response),
            )
            .layer(SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static(HEADER_RUNTIME),
                HeaderValue::from_static(Runtime::Axum.as_str()),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static(HEADER_SERVICE),
                HeaderValue::from_static(service.as_str()),
            ))
            .layer(axum::middleware::map_response(contract_errors))
            .layer(CatchPanicLayer::new())
            .layer(TimeoutLayer::with_status_code(
                timeout_status,
                request_timeout,
            ))
            // Innermost, so `total` is the handler's time and not the middleware's.
            .layer(axum::middleware::from_fn(server_timing)),
    )
}

/// The response's log line (debug) and its status on the request's span.
fn on_response<B>(response: &axum::http::Response<B>, latency: Duration, span: &tracing::Span) {
    crate::telemetry::record_response(response, span);
    DefaultOnResponse::new()
        .level(Level::DEBUG)
        .on_response(response, latency, span);
}

/// Binds `listen_addr` and serves until a signal.
async fn run(
    service: Service,
    listen_addr: SocketAddr,
    config: &ServerConfig,
    app: Router,
) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(listen_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%error, %listen_addr, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        service = service.as_str(),
        %listen_addr,
        request_timeout_ms = config.request_timeout_ms,
        header_read_timeout_ms = config.header_read_timeout_ms,
        "listening"
    );
    match serve_with(listener, app, config.header_read_timeout()).await {
        Ok(()) => {
            tracing::info!(service = service.as_str(), "stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(%error, "server failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{to_bytes, Body};
    use axum::http::header::{ALLOW, CONTENT_TYPE};
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    fn app() -> Router {
        let routes = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route(
                "/panic",
                get(|| async {
                    if std::hint::black_box(true) {
                        panic!("boom");
                    }
                    "unreachable"
                }),
            );
        contract_router(
            routes,
            Service::Gateway,
            Duration::from_millis(100),
            StatusCode::GATEWAY_TIMEOUT,
            8,
        )
    }

    async fn send(method: &str, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app()
            .oneshot(
                Request::builder()
                    .method(method)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let (parts, body) = response.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn every_answer_is_stamped_and_json() {
        let cases = [
            ("GET", "/healthz", 200, "\"status\":\"ok\""),
            ("GET", "/nope", 404, "not_found"),
            ("POST", "/healthz", 405, "method_not_allowed"),
            ("HEAD", "/healthz", 405, "method_not_allowed"),
            ("GET", "/slow", 504, "upstream_timeout"),
            ("GET", "/panic", 500, "internal"),
        ];
        for (method, path, status, needle) in cases {
            let (s, h, body) = send(method, path).await;
            assert_eq!(s.as_u16(), status, "{method} {path}");
            assert_eq!(h["x-crm-runtime"], "axum");
            assert_eq!(h["x-crm-service"], "gateway");
            assert_eq!(h[CONTENT_TYPE], "application/json", "{method} {path}");
            // HEAD answers carry the headers only.
            assert!(
                method == "HEAD" || body.contains(needle),
                "{method} {path}: {body}"
            );
            if status == 405 {
                assert_eq!(h[ALLOW], "GET");
            }
        }
    }

    /// One request held inside its handler at a limit of one: the next is refused at once with
    /// 503 `overloaded`, `retry-after` and the contract's headers; `/healthz` still answers;
    /// once the held one is done, requests are served again.
    #[tokio::test]
    async fn excess_requests_are_shed_at_once() {
        let (entered_tx, mut entered) = tokio::sync::mpsc::channel::<()>(1);
        let release = Arc::new(tokio::sync::Notify::new());
        let held = release.clone();
        let routes = Router::new().route(
            "/hold",
            get(move || {
                let (entered_tx, held) = (entered_tx.clone(), held.clone());
                async move {
                    let _ = entered_tx.send(()).await;
                    held.notified().await;
                    "done"
                }
            }),
        );
        let app = contract_router(
            routes,
            Service::CustomerService,
            Duration::from_secs(60),
            StatusCode::SERVICE_UNAVAILABLE,
            1,
        );
        let request = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let first = tokio::spawn(app.clone().oneshot(request("/hold")));
        entered
            .recv()
            .await
            .expect("the first request is in its handler");

        let refused = app.clone().oneshot(request("/hold")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert_eq!(refused.headers()["x-crm-service"], "customer-service");
        let body = to_bytes(refused.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            crm_core::error::contract_error_code(&body),
            Some(crm_core::ErrorCode::Overloaded)
        );
        let health = app.clone().oneshot(request("/healthz")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);

        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        let again = tokio::spawn(app.clone().oneshot(request("/hold")));
        entered.recv().await.expect("served again");
        release.notify_one();
        assert_eq!(again.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
