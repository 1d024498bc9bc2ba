//! Helpers of the black-box contract suite: the contract is `docs/api.md`.
//!
//! Everything a test needs to read as behaviour lives here: the environment, one HTTP client,
//! the invariants *every* response must satisfy (checked on each request, so no test can forget
//! them), and typed views of customers and orders that check their shape while parsing.
//!
//! The suite never talks to Postgres or to any implementation crate: it only knows URLs.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
pub use reqwest::Method;
pub use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest accepted request body; one byte more is 413.
pub const MAX_BODY_BYTES: usize = 65_536;
/// The largest id (i64::MAX); ids are 1..=this.
pub const MAX_ID: i64 = i64::MAX;
/// Upper bound for one ordinary request. Generous because `/compute` is CPU-bound and the
/// machine may be busy; it exists only so that a hang fails the test.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How much later than the configured upstream timeout a 504 may arrive before we call it a hang.
const FAULT_MARGIN: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------------------------

/// A required environment variable; a missing one fails the test that needs it, by name.
pub fn env_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_string(),
        _ => panic!(
            "environment variable {name} is not set; the contract suite needs it \
             (see tests/contract/README.md)"
        ),
    }
}

fn env_url(name: &str) -> String {
    env_var(name).trim_end_matches('/').to_string()
}

/// `CRM_RUNTIME`: the `x-crm-runtime` every response must carry.
pub fn expected_runtime() -> String {
    let runtime = env_var("CRM_RUNTIME");
    assert!(
        runtime == "axum" || runtime == "spin",
        "CRM_RUNTIME must be `axum` or `spin`, not {runtime:?}"
    );
    runtime
}

/// `CRM_FAULT_TIMEOUT_MS`: the UPSTREAM_TIMEOUT_MS of the fault services.
pub fn fault_timeout() -> Duration {
    let raw = env_var("CRM_FAULT_TIMEOUT_MS");
    let ms: u64 = raw
        .parse()
        .unwrap_or_else(|_| panic!("CRM_FAULT_TIMEOUT_MS must be milliseconds, not {raw:?}"));
    Duration::from_millis(ms)
}

// ---------------------------------------------------------------------------------------------
// Services and the client
// ---------------------------------------------------------------------------------------------

