//! Logs and traces. Logs as configured (`RUST_LOG`, `LOG_FORMAT`); traces exported over
//! OTLP/HTTP (protobuf) only when `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set and not blank, the variables Spin reads, so one
//! environment points both stacks at the same collector. Unset, no exporter is built and the
//! span helpers here hand back [`Span::none`], so the services pay nothing.
//!
//! The spans, each a child of the one before within a service:
//! - a server span per request ([`server_span`]), named `{method} {route template}`, whose
//!   parent is the caller's W3C `traceparent` when the request carries one;
//! - a client span per call to another service ([`client_span`]), whose context goes out as
//!   `traceparent` ([`inject`]), so the callee's server span joins the same trace;
//! - a span per Postgres connection acquire and per statement ([`db_span`]).
//!
//! The SDK batches spans on a thread of its own; [`Telemetry::shutdown`] flushes what is left
//! once the server has drained, so the spans of the last requests are not lost at SIGTERM.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use crm_core::http::Service;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Status, TracerProvider as _};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, ServerConfig};

const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const SERVICE_NAME: &str = "service.name";
/// The one OTLP protocol built in (the default of the specification and of Spin).
const HTTP_PROTOBUF: &str = "http/protobuf";

/// How long the flush at exit may take: a collector that is down must not hold the exit up
/// for the SDK's default of 30 s (Kubernetes' grace period is 30 s in all).
const FLUSH_LIMIT: Duration = Duration::from_secs(5);

/// Whether spans are exported: set once by [`init`]; unset (tests driving a router in-process)
/// counts as no.
static EXPORTING: OnceLock<bool> = OnceLock::new();

fn exporting() -> bool {
    EXPORTING.get().copied().unwrap_or(false)
}

/// What must be flushed at exit.
#[must_use = "call shutdown after the last request, or the last spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched and stops the exporter (bounded by [`FLUSH_LIMIT`]).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // The SDK blocks until its export thread is done: not on a runtime worker.
        let flushed =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_LIMIT)).await;
        match flushed {
            Ok(Ok(())) => tracing::info!("traces flushed"),
            Ok(Err(error)) => tracing::warn!(%error, "traces not flushed"),
            Err(error) => tracing::warn!(%error, "traces not flushed"),
        }
    }
}

/// Installs the global subscriber: the log layer, and the OTLP layer when an endpoint is set.
/// Call once, after the config is known to be valid. A trace exporter that cannot be built is
/// logged and the service runs without it (like a metrics port in use: never fatal).
pub fn init(service: Service, config: &ServerConfig) -> Telemetry {
    let (provider, problem) = match exporter_wanted() {
        Ok(false) => (None, None),
        Ok(true) => match tracer_provider(service) {
            Ok(provider) => (Some(provider), None),
            Err(error) => (None, Some(error)),
        },
        Err(error) => (None, Some(error)),
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("axum-crm"))
            // Spans and their events at info and above, whatever RUST_LOG says about logs
            // (Spin's default too: SPIN_OTEL_TRACING_LEVEL=info).
            .with_filter(LevelFilter::INFO)
    });
    Registry::default()
        .with(log_layer(config))
        .with(traces)
        .init();
    let _ = EXPORTING.set(provider.is_some());
    if let Some(error) = problem {
        tracing::warn!(%error, "cannot export traces; serving without them");
    } else if provider.is_some() {
        tracing::info!("exporting traces over OTLP/HTTP");
    }
    Telemetry { provider }
}

/// Log lines, text or JSON, filtered by `RUST_LOG` (this filter is the log layer's own: the
/// traces have theirs).
fn log_layer(config: &ServerConfig) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = EnvFilter::builder()
        .parse(&config.log_filter)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in files or container logs.
    let layer = tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal());
    match config.log_format {
        LogFormat::Text => layer.with_filter(filter).boxed(),
        LogFormat::Json => layer.json().flatten_event(true).with_filter(filter).boxed(),
    }
}

