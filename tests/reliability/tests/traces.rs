//! Distributed traces: one `POST /orders` with a known W3C `traceparent`, sent through the
//! gateway of a real stack (gateway → order-service → customer-service, each on Postgres),
//! must arrive at an OTLP/HTTP receiver as one trace: every span carries the trace id sent,
//! every span's parent is in the trace (or is the span id sent), all three services and
//! Postgres are in it, and no span of the request went to another trace. Both runtimes, each
//! exporting over its own OTLP (the Axum services' `telemetry`, Spin 3.5.1's built-in one),
//! pointed at the receiver by `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`. See docs/observability.md.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use crm_reliability_tests::client::{self, client, CLIENT_TIMEOUT};
use crm_reliability_tests::stack::{Runtime, Shape, Stack};
use crm_reliability_tests::{for_each_runtime, run_test, throwaway_database, unique_suffix};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::json;

/// Generous: this is about joining spans, not speed, on two shared cores.
const UPSTREAM_TIMEOUT_MS: u64 = 10_000;
/// How long the spans may take to arrive: both exporters batch (here every 100 ms,
/// `OTEL_BSP_SCHEDULE_DELAY`); far more than that means they never will.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How the order insert's span starts on both stacks: each names it by its SQL (black-box: the
/// statement's start, not crm-core's constant).
const INSERT_ORDER: &str = "INSERT INTO orders";

for_each_runtime!(one_request_is_one_trace =>
    |runtime| one_request_is_one_trace(runtime, Shape::Services), within Duration::from_secs(180));

#[test]
fn spin_combined_one_request_is_one_trace() {
    run_test(
        "spin_combined_one_request_is_one_trace",
        Duration::from_secs(180),
        one_request_is_one_trace(Runtime::Spin, Shape::Combined),
    );
}

/// One span as received, its ids in hex.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    name: String,
    kind: SpanKind,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: BTreeMap<String, String>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }

    /// A call to another service (Postgres and Spin's host calls are client spans too).
    fn is_http_client(&self) -> bool {
        self.kind == SpanKind::Client && self.attribute("http.request.method").is_some()
    }
}

/// Everything the receiver was sent, and anything it could not read.
#[derive(Default)]
struct Inbox {
    spans: Vec<Received>,
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Inbox>>;

async fn one_request_is_one_trace(runtime: Runtime, shape: Shape) {
    let inbox = Shared::default();
    let endpoint = start_receiver(inbox.clone()).await;
    let env = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY".to_string(), "100".to_string()),
    ];
    let (_cluster, db) = throwaway_database().await;
    let stack = Stack::start_with_env(runtime, shape, &db, UPSTREAM_TIMEOUT_MS, &env)
        .await
        .expect("the stack starts");

    let http = client(CLIENT_TIMEOUT);
    let gw = &stack.gateway_url;
    let email = format!("traces-{}@example.com", unique_suffix());
    let customer = client::send(
        &http,
        reqwest::Method::POST,
        &format!("{gw}/customers"),
        Some(&json!({"name": "Trace", "email": email})),
    )
    .await;
    assert_eq!(customer.status, Some(201), "{}", customer.label());
    let customer_id = customer.body["id"].as_i64().expect("an id");