/// The three services; `name()` is their `x-crm-service` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Gateway,
    CustomerService,
    OrderService,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::CustomerService => "customer-service",
            Service::OrderService => "order-service",
        }
    }

    fn parse(name: &str) -> Option<Service> {
        [
            Service::Gateway,
            Service::CustomerService,
            Service::OrderService,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One running service (a gateway or a data service) at a base URL.
pub struct Api {
    base: String,
    role: Service,
    runtime: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl Api {
    /// `CRM_BASE_URL`: the main stack's gateway.
    pub fn gateway() -> Api {
        Api::new("CRM_BASE_URL", Service::Gateway, REQUEST_TIMEOUT)
    }
    /// `CRM_CUSTOMER_SERVICE_URL`: the main stack's customer-service, called directly.
    pub fn customer_service() -> Api {
        Api::new(
            "CRM_CUSTOMER_SERVICE_URL",
            Service::CustomerService,
            REQUEST_TIMEOUT,
        )
    }
    /// `CRM_ORDER_SERVICE_URL`: the main stack's order-service, called directly.
    pub fn order_service() -> Api {
        Api::new(
            "CRM_ORDER_SERVICE_URL",
            Service::OrderService,
            REQUEST_TIMEOUT,
        )
    }
    /// `CRM_FAULT_GATEWAY_URL`: customer-service refuses, order-service never answers.
    pub fn fault_gateway() -> Api {
        Api::new("CRM_FAULT_GATEWAY_URL", Service::Gateway, fault_bound())
    }
    /// `CRM_FAULT_ORDER_SERVICE_URL`: working database, customer-service refuses.
    pub fn fault_order_service() -> Api {
        Api::new(
            "CRM_FAULT_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }
    /// `CRM_HANG_ORDER_SERVICE_URL`: customer-service accepts and never answers.
    pub fn hang_order_service() -> Api {
        Api::new(
            "CRM_HANG_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }
    /// `CRM_NODB_CUSTOMER_SERVICE_URL`: Postgres unreachable.
    pub fn nodb_customer_service() -> Api {
        Api::new(
            "CRM_NODB_CUSTOMER_SERVICE_URL",
            Service::CustomerService,
            fault_bound(),
        )
    }
    /// `CRM_NODB_ORDER_SERVICE_URL`: Postgres unreachable.
    pub fn nodb_order_service() -> Api {
        Api::new(
            "CRM_NODB_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }

    /// `CRM_NODB_GATEWAY_URL`: a gateway whose upstreams are alive but have no database.
    pub fn nodb_gateway() -> Api {
        Api::new("CRM_NODB_GATEWAY_URL", Service::Gateway, fault_bound())
    }

    fn new(var: &str, role: Service, timeout: Duration) -> Api {
        let base = env_url(var);
        let runtime = expected_runtime();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .build()
            .expect("an HTTP client builds");
        Api {
            base,
            role,
            runtime,
            timeout,
            client,
        }
    }

    pub fn role(&self) -> Service {
        self.role
    }

    pub fn is_gateway(&self) -> bool {
        self.role == Service::Gateway
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, None).await
    }

    /// A body-less request with any method.
    pub async fn call(&self, method: Method, path: &str) -> Reply {
        self.send(method, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        self.send(method, path, Some("application/json"), Some(bytes))
            .await
    }

    /// Any request, byte for byte: `content_type` None sends no content-type header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => panic!("{}", self.transport_failure(&method, &url, &err)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(err) => panic!("{}", self.transport_failure(&method, &url, &err)),
        };
        let reply = Reply {
            method,
            url,
            status,
            headers,
            body,
        };
        reply.check_invariants(&self.runtime);
        reply
    }

    /// Sends one request over a fresh TCP connection and reads the answer even when the server
    /// answers before reading the whole body and closes (as a 413 decided from `content-length`
    /// may): hyper's client reports the resulting broken pipe as an error and drops the answer,
    /// while the contract only cares that the client receives it. `chunked` sends the body with
    /// `transfer-encoding: chunked` instead of a `content-length`.
    pub async fn send_over_tcp(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        chunked: bool,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let parsed = reqwest::Url::parse(&url).expect("a valid URL");
        let host = parsed.host_str().expect("a host").to_string();
        let port = parsed.port_or_known_default().expect("a port");
        let request = raw_request(&method, path, &host, port, content_type, body, chunked);
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let (mut reader, mut writer) = stream.split();
            // Write errors are expected once the server has answered and stopped reading.
            let write = async {
                let _ = writer.write_all(&request).await;
            };
            let read = read_raw_response(&mut reader);
            tokio::pin!(write, read);
            let mut written = false;
            loop {
                tokio::select! {
                    _ = &mut write, if !written => written = true,
                    answer = &mut read => break answer,
                }
            }
        };
        let (status, headers, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => panic!("{method} {url}: no HTTP answer over TCP: {err}"),
            Err(_) => panic!(
                "{method} {url}: no answer within {:?}; a hang is a bug",
                self.timeout
            ),
        };
        let reply = Reply {
            method,
            url,
            status,
            headers,
            body,
        };
        reply.check_invariants(&self.runtime);
        reply
    }

    /// The host and port of this service, for raw requests' `host` header and connections.
    pub fn host_port(&self) -> (String, u16) {
        let parsed = reqwest::Url::parse(&self.base).expect("a valid URL");
        let host = parsed.host_str().expect("a host").to_string();
        (host, parsed.port_or_known_default().expect("a port"))
    }

    /// Writes `request` byte for byte on a fresh connection (hostile tests: malformed heads,
    /// invalid UTF-8 in the request line, oversized heads) and returns the answer, or None when
    /// the server closed or reset the connection without one. Unlike every other request, no
    /// invariant is checked here: the HTTP server may refuse a malformed head itself, before
    /// any service code runs (`Reply::is_bare_protocol_rejection`). The answer must still
    /// arrive within the usual bound: a hang is a bug.
    pub async fn send_raw(&self, request: &[u8]) -> Option<Reply> {
        let (host, port) = self.host_port();
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let (mut reader, mut writer) = stream.split();
            let write = async {
                let _ = writer.write_all(request).await;
            };
            let read = read_raw_response(&mut reader);
            tokio::pin!(write, read);
            let mut written = false;
            loop {
                tokio::select! {
                    _ = &mut write, if !written => written = true,
                    answer = &mut read => break answer,
                }
            }
        };
        let what = String::from_utf8_lossy(&request[..request.len().min(120)]).into_owned();
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((status, headers, body))) => Some(Reply {
                method: Method::GET,
                url: format!("{} (raw: {what:?})", self.base),
                status,
                headers,
                body,
            }),
            Ok(Err(_)) => None,
            Err(_) => panic!(
                "raw request {what:?}: no answer within {:?}; a hang is a bug",
                self.timeout
            ),
        }
    }

    fn transport_failure(&self, method: &Method, url: &str, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            format!(
                "{method} {url}: no answer within {:?}; a hang is a bug ({err})",
                self.timeout
            )
        } else {
            format!("{method} {url}: no HTTP answer: {err:?}")
        }
    }
}

fn raw_request(
    method: &Method,
    path: &str,
    host: &str,
    port: u16,
    content_type: Option<&str>,
    body: &[u8],
    chunked: bool,
) -> Vec<u8> {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("content-type: {content_type}\r\n"));
    }
    if chunked {
        head.push_str("transfer-encoding: chunked\r\n\r\n");
    } else {
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    }
    let mut request = head.into_bytes();
    if chunked {
        for chunk in body.chunks(8192) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
    } else {
        request.extend_from_slice(body);
    }
    request
}