/// Whether the environment asks for traces: an endpoint set and not blank, the SDK not
/// disabled. A protocol other than http/protobuf is an error (the only one built in).
fn exporter_wanted() -> Result<bool, String> {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let disabled = set(SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if disabled || (set(ENDPOINT).is_none() && set(TRACES_ENDPOINT).is_none()) {
        return Ok(false);
    }
    match set(TRACES_PROTOCOL).or_else(|| set(PROTOCOL)) {
        Some(protocol) if protocol.trim() != HTTP_PROTOBUF => Err(format!(
            "OTLP protocol {protocol:?}: only {HTTP_PROTOBUF} is supported"
        )),
        _ => Ok(true),
    }
}

/// The SDK with a batching OTLP/HTTP exporter; the endpoint, headers and timeout from the
/// standard `OTEL_EXPORTER_OTLP_*` variables (read by the exporter), batching from `OTEL_BSP_*`.
fn tracer_provider(service: Service) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(SdkTracerProvider::builder()
        .with_resource(resource(service))
        .with_batch_exporter(exporter)
        .build())
}

/// `service.name` from `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` when either gives one,
/// else the service's own name (the SDK's fallback, `unknown_service`, says nothing).
fn resource(service: Service) -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::from_static_str(SERVICE_NAME))
        .is_some_and(|name| !name.as_str().starts_with("unknown_service"));
    if named {
        detected
    } else {
        Resource::builder()
            .with_service_name(service.as_str())
            .build()
    }
}

/// The span a request is served in (tower-http's `TraceLayer` makes it): for the logs as
/// before (`method`, `uri`, `version`); when exporting, also a server span named
/// `{method} {route template}` (the method alone for the 404 fallback), continuing the trace
/// of the request's `traceparent` if it has one.
pub fn server_span<B>(request: &Request<B>) -> Span {
    let method = request.method();
    let uri = request.uri();
    let version = request.version();
    if !exporting() {
        return tracing::info_span!("request", %method, %uri, ?version);
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        %method,
        %uri,
        ?version,
        otel.name = name,
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        url.path = uri.path(),
        http.response.status_code = Empty,
    );
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
    // Without a valid `traceparent` the extracted context is empty and the span starts a trace.
    let _ = span.set_parent(parent);
    span
}

/// The status on the server span; a 5xx marks it failed (a 4xx is the client's error, not
/// the server's, by OpenTelemetry's conventions).
pub fn record_response<B>(response: &Response<B>, span: &Span) {
    record_status(span, response.status(), StatusCode::is_server_error);
}

/// A call to another service, as a client span named `{method} {upstream}`; `Span::none()`
/// when not exporting.
pub fn client_span(upstream: &str, method: &Method, url: &reqwest::Url) -> Span {
    if !exporting() {
        return Span::none();
    }
    tracing::info_span!(
        "upstream",
        otel.name = format!("{method} {upstream}"),
        otel.kind = "client",
        http.request.method = %method,
        url.full = url.as_str(),
        server.address = url.host_str(),
        server.port = url.port_or_known_default(),
        peer.service = upstream,
        http.response.status_code = Empty,
    )
}

/// The client span's outcome: a status (4xx and 5xx mark it failed, by the conventions for
/// clients), or a transport failure.
pub fn record_upstream(span: &Span, outcome: Result<StatusCode, &reqwest::Error>) {
    match outcome {
        Ok(status) => record_status(span, status, |s| s.is_client_error() || s.is_server_error()),
        Err(error) => span.set_status(Status::error(error.to_string())),
    }
}

/// Puts `span`'s context into `headers` as W3C `traceparent` (nothing when not exporting).
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if exporting() {
        TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
    }
}

/// A Postgres step: `acquire` (a pooled connection, connecting included) or a statement,
/// named by its SQL; `Span::none()` when not exporting.
pub fn db_span(operation: DbOperation) -> Span {
    if !exporting() {
        return Span::none();
    }
    match operation {
        DbOperation::Acquire => tracing::info_span!(
            "db",
            otel.name = "acquire connection",
            db.system = "postgresql",
        ),
        DbOperation::Statement(sql) => tracing::info_span!(
            "db",
            otel.name = sql,
            otel.kind = "client",
            db.system = "postgresql",
            db.query.text = sql,
        ),
    }
}

/// What a [`db_span`] covers.
#[derive(Clone, Copy, Debug)]
pub enum DbOperation {
    Acquire,
    Statement(&'static str),
}

/// Marks a database span failed.
pub fn record_db_error(span: &Span, error: &sqlx::Error) {
    span.set_status(Status::error(error.to_string()));
}

fn record_status(span: &Span, status: StatusCode, failed: impl Fn(&StatusCode) -> bool) {
    span.record("http.response.status_code", status.as_u16());
    if failed(&status) {
        span.set_status(Status::error(status.to_string()));
    }
}
