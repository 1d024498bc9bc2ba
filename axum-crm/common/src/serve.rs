//! What every service does the same way: its `main` ([`main`], given the service's [`App`]),
//! logging, and the middleware stack that keeps all answers inside the contract. Accepting
//! connections and stopping are [`crate::listener`]'s.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::{BoxError, Router};
use bytes::Bytes;
use clap::Parser;
use crm_core::http::{Route, Runtime, Service, HEADER_RUNTIME, HEADER_SERVICE};
use tower::util::MapResponseLayer;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse, TraceLayer};
use tracing::Level;

use crate::admission::Admission;
use crate::config::ServerConfig;
use crate::db::Db;
use crate::layers::{ContractLayer, LayersOff};
use crate::listener::serve_with;
use crate::metrics::{track_requests, Gauges, MetricsAddr};
use crate::reply::server_timing;
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

/// Wraps a service's routes (state already applied) into the contract: their admission
/// ([`Admission`]: what waits too long for a turn is 503 `overloaded`), `/healthz` (always
/// admitted), 404
/// fallback, `server-timing`, the `x-crm-*` headers (kept when a handler set them: the gateway
/// passes the upstream's through), JSON bodies on every error, panics → 500 `internal`, a
/// request timeout answering `timeout_status`, request logs and spans, and request metrics.
///
/// `layers_off` ([`LayersOff::NONE`] but for measurement, `CRM_BENCH_LAYERS_OFF`) leaves
/// those layers out of the same stack (`option_layer`), so a layer's cost is measured as its
/// absence and nothing else changes. The two layers that change the response body type
/// (tracing, panic catching) are followed by `boxed_body`, so a layer on and the same layer
/// off answer the same type; with every layer on it boxes the body where the layer above
/// would have (`contract_errors`, the metrics middleware), so the normal service boxes no
/// more often than it did without the switch.
pub fn contract_router(
    routes: Router,
    service: Service,
    request_timeout: Duration,
    timeout_status: StatusCode,
    admission: Admission,
    layers_off: LayersOff,
) -> Router {
    let on = |layer| layers_off.is_on(layer);
    let routes = if on(ContractLayer::Admission) {
        admission.apply(routes)
    } else {
        routes
    };
    let routes = routes.route(Route::Healthz.pattern(), healthz(service));
    routes.fallback(not_found).layer(
        ServiceBuilder::new()
            // Outermost: counts the status the client gets, timed over everything below.
            .option_layer(
                on(ContractLayer::Metrics).then(|| axum::middleware::from_fn(track_requests)),
            )
            .option_layer(on(ContractLayer::Trace).then(|| {
                ServiceBuilder::new()
                    .layer(MapResponseLayer::new(boxed_body))
                    .layer(
                        TraceLayer::new_for_http()
                            .make_span_with(crate::telemetry::server_span)
                            .on_request(())
                            .on_response(on_response),
                    )
            }))
            .option_layer(on(ContractLayer::Headers).then(|| {
                ServiceBuilder::new()
                    .layer(SetResponseHeaderLayer::if_not_present(
                        HeaderName::from_static(HEADER_RUNTIME),
                        HeaderValue::from_static(Runtime::Axum.as_str()),
                    ))
                    .layer(SetResponseHeaderLayer::if_not_present(
                        HeaderName::from_static(HEADER_SERVICE),
                        HeaderValue::from_static(service.as_str()),
                    ))
            }))
            .option_layer(
                on(ContractLayer::Errors).then(|| axum::middleware::map_response(contract_errors)),
            )
            .option_layer(on(ContractLayer::CatchPanic).then(|| {
                ServiceBuilder::new()
                    .layer(MapResponseLayer::new(boxed_body))
                    .layer(CatchPanicLayer::new())
            }))
            .option_layer(
                on(ContractLayer::Timeout)
                    .then(|| TimeoutLayer::with_status_code(timeout_status, request_timeout)),
            )
            // Innermost, so `total` is the handler's time and not the middleware's.
            .option_layer(
                on(ContractLayer::ServerTiming).then(|| axum::middleware::from_fn(server_timing)),
            ),
    )
}