type RawAnswer = (u16, HeaderMap, Vec<u8>);

/// Reads until one complete answer is buffered (or the peer closes). A reset after some bytes
/// arrived ends the read too: the answer was sent before the server dropped the connection.
async fn read_raw_response<R: tokio::io::AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<RawAnswer> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(answer) = parse_raw_response(&buffer, false) {
            return Ok(answer);
        }
        match reader.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(_) if !buffer.is_empty() => break,
            Err(err) => return Err(err),
        }
    }
    parse_raw_response(&buffer, true).ok_or_else(|| {
        std::io::Error::other(format!(
            "incomplete HTTP answer: {}",
            String::from_utf8_lossy(&buffer)
        ))
    })
}

/// Parses one HTTP/1.1 answer; None while incomplete. `closed`: the peer closed, so a body
/// without length ends here.
fn parse_raw_response(buffer: &[u8], closed: bool) -> Option<RawAnswer> {
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut slots);
    let head_len = match response.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(err) => panic!(
            "not an HTTP answer ({err}): {}",
            String::from_utf8_lossy(buffer)
        ),
    };
    let status = response.code.expect("a status code");
    let mut headers = HeaderMap::new();
    for header in response.headers.iter() {
        headers.append(
            reqwest::header::HeaderName::from_bytes(header.name.as_bytes()).expect("a header name"),
            reqwest::header::HeaderValue::from_bytes(header.value).expect("a header value"),
        );
    }
    let rest = &buffer[head_len..];
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else if let Some(length) = length {
        rest.get(..length)?.to_vec()
    } else if chunked {
        decode_chunked(rest)?
    } else if closed {
        rest.to_vec()
    } else {
        return None;
    };
    Some((status, headers, body))
}

/// Decodes a complete chunked body; None while incomplete.
fn decode_chunked(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).expect("a chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn fault_bound() -> Duration {
    fault_timeout() + FAULT_MARGIN
}

// ---------------------------------------------------------------------------------------------
// Replies and the invariants every response satisfies
// ---------------------------------------------------------------------------------------------

/// Every status the contract produces.
const CONTRACT_STATUSES: [u16; 13] = [
    200, 201, 204, 400, 404, 405, 409, 413, 415, 500, 502, 503, 504,
];

/// The contract's error codes and the status each one fixes.
const ERROR_CODES: [(&str, u16); 13] = [
    ("invalid_body", 400),
    ("validation_failed", 400),
    ("invalid_parameter", 400),
    ("customer_not_found", 400),
    ("not_found", 404),
    ("method_not_allowed", 405),
    ("invalid_status_transition", 409),
    ("payload_too_large", 413),
    ("unsupported_media_type", 415),
    ("internal", 500),
    ("upstream_unavailable", 502),
    ("database_unavailable", 503),
    ("upstream_timeout", 504),
];

