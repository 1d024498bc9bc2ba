//! The Axum services' Prometheus metrics (admin listener, `METRICS_ADDR`): a burst of real
//! requests through the gateway of a real stack on a real Postgres, then `/metrics` of each
//! service scraped and its counters compared with what was sent, by route template, method and
//! status; the upstream calls and the pool's acquires likewise. And a metrics port in use must
//! not stop a service. (Spin exports no such endpoint: docs/observability.md.)

use std::collections::BTreeMap;
use std::time::Duration;

use crm_harness::promql;
use crm_reliability_tests::client::{self, client, Outcome, CLIENT_TIMEOUT};
use crm_reliability_tests::procs::free_port;
use crm_reliability_tests::stack::{
    start_service, Runtime, Service, ServiceConfig, Shape, Stack, NOWHERE,
};
use crm_reliability_tests::{run_test, start_stack, unique_suffix};
use reqwest::Method;
use serde_json::{json, Value};

/// Generous: this is about counting, not speed, on two shared cores.
const UPSTREAM_TIMEOUT_MS: u64 = 10_000;
/// Customers created (then each read back once), orders created, reads of a missing customer,
/// invalid creates, paths nobody serves, and a method a route refuses.
const CREATES: usize = 12;
const ORDERS: usize = 6;
const MISSING: usize = 4;
const INVALID: usize = 3;
/// `/metrics` among them: the API's listener does not serve it (the admin listener does).
const UNKNOWN: [&str; 3] = ["/metrics", "/no-such-path", "/customers-and-more"];
const REFUSED: usize = 2;

/// What [`send_traffic`] sends, as the counters count it.
struct Sent {
    creates: f64,
    orders: f64,
    missing: f64,
    invalid: f64,
}

const SENT: Sent = Sent {
    creates: CREATES as f64,
    orders: ORDERS as f64,
    missing: MISSING as f64,
    invalid: INVALID as f64,
};

#[test]
fn axum_metrics_count_the_requests_sent() {
    run_test(
        "axum_metrics_count_the_requests_sent",
        Duration::from_secs(180),
        metrics_count_the_requests_sent(),
    );
}

#[test]
fn axum_metrics_port_in_use_is_not_fatal() {
    run_test(
        "axum_metrics_port_in_use_is_not_fatal",
        Duration::from_secs(60),
        metrics_port_in_use_is_not_fatal(),
    );
}

/// One series: its name and its labels (`service` included), sorted.
type Key = (String, BTreeMap<String, String>);

/// Every sample of a scrape, by series.
type Samples = BTreeMap<Key, f64>;

/// What was sent, as the services must count it: `(route template, method, status)` → count.
type Expected = BTreeMap<(String, String, u16), f64>;

fn expected(counts: &[(&str, &str, u16, f64)]) -> Expected {
    counts
        .iter()
        .map(|&(route, method, status, n)| ((route.to_string(), method.to_string(), status), n))
        .collect()
}

const SERVICES: [Service; 3] = [
    Service::Gateway,
    Service::CustomerService,
    Service::OrderService,
];

/// What each service's series moved by between the scrape before the traffic and the one
/// after.
struct Deltas {
    gateway: Samples,
    customer_service: Samples,
    order_service: Samples,
}

async fn metrics_count_the_requests_sent() {
    let (_cluster, stack) = start_stack(Runtime::Axum, Shape::Services, UPSTREAM_TIMEOUT_MS).await;
    let http = client(CLIENT_TIMEOUT);
    let before = scrape_all(&http, &stack).await;
    send_traffic(&stack.gateway_url).await;
    let after = scrape_all(&http, &stack).await;

    dashboard_series_are_exported(&after);
    let delta = |svc: Service| diff(&before[svc.as_str()], &after[svc.as_str()]);
    let deltas = Deltas {
        gateway: delta(Service::Gateway),
        customer_service: delta(Service::CustomerService),
        order_service: delta(Service::OrderService),
    };
    requests_are_counted(&deltas);
    upstream_calls_are_counted(&deltas);
    pool_is_measured(&deltas, &after);
}