/// A response's body as axum's [`Body`] (boxed once; a `Body` already is one and stays as it
/// is).
fn boxed_body<B>(response: axum::http::Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(Body::new)
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
    use crm_core::timing::Phase;
    use tower::ServiceExt;

    fn app() -> Router {
        app_with(LayersOff::NONE)
    }

    fn app_with(layers_off: LayersOff) -> Router {
        let routes = Router::new()
            .route(
                "/queried",
                get(|| async {
                    crate::reply::record(Phase::Query, Duration::from_millis(1));
                    "rows"
                }),
            )
            .route("/bare-404", get(|| async { StatusCode::NOT_FOUND }))
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
            Admission::new(8, Duration::from_millis(200)),
            layers_off,
        )
    }

    async fn send(method: &str, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
        send_to(app(), method, path).await
    }

    async fn send_to(
        app: Router,
        method: &str,
        path: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = app
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

    /// The measurement switch (`CRM_BENCH_LAYERS_OFF`): with each layer off alone, and with
    /// every layer off, the router still answers its routes and its fallback; what the headers,
    /// errors and server-timing layers add is there exactly when they are on.
    #[tokio::test]
    async fn with_layers_off_the_routes_still_answer() {
        let mut configs: Vec<LayersOff> = ContractLayer::ALL
            .into_iter()
            .map(|layer| LayersOff::NONE.with(layer))
            .collect();
        configs.extend([LayersOff::NONE, LayersOff::all()]);
        for off in configs {
            let app = app_with(off);
            let (status, headers, body) = send_to(app.clone(), "GET", "/healthz").await;
            assert_eq!(status, StatusCode::OK, "{off}");
            assert!(body.contains("\"status\":\"ok\""), "{off}: {body}");
            assert_eq!(
                headers.contains_key(HEADER_RUNTIME),
                off.is_on(ContractLayer::Headers),
                "{off}"
            );
            let (status, headers, body) = send_to(app.clone(), "GET", "/queried").await;
            assert_eq!((status, body.as_str()), (StatusCode::OK, "rows"), "{off}");
            assert_eq!(
                headers.contains_key("server-timing"),
                off.is_on(ContractLayer::ServerTiming),
                "{off}"
            );
            let (status, _, body) = send_to(app.clone(), "GET", "/bare-404").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{off}");
            assert_eq!(
                body.contains("not_found"),
                off.is_on(ContractLayer::Errors),
                "{off}: {body}"
            );
            let (status, _, body) = send_to(app, "GET", "/nope").await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{off}");
            assert!(body.contains("not_found"), "{off}: {body}");
        }
    }

    /// A router whose one route holds each request in its handler until released, behind
    /// `admission`; `entered` hears of each request that got in.
    fn holding_app(
        admission: Admission,
    ) -> (
        Router,
        tokio::sync::mpsc::Receiver<()>,
        Arc<tokio::sync::Notify>,
    ) {
        let (entered_tx, entered) = tokio::sync::mpsc::channel::<()>(4);
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
            admission,
            LayersOff::NONE,
        );
        (app, entered, release)
    }

    fn request(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    /// One request held inside its handler at a limit of one: the next waits its 20 ms and is
    /// refused with 503 `overloaded`, `retry-after` and the contract's headers; `/healthz`
    /// still answers; once the held one is done, requests are served again.
    #[tokio::test]
    async fn what_waits_past_the_limit_is_refused_as_overloaded() {
        let (app, mut entered, release) = holding_app(Admission::new(1, Duration::from_millis(20)));
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

    /// A burst is not overload: a request that finds every permit taken waits for one, and is
    /// served when it frees up within the wait.
    #[tokio::test]
    async fn a_request_waits_for_its_turn_within_the_wait() {
        let (app, mut entered, release) = holding_app(Admission::new(1, Duration::from_secs(60)));
        let first = tokio::spawn(app.clone().oneshot(request("/hold")));
        entered.recv().await.expect("the first request is in");
        let second = tokio::spawn(app.clone().oneshot(request("/hold")));
        tokio::task::yield_now().await;
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        entered
            .recv()
            .await
            .expect("the second request got its turn");
        release.notify_one();
        assert_eq!(second.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