/// Fragments that must never reach a client in a 5xx body: SQL, connection strings, panics.
const LEAK_MARKERS: [&str; 16] = [
    "postgres://",
    "postgresql://",
    "host=",
    "user=",
    "password",
    "dbname",
    "select ",
    "insert into",
    "update customers",
    "update orders",
    "delete from",
    " from customers",
    " from orders",
    "sqlx",
    "panicked",
    "backtrace",
];

/// One complete HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// `METHOD url -> status body`, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.method,
            self.url,
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }

    /// A header's value; several lines of one header are joined with ", " as HTTP allows.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap_or_else(|_| panic!("{name} is not ASCII: {}", self.describe()))
            })
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.describe()))
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        self.assert_status(status);
        self.json()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
    }

    /// Asserts an error answer with this status and code; returns the `error` object.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        self.assert_status(status);
        let doc = self.json();
        assert_eq!(
            doc["error"]["code"],
            code,
            "unexpected error code: {}",
            self.describe()
        );
        doc["error"].clone()
    }

    /// Asserts `validation_failed` and returns the failing fields' names, in answer order.
    #[track_caller]
    pub fn validation_fields(&self) -> Vec<String> {
        let error = self.assert_error(400, "validation_failed");
        error["fields"]
            .as_array()
            .expect("fields is an array")
            .iter()
            .map(|f| f["field"].as_str().expect("field is a string").to_string())
            .collect()
    }

    /// Asserts `validation_failed` naming exactly these fields, in this order.
    #[track_caller]
    pub fn assert_invalid_fields(&self, expected: &[&str]) {
        assert_eq!(
            self.validation_fields(),
            expected,
            "failing fields: {}",
            self.describe()
        );
    }

    #[track_caller]
    pub fn assert_service(&self, service: Service) {
        assert_eq!(
            self.header("x-crm-service").as_deref(),
            Some(service.name()),
            "x-crm-service: {}",
            self.describe()
        );
    }

    /// The `location` header (the contract's is a path such as `/customers/7`).
    #[track_caller]
    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no location header: {}", self.describe()))
    }

    /// The `allow` header's methods.
    #[track_caller]
    pub fn allowed_methods(&self) -> BTreeSet<String> {
        let allow = self
            .header("allow")
            .unwrap_or_else(|| panic!("no allow header: {}", self.describe()));
        allow.split(',').map(|m| m.trim().to_string()).collect()
    }

    #[track_caller]
    pub fn assert_empty_body(&self) {
        assert!(
            self.body.is_empty(),
            "expected no body: {}",
            self.describe()
        );
    }

    /// The names of the `server-timing` entries, in order (their format is checked on receipt).
    pub fn timing_names(&self) -> Vec<String> {
        self.header("server-timing")
            .map(|value| {
                parse_server_timing(&value)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A `server-timing` entry's duration in ms.
    pub fn timing(&self, name: &str) -> Option<f64> {
        let value = self.header("server-timing")?;
        parse_server_timing(&value)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }

    /// Asserts exactly these `server-timing` entries in this order, plus the gateway's `gw`
    /// last when `api` is a gateway.
    #[track_caller]
    pub fn assert_timing(&self, api: &Api, names: &[&str]) {
        let mut expected: Vec<&str> = names.to_vec();
        if api.is_gateway() {
            expected.push("gw");
        }
        assert_eq!(
            self.timing_names(),
            expected,
            "server-timing {:?}: {}",
            self.header("server-timing"),
            self.describe()
        );
    }

    /// Asserts these `server-timing` entries appear in this relative order (others may too),
    /// plus `gw` last when `api` is a gateway.
    #[track_caller]
    pub fn assert_timing_includes(&self, api: &Api, names: &[&str]) {
        let actual = self.timing_names();
        let mut rest = actual.iter();
        for name in names {
            assert!(
                rest.any(|n| n == name),
                "server-timing {actual:?} lacks {name:?} (in order {names:?}): {}",
                self.describe()
            );
        }
        if api.is_gateway() {
            assert_eq!(
                actual.last().map(String::as_str),
                Some("gw"),
                "the gateway appends gw last: {}",
                self.describe()
            );
        }
    }

    /// Asserts what every service answer owes (the checks `Api` runs on each reply), for an
    /// answer read with `Api::send_raw`.
    #[track_caller]
    pub fn assert_contract_answer(&self) {
        self.check_invariants(&expected_runtime());
    }

    /// A refusal by the HTTP server itself, before any service code ran: hyper answers a
    /// malformed or oversized request head with a bare 400 or 431 (no body, no contract
    /// headers) and closes the connection (docs/api.md#hostile-input).
    pub fn is_bare_protocol_rejection(&self) -> bool {
        matches!(self.status, 400 | 408 | 413 | 414 | 431)
            && self.body.is_empty()
            && self.header("x-crm-runtime").is_none()
            && self
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }

    /// The checks every response of every service must pass, whatever the test is about.
    fn check_invariants(&self, runtime: &str) {
        let what = self.describe();
        assert!(
            CONTRACT_STATUSES.contains(&self.status),
            "a status outside the contract: {what}"
        );
        assert_eq!(
            self.header("x-crm-runtime").as_deref(),
            Some(runtime),
            "x-crm-runtime: {what}"
        );
        let service = self
            .header("x-crm-service")
            .unwrap_or_else(|| panic!("no x-crm-service: {what}"));
        assert!(
            Service::parse(&service).is_some(),
            "x-crm-service {service:?} is not a service: {what}"
        );
        if let Some(timing) = self.header("server-timing") {
            parse_server_timing(&timing);
        }
        if self.status == 204 {
            assert!(self.body.is_empty(), "a 204 has no body: {what}");
        }
        if self.status == 405 {
            let allowed = self.allowed_methods();
            assert!(
                !allowed.is_empty() && !allowed.contains("HEAD"),
                "allow lists the methods, without HEAD: {what}"
            );
        }
        if self.method == Method::HEAD {
            return; // HEAD answers carry no body to check
        }
        if self.body.is_empty() {
            assert_eq!(self.status, 204, "only a 204 has no body: {what}");
            return;
        }
        let content_type = self
            .header("content-type")
            .unwrap_or_else(|| panic!("a body without content-type: {what}"));
        assert!(
            is_json_media_type(&content_type),
            "content-type {content_type:?} is not application/json: {what}"
        );
        let body = self.json();
        if self.status >= 400 {
            let readyz = self
                .url
                .split('?')
                .next()
                .unwrap_or("")
                .ends_with("/readyz");
            check_error_document(&body, self.status, readyz, &what);
        }
        if self.status >= 500 {
            let text = String::from_utf8_lossy(&self.body).to_lowercase();
            for marker in LEAK_MARKERS {
                assert!(
                    !text.contains(marker),
                    "a 5xx body leaks internals ({marker:?}): {what}"
                );
            }
        }
    }
}

fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The one error shape: `{"error": {"code", "message", "fields"?}}`, `fields` only (and always)
/// with `validation_failed`, and a code whose status is the answer's.
fn check_error_document(body: &Value, status: u16, readyz: bool, what: &str) {
    let doc = body
        .as_object()
        .unwrap_or_else(|| panic!("an error body is an object: {what}"));
    assert_eq!(
        doc.keys().collect::<Vec<_>>(),
        ["error"],
        "an error body has only `error`: {what}"
    );
    let error = doc["error"]
        .as_object()
        .unwrap_or_else(|| panic!("`error` is an object: {what}"));
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("error.code is a string: {what}"));
    let code_status = ERROR_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("{code:?} is not a contract error code: {what}"));
    // The one documented exception (docs/api.md#health-and-readiness): a gateway that is not ready
    // answers 503 with `upstream_unavailable`.
    let not_ready_gateway = status == 503 && code == "upstream_unavailable" && readyz;
    assert!(
        code_status == status || not_ready_gateway,
        "{code} belongs with {code_status}, not {status}: {what}"
    );
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("error.message is a string: {what}"));
    assert!(!message.trim().is_empty(), "error.message is empty: {what}");
    let allowed_keys: &[&str] = if code == "validation_failed" {
        &["code", "message", "fields"]
    } else {
        &["code", "message"]
    };
    for key in error.keys() {
        assert!(
            allowed_keys.contains(&key.as_str()),
            "unexpected error.{key} with {code}: {what}"
        );
    }
    if code == "validation_failed" {
        let fields = error
            .get("fields")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("validation_failed has a fields array: {what}"));
        assert!(
            !fields.is_empty(),
            "validation_failed names a field: {what}"
        );
        for field in fields {
            let entry = field
                .as_object()
                .unwrap_or_else(|| panic!("a fields entry is an object: {what}"));
            let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["field", "message"], "a fields entry's keys: {what}");
            assert!(
                entry["field"].as_str().is_some_and(|f| !f.is_empty()),
                "fields[].field is a name: {what}"
            );
            assert!(
                entry["message"]
                    .as_str()
                    .is_some_and(|m| !m.trim().is_empty()),
                "fields[].message is text: {what}"
            );
        }
    }
}