    let (trace_id, root) = (random_hex(16), random_hex(8));
    let order = http
        .post(format!("{gw}/orders"))
        .header("traceparent", format!("00-{trace_id}-{root}-01"))
        .json(&json!({"customer_id": customer_id, "product": "widget", "quantity": 1, "unit_price_cents": 100}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(order.status(), 201);

    let expected = Expected::of(runtime, shape);
    let trace = wait_for(&inbox, &trace_id, &expected).await;
    println!(
        "TRACE {} {shape:?}: {} spans\n{}",
        runtime.as_str(),
        trace.len(),
        describe(&trace)
    );
    assert_one_trace(&inbox, &trace, &root, &expected);
    assert_nothing_elsewhere(&inbox, &trace_id, customer_id);
}

/// What the trace of one `POST /orders` must hold on a runtime, by the names each runtime
/// gives its spans.
struct Expected {
    /// Server spans, each `(service, span name)`: one per process the request entered.
    servers: Vec<(&'static str, &'static str)>,
    /// Client spans (calls to another service), by name: one per hop.
    clients: Vec<&'static str>,
    /// Spans by name that must be there besides (Spin: each component's execution).
    others: Vec<&'static str>,
}

impl Expected {
    fn of(runtime: Runtime, shape: Shape) -> Expected {
        match (runtime, shape) {
            (Runtime::Axum, _) => Expected {
                servers: vec![
                    ("gateway", "POST /orders"),
                    ("order-service", "POST /orders"),
                    ("customer-service", "GET /customers/{id}"),
                ],
                clients: vec!["POST order-service", "GET customer-service"],
                others: vec!["acquire connection"],
            },
            // Every manifest routes `/...` to its one component: the server spans are named by
            // that route; the components by their id. (The node shape's containers would trace
            // the same; this test runs processes.)
            (Runtime::Spin, Shape::Services | Shape::Node) => Expected {
                servers: vec![
                    ("spin", "POST /..."),
                    ("spin", "POST /..."),
                    ("spin", "GET /..."),
                ],
                clients: vec!["POST", "GET"],
                others: vec![
                    "execute_wasm_component gateway",
                    "execute_wasm_component order-service",
                    "execute_wasm_component customer-service",
                    "spin_outbound_pg.open",
                ],
            },
            // One process: the chained components run under the gateway's outbound spans,
            // without server spans of their own.
            (Runtime::Spin, Shape::Combined) => Expected {
                servers: vec![("spin", "POST /...")],
                clients: vec!["POST", "GET"],
                others: vec![
                    "execute_wasm_component gateway",
                    "execute_wasm_component order-service",
                    "execute_wasm_component customer-service",
                    "spin_outbound_pg.open",
                ],
            },
        }
    }

    /// Whether `trace` holds everything (it is only checked once it does, or at the deadline).
    fn complete(&self, trace: &[Received]) -> bool {
        let count = |pred: &dyn Fn(&Received) -> bool| trace.iter().filter(|s| pred(s)).count();
        let servers = count(&|s| s.kind == SpanKind::Server);
        let clients = count(&Received::is_http_client);
        servers >= self.servers.len()
            && clients >= self.clients.len()
            && self
                .others
                .iter()
                .all(|name| trace.iter().any(|s| s.name == *name))
            && trace.iter().any(|s| s.name.starts_with(INSERT_ORDER))
            && count(&|s| s.attribute("db.system") == Some("postgresql")) >= 2
    }
}

/// Polls the inbox until the trace is complete or [`ARRIVAL_LIMIT`] passes; its spans.
async fn wait_for(inbox: &Shared, trace_id: &str, expected: &Expected) -> Vec<Received> {
    let deadline = tokio::time::Instant::now() + ARRIVAL_LIMIT;
    loop {
        let trace = spans_of(inbox, trace_id);
        if expected.complete(&trace) || tokio::time::Instant::now() >= deadline {
            // A few more batches may still be on their way: one more interval for stragglers
            // (what arrives later is not checked).
            tokio::time::sleep(POLL_EVERY * 5).await;
            return spans_of(inbox, trace_id);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

fn spans_of(inbox: &Shared, trace_id: &str) -> Vec<Received> {
    let inbox = inbox.lock().expect("the inbox");
    inbox
        .spans
        .iter()
        .filter(|s| s.trace_id == trace_id)
        .cloned()
        .collect()
}

fn assert_one_trace(inbox: &Shared, trace: &[Received], root: &str, expected: &Expected) {
    let inbox = inbox.lock().expect("the inbox");
    assert!(inbox.problems.is_empty(), "receiver: {:?}", inbox.problems);
    let listing = describe(trace);
    assert!(
        expected.complete(trace),
        "the trace is incomplete:\n{listing}"
    );

    // One tree: the span sent is the root; every other parent is a span of the trace.
    let ids: BTreeSet<&str> = trace.iter().map(|s| s.span_id.as_str()).collect();
    let orphans: Vec<&Received> = trace
        .iter()
        .filter(|s| s.parent != root && !ids.contains(s.parent.as_str()))
        .collect();
    assert!(
        orphans.is_empty(),
        "spans whose parent is not in the trace: {orphans:#?}\n{listing}"
    );
    let children_of_root: Vec<&str> = trace
        .iter()
        .filter(|s| s.parent == root)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        children_of_root.len(),
        1,
        "one span continues the traceparent sent (the gateway's server span):\n{listing}"
    );

    // Each hop: the server spans of the services the request entered, by service and name,
    // and a client span per call.
    let mut servers: Vec<(&str, &str)> = trace
        .iter()
        .filter(|s| s.kind == SpanKind::Server)
        .map(|s| (s.service.as_str(), s.name.as_str()))
        .collect();
    servers.sort_unstable();
    let mut want = expected.servers.clone();
    want.sort_unstable();
    assert_eq!(servers, want, "server spans:\n{listing}");
    let root_span = trace.iter().find(|s| s.parent == root).expect("checked");
    assert_eq!(root_span.kind, SpanKind::Server, "{listing}");
    let mut clients: Vec<&str> = trace
        .iter()
        .filter(|s| s.is_http_client())
        .map(|s| s.name.as_str())
        .collect();
    clients.sort_unstable();
    let mut want = expected.clients.clone();
    want.sort_unstable();
    assert_eq!(clients, want, "client spans:\n{listing}");
    // Every server span but the first is the child of a client span: the hop joined.
    for server in trace
        .iter()
        .filter(|s| s.kind == SpanKind::Server && s.parent != root)
    {
        let parent = trace.iter().find(|s| s.span_id == server.parent);
        assert_eq!(
            parent.map(|p| p.kind),
            Some(SpanKind::Client),
            "{} {}: its parent is not a client span\n{listing}",
            server.service,
            server.name
        );
    }
}

/// No span of the request went to another trace (a hop that did not join would start one):
/// the order insert, a server span of `/orders` or of the customer checked, a client span
/// calling either. Nothing else sent touches them (the customer was created by
/// `POST /customers`; the readiness probes are `/healthz` and `/readyz`).
fn assert_nothing_elsewhere(inbox: &Shared, trace_id: &str, customer_id: i64) {
    let customer = format!("/customers/{customer_id}");
    let ours = |s: &Received| {
        s.name.starts_with(INSERT_ORDER)
            || s.attribute("url.path")
                .is_some_and(|p| p == "/orders" || p == customer)
            || s.attribute("url.full")
                .is_some_and(|u| u.ends_with("/orders") || u.ends_with(&customer))
    };
    let inbox = inbox.lock().expect("the inbox");
    let elsewhere: Vec<&Received> = inbox
        .spans
        .iter()
        .filter(|s| s.trace_id != trace_id && ours(s))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "spans of the request in another trace: {elsewhere:#?}"
    );
}

/// The trace as lines `service kind name (span ← parent)`, for failure messages.
fn describe(trace: &[Received]) -> String {
    trace
        .iter()
        .map(|s| {
            format!(
                "  {} {:?} {:?} ({} ← {})",
                s.service, s.kind, s.name, s.span_id, s.parent
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `n` random bytes in lowercase hex (a trace id: 16, a span id: 8), never all zero.
fn random_hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < 2 * n {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(out.len());
        out.push_str(&format!("{:016x}", hasher.finish() | 1));
    }
    out.truncate(2 * n);
    out
}

/// An OTLP/HTTP receiver on a free loopback port: `POST /v1/traces` in protobuf (the only
/// encoding both exporters send: Spin 3.5.1 refuses http/json); its URL.
async fn start_receiver(inbox: Shared) -> String {
    let app = Router::new()
        .route("/v1/traces", post(receive))
        .with_state(inbox);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the receiver");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1/traces")
}

/// Decodes one export; answers with the empty `ExportTraceServiceResponse` (an empty body).
async fn receive(State(inbox): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut inbox = inbox.lock().expect("the inbox");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type != "application/x-protobuf" {
        inbox
            .problems
            .push(format!("content-type {content_type:?}"));
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            inbox.spans.extend(flatten(request));
            StatusCode::OK
        }
        Err(error) => {
            inbox.problems.push(format!("undecodable export: {error}"));
            StatusCode::BAD_REQUEST
        }
    }
}

/// Every span of an export with its resource's `service.name`.
fn flatten(request: ExportTraceServiceRequest) -> Vec<Received> {
    let mut spans = Vec::new();
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.unwrap_or_default();
        let service = attributes(&resource.attributes)
            .remove("service.name")
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(Received {
                    service: service.clone(),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent: hex(&span.parent_span_id),
                    attributes: attributes(&span.attributes),
                });
            }
        }
    }
    spans
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