/// Every service's scrape, by service name.
async fn scrape_all(http: &reqwest::Client, stack: &Stack) -> BTreeMap<&'static str, Samples> {
    let mut scrapes = BTreeMap::new();
    for svc in SERVICES {
        scrapes.insert(svc.as_str(), scrape(http, stack, svc).await);
    }
    scrapes
}

/// The burst through the gateway, each kind answered as the contract says.
async fn send_traffic(gw: &str) {
    let run = unique_suffix();
    // Customers, created concurrently (the services see them interleaved), then read back.
    let creates = burst((0..CREATES).map(|i| {
        let body = json!({"name": format!("Metric {i}"), "email": format!("metrics-{run}-{i}@example.com")});
        (Method::POST, format!("{gw}/customers"), Some(body))
    }))
    .await;
    let ids: Vec<i64> = creates
        .iter()
        .map(|a| {
            assert_eq!(a.status, Some(201), "create: {}", a.label());
            a.body["id"].as_i64().expect("an id")
        })
        .collect();
    let reads = burst(
        ids.iter()
            .map(|id| (Method::GET, format!("{gw}/customers/{id}"), None)),
    )
    .await;
    let orders = burst((0..ORDERS).map(|i| {
        let body = json!({"customer_id": ids[i % ids.len()], "product": "widget", "quantity": 1, "unit_price_cents": 100});
        (Method::POST, format!("{gw}/orders"), Some(body))
    }))
    .await;
    let missing = burst((0..MISSING).map(|i| {
        (
            Method::GET,
            format!("{gw}/customers/{}", 900_000_000 + i),
            None,
        )
    }))
    .await;
    let invalid = burst((0..INVALID).map(|_| {
        (
            Method::POST,
            format!("{gw}/customers"),
            Some(json!({"name": ""})),
        )
    }))
    .await;
    let unknown = burst(
        UNKNOWN
            .iter()
            .map(|path| (Method::GET, format!("{gw}{path}"), None)),
    )
    .await;
    let refused = burst((0..REFUSED).map(|_| (Method::POST, format!("{gw}/healthz"), None))).await;

    assert_eq!(
        (
            status_of(&reads, "reads"),
            status_of(&orders, "orders"),
            status_of(&missing, "missing"),
            status_of(&invalid, "invalid")
        ),
        (200, 201, 404, 400)
    );
    assert_eq!(status_of(&unknown, "unknown"), 404);
    assert_eq!(status_of(&refused, "refused"), 405);
}

/// The one status every answer of a burst got.
fn status_of(answers: &[Outcome], what: &str) -> u16 {
    let statuses: Vec<Option<u16>> = answers.iter().map(|a| a.status).collect();
    let first = statuses[0].unwrap_or_else(|| panic!("{what}: no answer"));
    assert!(
        statuses.iter().all(|s| *s == Some(first)),
        "{what}: {statuses:?}"
    );
    first
}

/// Every request counted under its route template, method and status, and nothing else; the
/// latency histogram saw each one too.
fn requests_are_counted(deltas: &Deltas) {
    let (c, o, m, b) = (SENT.creates, SENT.orders, SENT.missing, SENT.invalid);
    let gateway = expected(&[
        ("/customers", "POST", 201, c),
        ("/customers", "POST", 400, b),
        ("/customers/{*rest}", "GET", 200, c),
        ("/customers/{*rest}", "GET", 404, m),
        ("/orders", "POST", 201, o),
        ("unmatched", "GET", 404, UNKNOWN.len() as f64),
        ("/healthz", "POST", 405, REFUSED as f64),
    ]);
    // order-service checks each order's customer with a GET of its own.
    let customer_service = expected(&[
        ("/customers", "POST", 201, c),
        ("/customers", "POST", 400, b),
        ("/customers/{id}", "GET", 200, c + o),
        ("/customers/{id}", "GET", 404, m),
    ]);
    let order_service = expected(&[("/orders", "POST", 201, o)]);
    for (svc, delta, expected) in [
        (Service::Gateway, &deltas.gateway, &gateway),
        (
            Service::CustomerService,
            &deltas.customer_service,
            &customer_service,
        ),
        (Service::OrderService, &deltas.order_service, &order_service),
    ] {
        assert_eq!(
            requests(delta, svc, "http_requests_total"),
            *expected,
            "{} http_requests_total",
            svc.as_str()
        );
        assert_eq!(
            requests(delta, svc, "http_request_duration_seconds_count"),
            *expected,
            "{} http_request_duration_seconds_count",
            svc.as_str()
        );
    }
}