/// Parses `name;dur=1.234, name;dur=…`, asserting each entry's format: a name and a duration in
/// ms with exactly three decimals.
pub fn parse_server_timing(value: &str) -> Vec<(String, f64)> {
    value
        .split(',')
        .map(|entry| {
            let entry = entry.trim();
            let (name, dur) = entry
                .split_once(";dur=")
                .unwrap_or_else(|| panic!("server-timing entry {entry:?} is not name;dur=ms"));
            assert!(
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "server-timing name {name:?} in {value:?}"
            );
            let (whole, fraction) = dur
                .split_once('.')
                .unwrap_or_else(|| panic!("server-timing {entry:?}: three decimals"));
            assert!(
                !whole.is_empty()
                    && whole.chars().all(|c| c.is_ascii_digit())
                    && fraction.len() == 3
                    && fraction.chars().all(|c| c.is_ascii_digit()),
                "server-timing {entry:?}: a duration in ms with three decimals"
            );
            (name.to_string(), dur.parse().expect("a decimal duration"))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// Asserts `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds) with plausible field values.
#[track_caller]
pub fn assert_timestamp(value: &str) {
    let b = value.as_bytes();
    let shape_ok = b.len() == 27
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            26 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    assert!(
        shape_ok,
        "timestamp {value:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"
    );
    let num = |range: std::ops::Range<usize>| value[range].parse::<u32>().unwrap();
    let (month, day, hour, minute, second) =
        (num(5..7), num(8..10), num(11..13), num(14..16), num(17..19));
    assert!(
        (1..=12).contains(&month)
            && (1..=31).contains(&day)
            && hour < 24
            && minute < 60
            && second < 60,
        "timestamp {value:?} has an impossible field"
    );
}

/// Asserts the JSON value is an object with exactly these keys.
#[track_caller]
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {value}"));
    let mut actual: Vec<&str> = object.keys().map(String::as_str).collect();
    actual.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(actual, expected, "keys of {value}");
}

#[track_caller]
fn int(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is an integer in {value}"))
}

#[track_caller]
fn string(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string in {value}"))
        .to_string()
}

/// A customer as the contract returns it; `from_json` checks the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl Customer {
    #[track_caller]
    pub fn from_json(value: &Value) -> Customer {
        assert_keys(
            value,
            &["id", "name", "email", "phone", "created_at", "updated_at"],
        );
        let phone = match &value["phone"] {
            Value::Null => None,
            Value::String(p) => Some(p.clone()),
            other => panic!("phone is a string or null, not {other}"),
        };
        let customer = Customer {
            id: int(value, "id"),
            name: string(value, "name"),
            email: string(value, "email"),
            phone,
            created_at: string(value, "created_at"),
            updated_at: string(value, "updated_at"),
        };
        assert!(customer.id >= 1, "ids are positive: {value}");
        assert_timestamp(&customer.created_at);
        assert_timestamp(&customer.updated_at);
        assert!(
            customer.updated_at >= customer.created_at,
            "updated_at is not before created_at: {value}"
        );
        customer
    }
}

/// An order as the contract returns it; `from_json` checks the shape and `total_cents`.
#[derive(Clone, Debug, PartialEq)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub product: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
    pub total_cents: i64,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
}

pub const STATUSES: [&str; 4] = ["pending", "paid", "shipped", "cancelled"];

impl Order {
    #[track_caller]
    pub fn from_json(value: &Value) -> Order {
        assert_keys(
            value,
            &[
                "id",
                "customer_id",
                "product",
                "quantity",
                "unit_price_cents",
                "total_cents",
                "status",
                "created_at",
                "updated_at",
            ],
        );
        let order = Order {
            id: int(value, "id"),
            customer_id: int(value, "customer_id"),
            product: string(value, "product"),
            quantity: int(value, "quantity"),
            unit_price_cents: int(value, "unit_price_cents"),
            total_cents: int(value, "total_cents"),
            status: string(value, "status"),
            created_at: string(value, "created_at"),
            updated_at: string(value, "updated_at"),
        };
        assert!(order.id >= 1, "ids are positive: {value}");
        assert_eq!(
            order.total_cents,
            order.quantity * order.unit_price_cents,
            "total_cents = quantity * unit_price_cents: {value}"
        );
        assert!(
            STATUSES.contains(&order.status.as_str()),
            "status is one of the four: {value}"
        );
        assert_timestamp(&order.created_at);
        assert_timestamp(&order.updated_at);
        assert!(
            order.updated_at >= order.created_at,
            "updated_at is not before created_at: {value}"
        );
        order
    }
}