/// Upstream calls by outcome: the gateway forwards each request to its service (the 4xx pass
/// through), order-service checks each order's customer.
fn upstream_calls_are_counted(deltas: &Deltas) {
    let (c, o, m, b) = (SENT.creates, SENT.orders, SENT.missing, SENT.invalid);
    let upstream = |delta: &Samples, svc: Service, upstream: &str, outcome: &str| {
        value(
            delta,
            "upstream_requests_total",
            &[
                ("service", svc.as_str()),
                ("upstream", upstream),
                ("outcome", outcome),
            ],
        )
    };
    let gw = &deltas.gateway;
    assert_eq!(
        upstream(gw, Service::Gateway, "customer-service", "2xx"),
        2.0 * c
    );
    assert_eq!(
        upstream(gw, Service::Gateway, "customer-service", "4xx"),
        m + b
    );
    assert_eq!(upstream(gw, Service::Gateway, "order-service", "2xx"), o);
    assert_eq!(
        upstream(
            &deltas.order_service,
            Service::OrderService,
            "customer-service",
            "2xx"
        ),
        o
    );
    assert_eq!(
        family_total(gw, "upstream_request_duration_seconds_count"),
        2.0 * c + m + b + o
    );
}

/// The pool: every database request acquired a connection, none timed out; the gauges are read
/// at the scrape and stay within the pool's bounds.
fn pool_is_measured(deltas: &Deltas, after: &BTreeMap<&str, Samples>) {
    let (c, o, m) = (SENT.creates, SENT.orders, SENT.missing);
    let acquires = |delta: &Samples, svc: Service, outcome: &str| {
        value(
            delta,
            "db_pool_acquires_total",
            &[("service", svc.as_str()), ("outcome", outcome)],
        )
    };
    let (cs_delta, os_delta) = (&deltas.customer_service, &deltas.order_service);
    assert!(acquires(cs_delta, Service::CustomerService, "ok") >= 2.0 * c + o + m);
    assert!(acquires(os_delta, Service::OrderService, "ok") >= o);
    for (svc, delta) in [
        (Service::CustomerService, cs_delta),
        (Service::OrderService, os_delta),
    ] {
        assert_eq!(acquires(delta, svc, "timeout"), 0.0, "{}", svc.as_str());
        let now = &after[svc.as_str()];
        let labels = [("service", svc.as_str())];
        let size = value(now, "db_pool_connections", &labels);
        let idle = value(now, "db_pool_idle_connections", &labels);
        let max = value(now, "db_pool_max_connections", &labels);
        assert!(
            size >= 1.0 && size <= max && idle <= size,
            "{}: size {size}, idle {idle}, max {max}",
            svc.as_str()
        );
    }
}

/// A port already taken for the metrics: the service logs it and serves its API all the same.
async fn metrics_port_in_use_is_not_fatal() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let config = ServiceConfig {
        runtime: Runtime::Axum,
        svc: Service::Gateway,
        port: free_port().expect("a free port"),
        database_url: String::new(),
        customer_service_url: NOWHERE.to_string(),
        order_service_url: NOWHERE.to_string(),
        upstream_timeout_ms: 500,
        metrics_port: Some(taken.local_addr().expect("its address").port()),
    };
    let _gateway = start_service(&config)
        .await
        .expect("the gateway serves without its metrics listener");
    let http = client(CLIENT_TIMEOUT);
    let answer = client::get(&http, &format!("{}/healthz", config.url())).await;
    assert_eq!(answer.status, Some(200), "{}", answer.label());
}