/// A page answer: `{"items", "limit", "offset"}`, echoing the effective paging.
#[track_caller]
pub fn assert_page(body: &Value, limit: i64, offset: i64) -> Vec<Value> {
    assert_keys(body, &["items", "limit", "offset"]);
    assert_eq!(body["limit"], limit, "page limit in {body}");
    assert_eq!(body["offset"], offset, "page offset in {body}");
    let items = body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items is an array in {body}"))
        .clone();
    assert!(
        items.len() as i64 <= limit,
        "no more items than limit: {body}"
    );
    let ids: Vec<i64> = items.iter().map(|i| int(i, "id")).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "items strictly ascending by id: {ids:?}"
    );
    items
}

// ---------------------------------------------------------------------------------------------
// Fixtures: unique data, so tests share one database safely
// ---------------------------------------------------------------------------------------------

/// A value no other test (or run) uses.
pub fn unique(tag: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{tag}-{}-{nanos}-{n}", std::process::id())
}

pub fn unique_email() -> String {
    format!("{}@contract.example.com", unique("c"))
}

/// A valid customer body with fresh values.
pub fn customer_body() -> Value {
    json!({ "name": unique("Customer"), "email": unique_email(), "phone": "+1 (555) 010-0000" })
}

pub fn customer_path(id: i64) -> String {
    format!("/customers/{id}")
}

pub fn order_path(id: i64) -> String {
    format!("/orders/{id}")
}

/// Creates a customer through `api` (a gateway or customer-service).
pub async fn create_customer(api: &Api) -> Customer {
    let reply = api.post("/customers", &customer_body()).await;
    Customer::from_json(&reply.expect(201))
}

/// Creates an order through `api` (a gateway or order-service).
pub async fn create_order(
    api: &Api,
    customer_id: i64,
    quantity: i64,
    unit_price_cents: i64,
) -> Order {
    let body = json!({
        "customer_id": customer_id,
        "product": unique("Widget"),
        "quantity": quantity,
        "unit_price_cents": unit_price_cents,
    });
    Order::from_json(&api.post("/orders", &body).await.expect(201))
}

/// The PUT body that keeps an order as it is except for its status.
pub fn order_update(order: &Order, status: &str) -> Value {
    json!({
        "product": order.product,
        "quantity": order.quantity,
        "unit_price_cents": order.unit_price_cents,
        "status": status,
    })
}

/// A fresh order moved (by allowed steps) into `status`.
pub async fn order_in_status(api: &Api, status: &str) -> Order {
    let customer = create_customer(api).await;
    let mut order = create_order(api, customer.id, 2, 150).await;
    let path: &[&str] = match status {
        "pending" => &[],
        "paid" => &["paid"],
        "shipped" => &["paid", "shipped"],
        "cancelled" => &["cancelled"],
        other => panic!("not a status: {other}"),
    };
    for step in path {
        let reply = api
            .put(&order_path(order.id), &order_update(&order, step))
            .await;
        order = Order::from_json(&reply.expect(200));
    }
    assert_eq!(order.status, status);
    order
}

/// Fibonacci with the contract's iterative algorithm: u64 and wrapping addition.
pub fn fib_wrapping(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        let next = a.wrapping_add(b);
        a = b;
        b = next;
    }
    a
}

/// Runs one async check against several targets, one test each, e.g.
/// `for_each_target!(unknown_path_is_404 => check_unknown_path: gateway, customer_service);`
/// makes `unknown_path_is_404::gateway` and `unknown_path_is_404::customer_service`.
#[macro_export]
macro_rules! for_each_target {
    ($name:ident => $check:ident: $($target:ident),+ $(,)?) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $target() {
                    super::$check($crate::Api::$target()).await
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_wrapping_matches_known_values_and_wraps_after_93() {
        assert_eq!(fib_wrapping(0), 0);
        assert_eq!(fib_wrapping(1), 1);
        assert_eq!(fib_wrapping(10), 55);
        assert_eq!(fib_wrapping(93), 12_200_160_415_121_876_738);
        // F(94) = 19740274219868223167, which is 2^64 + 1293530146158671551.
        assert_eq!(fib_wrapping(94), 1_293_530_146_158_671_551);
    }

    #[test]
    fn server_timing_entries_parse_in_order() {
        let entries = parse_server_timing("conn;dur=0.412, query;dur=1.203,total;dur=13.000");
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["conn", "query", "total"]);
        assert_eq!(entries[1].1, 1.203);
    }

    #[test]
    #[should_panic(expected = "three decimals")]
    fn server_timing_needs_three_decimals() {
        parse_server_timing("conn;dur=0.41");
    }

    #[test]
    #[should_panic(expected = "not name;dur=ms")]
    fn server_timing_needs_a_duration() {
        parse_server_timing("conn");
    }

    #[test]
    fn timestamps_in_the_contract_format_pass() {
        assert_timestamp("2026-11-21T08:15:30.123456Z");
    }

    #[test]
    fn timestamps_in_other_formats_fail() {
        for bad in [
            "2026-11-21T08:15:30Z",
            "2026-11-21T08:15:30.123Z",
            "2026-11-21T08:15:30.123456+00:00",
            "2026-11-21 08:15:30.123456Z",
            "2026-13-21T08:15:30.123456Z",
        ] {
            let result = std::panic::catch_unwind(|| assert_timestamp(bad));
            assert!(result.is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn error_documents_are_checked_against_the_table() {
        let ok = json!({"error": {"code": "not_found", "message": "no such resource"}});
        check_error_document(&ok, 404, false, "ok");
        let validation = json!({"error": {"code": "validation_failed", "message": "m",
            "fields": [{"field": "email", "message": "is required"}]}});
        check_error_document(&validation, 400, false, "validation");
        for (doc, status) in [
            (json!({"error": {"code": "not_found", "message": "x"}}), 400),
            (json!({"error": {"code": "teapot", "message": "x"}}), 418),
            (
                json!({"error": {"code": "not_found", "message": "x", "fields": []}}),
                404,
            ),
            (
                json!({"error": {"code": "validation_failed", "message": "x"}}),
                400,
            ),
            (json!({"error": {"code": "not_found"}}), 404),
            (json!({"code": "not_found", "message": "x"}), 404),
        ] {
            let result =
                std::panic::catch_unwind(|| check_error_document(&doc, status, false, "bad"));
            assert!(result.is_err(), "{doc} with {status} should be refused");
        }
    }

    #[test]
    fn json_media_types_allow_parameters_only() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("application/json; charset=utf-8"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonp"));
    }

    #[test]
    fn raw_answers_parse_with_length_or_chunks_and_wait_when_incomplete() {
        let fixed = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\nx-a: 1\r\n\r\n{}";
        let (status, headers, body) = parse_raw_response(fixed, false).unwrap();
        assert_eq!((status, body.as_slice()), (413, &b"{}"[..]));
        assert_eq!(headers["x-a"], "1");
        assert!(parse_raw_response(&fixed[..fixed.len() - 1], false).is_none());
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{\"\r\n1;x=y\r\n}\r\n0\r\n\r\n";
        assert_eq!(parse_raw_response(chunked, false).unwrap().2, b"{\"}");
        assert!(parse_raw_response(&chunked[..chunked.len() - 5], false).is_none());
    }

    #[test]
    fn unique_values_differ() {
        assert_ne!(unique("t"), unique("t"));
        assert_ne!(unique_email(), unique_email());
    }
}