/// Sends every request at once and returns the answers in order.
async fn burst(requests: impl Iterator<Item = (Method, String, Option<Value>)>) -> Vec<Outcome> {
    let http = client(CLIENT_TIMEOUT);
    let tasks: Vec<_> = requests
        .map(|(method, url, body)| {
            let http = http.clone();
            tokio::spawn(async move { client::send(&http, method, &url, body.as_ref()).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("the request task"));
    }
    answers
}

/// Every series the cluster dashboard (k8s/observability) reads from our services appears in a
/// real scrape of them after traffic: a renamed or dropped metric breaks this test, not the
/// dashboard silently. The cluster's own series (cAdvisor, kube-state-metrics) are pinned in
/// `crm_harness::promql` instead.
fn dashboard_series_are_exported(scrapes: &BTreeMap<&str, Samples>) {
    let path = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), promql::DASHBOARD);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let wanted = promql::service_metrics(&text).unwrap_or_else(|e| panic!("{path}: {e:#}"));
    assert!(!wanted.is_empty(), "{path}: no Axum series at all");
    for name in wanted {
        let exported = scrapes
            .values()
            .any(|samples| samples.keys().any(|(series, _)| *series == name));
        assert!(
            exported,
            "{path} uses {name}, which no Axum service exports"
        );
    }
}

/// `GET /metrics` on `svc`'s admin listener, parsed.
async fn scrape(http: &reqwest::Client, stack: &Stack, svc: Service) -> Samples {
    let url = stack
        .metrics_url(svc)
        .expect("an Axum service has a metrics URL");
    let response = http
        .get(&url)
        .send()
        .await
        .expect("the metrics listener answers");
    assert_eq!(response.status(), 200, "{url}");
    let text = response.text().await.expect("the metrics text");
    parse(&text).unwrap_or_else(|e| panic!("{url}: {e}\n{text}"))
}

/// The samples of Prometheus's text format (comments skipped).
fn parse(text: &str) -> Result<Samples, String> {
    let mut samples = Samples::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value: {line}"))?;
        let name = line[..name_end].to_string();
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            rest = parse_labels(inner, &mut labels).map_err(|e| format!("{e}: {line}"))?;
        }
        let value = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| format!("bad value: {line}"))?;
        samples.insert((name, labels), value);
    }
    Ok(samples)
}

/// Reads `key="value",…}` into `labels`; returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    labels: &mut BTreeMap<String, String>,
) -> Result<&'a str, String> {
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let (key, after) = rest.split_once("=\"").ok_or("a label without a value")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("a dangling escape")?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        rest = &after[end + 1..];
    }
}

/// `after - before` for every series of `after` that changed.
fn diff(before: &Samples, after: &Samples) -> Samples {
    after
        .iter()
        .filter_map(|(key, value)| {
            let change = value - before.get(key).copied().unwrap_or(0.0);
            (change != 0.0).then(|| (key.clone(), change))
        })
        .collect()
}

/// The `(route, method, status)` counts of family `name` in `delta`, each series checked to
/// carry `svc`'s label.
fn requests(delta: &Samples, svc: Service, name: &str) -> Expected {
    let mut counts = Expected::new();
    for ((series, labels), value) in delta {
        if series != name {
            continue;
        }
        assert_eq!(
            labels.get("service").map(String::as_str),
            Some(svc.as_str())
        );
        let label = |key: &str| labels.get(key).cloned().unwrap_or_default();
        let status = labels
            .get("status")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        counts.insert((label("route"), label("method"), status), *value);
    }
    counts
}

/// The value of the series `name` with exactly `labels`, 0 if absent.
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .get(&(name.to_string(), labels))
        .copied()
        .unwrap_or(0.0)
}

/// The sum of every series of family `name`.
fn family_total(samples: &Samples, name: &str) -> f64 {
    samples
        .iter()
        .filter(|((series, _), _)| series == name)
        .map(|(_, value)| value)
        .sum()
}

#[test]
fn the_text_format_parses() {
    let text = "# TYPE http_requests_total counter\n\
        http_requests_total{service=\"gateway\",method=\"GET\",route=\"/customers/{*rest}\",status=\"200\"} 3\n\
        db_pool_connections{service=\"a\\\"b\"} 2\n\
        up 1\n";
    let samples = parse(text).unwrap();
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[
                ("service", "gateway"),
                ("method", "GET"),
                ("route", "/customers/{*rest}"),
                ("status", "200")
            ]
        ),
        3.0
    );
    assert_eq!(
        value(&samples, "db_pool_connections", &[("service", "a\"b")]),
        2.0
    );
    assert_eq!(value(&samples, "up", &[]), 1.0);
}
