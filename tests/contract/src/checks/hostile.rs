//! The hostile-input checks ([docs/api.md](../../docs/api.md#hostile-input)) run on the gateway
//! (`tests/hostile.rs`) and on the data services (`tests/data_services.rs`): how a raw request
//! ended, the requests themselves, and the slow clients.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::*;

/// How a raw request ended.
#[derive(Debug)]
enum Outcome {
    /// A service answered (every contract invariant checked).
    Contract(Received),
    /// The HTTP server refused the head itself: a bare 400/431 and a close.
    Refused(Received),
    /// The connection closed (or reset) without an answer.
    Closed,
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Outcome::Contract(reply) => format!("contract answer {}", reply.describe()),
            Outcome::Refused(reply) => format!("bare refusal {}", reply.describe()),
            Outcome::Closed => "closed".to_string(),
        }
    }

    /// The service's answer; panics on a refusal or a close.
    #[track_caller]
    fn contract(self) -> Received {
        match self {
            Outcome::Contract(reply) => reply,
            other => panic!("expected a contract answer, got {}", other.describe()),
        }
    }

    /// Asserts the server refused (or closed) rather than served the request.
    #[track_caller]
    fn assert_refused_or_closed(&self, what: &str) {
        assert!(
            matches!(self, Outcome::Refused(_) | Outcome::Closed),
            "{what}: expected a bare refusal or a close, got {}",
            self.describe()
        );
    }
}

/// Fragments that must appear in no answer to these requests (none of them is in the input).
const LEAKS: [&str; 8] = [
    "postgres://",
    "sqlx",
    "panicked",
    "backtrace",
    ".rs:",
    "wasm backtrace",
    "password",
    "dbname",
];

#[track_caller]
fn assert_no_leak(reply: &Received) {
    let text = String::from_utf8_lossy(&reply.body).to_lowercase();
    for leak in LEAKS {
        assert!(
            !text.contains(leak),
            "{leak:?} leaked: {}",
            reply.describe()
        );
    }
    assert_ne!(reply.status, 500, "a 500: {}", reply.describe());
}

async fn raw(api: &Api, request: &[u8]) -> Outcome {
    match api.send_raw(request).await {
        None => Outcome::Closed,
        Some(reply) if reply.is_bare_protocol_rejection() => Outcome::Refused(reply),
        Some(reply) => {
            reply.assert_invariants();
            assert_no_leak(&reply);
            Outcome::Contract(reply)
        }
    }
}

/// A complete request: `METHOD target HTTP/1.1`, host, `connection: close`, the extra header
/// lines (each ending in CRLF), and the body with its content-length when there is one.
pub fn request(
    api: &Api,
    method: &str,
    target: &[u8],
    headers: &[u8],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let (host, port) = api.host_port();
    let mut bytes = Vec::new();
    bytes.extend_from_slice(method.as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(target);
    bytes.extend_from_slice(
        format!(" HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n").as_bytes(),
    );
    bytes.extend_from_slice(headers);
    if let Some(body) = body {
        bytes.extend_from_slice(
            format!(
                "content-type: application/json\r\ncontent-length: {}\r\n",
                body.len()
            )
            .as_bytes(),
        );
    }
    bytes.extend_from_slice(b"\r\n");
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

pub fn get(api: &Api, target: &[u8]) -> Vec<u8> {
    request(api, "GET", target, b"", None)
}

/// The paths a target serves, as (collection, a missing item) pairs.
fn collections(api: &Api) -> Vec<(&'static str, &'static str)> {
    match api.role() {
        Service::Gateway => vec![("/customers", "/customers/"), ("/orders", "/orders/")],
        Service::CustomerService => vec![("/customers", "/customers/")],
        Service::OrderService => vec![("/orders", "/orders/")],
    }
}

/// POST and PUT requests whose one string field (`name`, or `product`) holds `value`, a raw
/// JSON value (bytes, so it may be invalid UTF-8); every other field is valid.
fn with_string_field(api: &Api, value: &[u8]) -> Vec<Vec<u8>> {
    let parts: [(&str, &str, &[u8], &[u8]); 2] = if api.role() == Service::OrderService {
        [
            ("POST", "/orders", b"{\"customer_id\": 1, \"quantity\": 1, \"product\": ", b"}"),
            (
                "PUT",
                "/orders/1",
                b"{\"quantity\": 1, \"unit_price_cents\": 0, \"status\": \"pending\", \"product\": ",
                b"}",
            ),
        ]
    } else {
        [
            (
                "POST",
                "/customers",
                b"{\"email\": \"a@b.co\", \"name\": ",
                b"}",
            ),
            (
                "PUT",
                "/customers/1",
                b"{\"email\": \"a@b.co\", \"name\": ",
                b"}",
            ),
        ]
    };
    parts
        .into_iter()
        .map(|(method, target, before, after)| {
            let body = [before, value, after].concat();
            request(api, method, target.as_bytes(), b"", Some(&body))
        })
        .collect()
}

// --- oversized heads and URLs ------------------------------------------------------------------

pub async fn check_oversized_heads(api: Api) {
    let path = collections(&api)[0].0;
    // Far past any server's head limit: refused (431) or closed, never served.
    let huge_header = format!("x-huge: {}\r\n", "a".repeat(1024 * 1024));
    raw(
        &api,
        &request(&api, "GET", b"/healthz", huge_header.as_bytes(), None),
    )
    .await
    .assert_refused_or_closed("a 1 MiB header");
    let huge_url = format!("{path}?x={}", "a".repeat(1024 * 1024));
    raw(&api, &get(&api, huge_url.as_bytes()))
        .await
        .assert_refused_or_closed("a 1 MiB URL");
    let many: String = (0..500).map(|i| format!("x-h{i}: v\r\n")).collect();
    raw(
        &api,
        &request(&api, "GET", b"/healthz", many.as_bytes(), None),
    )
    .await
    .assert_refused_or_closed("500 headers");

    // 100 KiB of header: served or refused, by the host's limit. The Axum services cap a head
    // at 64 KiB (like a body), so there it is refused.
    let big_header = format!("x-big: {}\r\n", "a".repeat(100 * 1024));
    let outcome = raw(
        &api,
        &request(&api, "GET", b"/healthz", big_header.as_bytes(), None),
    )
    .await;
    match &outcome {
        Outcome::Contract(reply) => reply.assert_status(200),
        Outcome::Refused(reply) => assert_eq!(reply.status, 431, "{}", reply.describe()),
        Outcome::Closed => {}
    }
    if expected_runtime() == "axum" {
        outcome.assert_refused_or_closed("a 100 KiB header on Axum (64 KiB head limit)");
    }

    // Long but under the limits: the contract answers, and its message does not reflect
    // kilobytes of input back.
    let long_value = "9".repeat(16 * 1024);
    for target in [
        format!("{path}?limit={long_value}"),
        format!("{path}?offset={long_value}"),
        format!("{}{long_value}", collections(&api)[0].1),
    ] {
        let reply = raw(&api, &get(&api, target.as_bytes())).await.contract();
        reply.assert_error(400, "invalid_parameter");
        assert!(
            reply.body.len() < 1024,
            "a {} byte answer to a 16 KiB parameter: {}",
            reply.body.len(),
            reply.describe()
        );
    }
    // An unknown query parameter of 16 KiB is ignored.
    let target = format!("{path}?limit=1&junk={}", "j".repeat(16 * 1024));
    raw(&api, &get(&api, target.as_bytes()))
        .await
        .contract()
        .assert_status(200);
}

// --- malformed requests -------------------------------------------------------------------------

pub async fn check_malformed_requests(api: Api) {
    let path = collections(&api)[0].0;
    let (host, port) = api.host_port();
    for (what, bytes) in [
        ("garbage", b"GARBAGE\r\n\r\n".to_vec()),
        (
            "no version",
            format!("GET {path}\r\nhost: {host}:{port}\r\n\r\n").into_bytes(),
        ),
        (
            "two different content-lengths",
            format!(
                "POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n\
                 content-length: 2\r\ncontent-length: 3\r\nconnection: close\r\n\r\n{{}} "
            )
            .into_bytes(),
        ),
        (
            "a control character in a header",
            request(&api, "GET", path.as_bytes(), b"x-evil: a\x01b\r\n", None),
        ),
        (
            "a NUL in the target",
            get(&api, format!("{path}\0").as_bytes()),
        ),
    ] {
        raw(&api, &bytes).await.assert_refused_or_closed(what);
    }
    // Content-length and chunked together: either refused, or the chunked body is the body
    // (an empty object: validation_failed), never a smuggled second request.
    let smuggle = format!(
        "POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n\
         content-length: 4\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n\
         2\r\n{{}}\r\n0\r\n\r\n"
    );
    match raw(&api, smuggle.as_bytes()).await {
        Outcome::Contract(reply) => {
            reply.assert_error(400, "validation_failed");
        }
        other => other.assert_refused_or_closed("content-length with chunked"),
    }
}

// --- invalid UTF-8 ------------------------------------------------------------------------------

pub async fn check_invalid_utf8(api: Api) {
    for (collection, item) in collections(&api) {
        // Raw bytes over 0x7F in the request line: refused by the HTTP server, or a contract
        // error if it lets them through.
        let mut raw_path = item.as_bytes().to_vec();
        raw_path.extend_from_slice(b"\xff\xfe");
        let mut raw_query = format!("{collection}?limit=").into_bytes();
        raw_query.extend_from_slice(b"\xff");
        for target in [raw_path, raw_query] {
            match raw(&api, &get(&api, &target)).await {
                Outcome::Contract(reply) => {
                    assert!(matches!(reply.status, 400 | 404), "{}", reply.describe())
                }
                other => other.assert_refused_or_closed("raw 0xFF in the request line"),
            }
        }
        // Percent-encoded invalid UTF-8: the contract's own errors.
        let reply = raw(&api, &get(&api, format!("{item}%FF%FE").as_bytes()))
            .await
            .contract();
        reply.assert_error(400, "invalid_parameter");
        for query in ["limit=%FF", "offset=%C0%80", "limit=1%FF"] {
            let target = format!("{collection}?{query}");
            raw(&api, &get(&api, target.as_bytes()))
                .await
                .contract()
                .assert_error(400, "invalid_parameter");
        }
        // An unknown parameter is ignored, whatever its bytes.
        let target = format!("{collection}?junk=%FF%FE&limit=1");
        raw(&api, &get(&api, target.as_bytes()))
            .await
            .contract()
            .assert_status(200);
        raw(&api, &get(&api, format!("{collection}/x%FF/y").as_bytes()))
            .await
            .contract()
            .assert_error(404, "not_found");
        if collection == "/orders" {
            raw(&api, &get(&api, b"/orders?customer_id=%FF"))
                .await
                .contract()
                .assert_error(400, "invalid_parameter");
        }
    }
    // Invalid UTF-8 inside JSON strings (and a key), and JSON escapes of lone surrogates (not
    // Unicode scalar values): invalid_body, on create and update.
    let strings: [&[u8]; 5] = [
        b"\"\xff\xfe\"",
        b"\"a\xc0\x80b\"",
        b"\"\xed\xa0\x80\"",
        b"\"\\ud800\"",
        b"\"ok\", \"\xff\": 1",
    ];
    for value in strings {
        for bytes in with_string_field(&api, value) {
            raw(&api, &bytes)
                .await
                .contract()
                .assert_error(400, "invalid_body");
        }
    }
    // Invalid UTF-8 in the content-type: refused by the server, or a contract error.
    let collection = collections(&api)[0].0;
    let mut bytes = request(
        &api,
        "POST",
        collection.as_bytes(),
        b"content-type: application/json\xff\r\n",
        None,
    );
    let body = br#"{"name": "ok", "email": "a@b.co"}"#;
    bytes.truncate(bytes.len() - 2);
    bytes.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    // Spin 3.5.1's HTTP trigger cannot hand such a header to a component: it answers a bare
    // 500 itself (no body, no service headers) and logs the UTF-8 error; nothing of ours runs
    // (docs/api.md#runtime-notes).
    if expected_runtime() == "spin" {
        if let Some(reply) = api.send_raw(&bytes).await {
            if reply.status == 500 && reply.body.is_empty() {
                assert!(
                    reply.header("x-crm-runtime").is_none(),
                    "{}",
                    reply.describe()
                );
                return;
            }
        }
    }
    match raw(&api, &bytes).await {
        Outcome::Contract(reply) => {
            assert!(matches!(reply.status, 400 | 415), "{}", reply.describe())
        }
        other => other.assert_refused_or_closed("invalid UTF-8 in the content-type"),
    }
}

// --- deeply nested JSON -------------------------------------------------------------------------

pub async fn check_deep_nesting(api: Api) {
    let depth = 20_000; // 40 000 bytes: under the body limit, far past any parser's recursion
    let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let objects = format!("{}1{}", "{\"a\":".repeat(depth / 5), "}".repeat(depth / 5));
    let collection = collections(&api)[0].0;
    let mut requests = Vec::new();
    for value in [&arrays, &objects] {
        // The whole body, and the value of a string field.
        requests.push(request(
            &api,
            "POST",
            collection.as_bytes(),
            b"",
            Some(value.as_bytes()),
        ));
        requests.extend(with_string_field(&api, value.as_bytes()));
    }
    for bytes in requests {
        let started = Instant::now();
        raw(&api, &bytes)
            .await
            .contract()
            .assert_error(400, "invalid_body");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
    // Still serving.
    api.get("/healthz").await.expect(200);
}

// --- numbers ------------------------------------------------------------------------------------

/// Integers past i64, floats, exponents: invalid_body (docs/api.md#request-handling-order, step 5).
const NOT_I64: [&str; 9] = [
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "1e400",
    "-1e400",
    "1.5",
    "1e2",
    "1.0",
];

pub async fn check_numbers_beyond_i64(api: Api) {
    // Fixtures through the gateway: the gateway selection has no direct service URLs.
    let gateway = Api::gateway();
    let customer = create_customer(&gateway).await;
    let order = create_order(&gateway, customer.id, 1, 100).await;
    for number in NOT_I64 {
        for field in ["customer_id", "quantity", "unit_price_cents"] {
            let mut body = json!({"customer_id": customer.id, "product": "p", "quantity": 1});
            body[field] = json!("PLACEHOLDER");
            let text = body.to_string().replace("\"PLACEHOLDER\"", number);
            let reply = raw(
                &api,
                &request(&api, "POST", b"/orders", b"", Some(text.as_bytes())),
            )
            .await
            .contract();
            reply.assert_error(400, "invalid_body");
        }
        for field in ["quantity", "unit_price_cents"] {
            let mut body = order_update(&order, "pending");
            body[field] = json!("PLACEHOLDER");
            let text = body.to_string().replace("\"PLACEHOLDER\"", number);
            let target = order_path(order.id);
            let reply = raw(
                &api,
                &request(&api, "PUT", target.as_bytes(), b"", Some(text.as_bytes())),
            )
            .await
            .contract();
            reply.assert_error(400, "invalid_body");
        }
    }
    // Inside i64 but outside the rules: validation_failed, and nothing overflows.
    let reply = api
        .post(
            "/orders",
            &json!({"customer_id": customer.id, "product": "p", "quantity": i64::MAX,
                    "unit_price_cents": i64::MAX}),
        )
        .await;
    reply.assert_invalid_fields(&["quantity", "unit_price_cents"]);
    let reply = api
        .post(
            "/orders",
            &json!({"customer_id": customer.id, "product": "p", "quantity": i64::MIN,
                    "unit_price_cents": i64::MIN}),
        )
        .await;
    reply.assert_invalid_fields(&["quantity", "unit_price_cents"]);
    // The largest total is 10 000 × 100 000 000 = 10^12: no overflow anywhere.
    let reply = api
        .post(
            "/orders",
            &json!({"customer_id": customer.id, "product": "p", "quantity": 10_000,
                    "unit_price_cents": 100_000_000}),
        )
        .await;
    assert_eq!(
        Order::from_json(&reply.expect(201)).total_cents,
        1_000_000_000_000
    );
    // A numeric string where a string is expected is just text; a string where a number is
    // expected is invalid_body.
    let reply = api
        .post(
            "/orders",
            &json!({"customer_id": customer.id.to_string(), "product": "p", "quantity": 1}),
        )
        .await;
    reply.assert_error(400, "invalid_body");
}

// --- paging and other parameters ----------------------------------------------------------------

pub async fn check_hostile_parameters(api: Api) {
    let bad_limits = [
        "-1",
        "0",
        "101",
        "-9223372036854775808",
        "9223372036854775807",
        "9223372036854775808",
        "99999999999999999999999999",
        "1e2",
        "0x10",
        "%2B5",
        "%205",
        "5%20",
        "5.0",
        "",
        "NaN",
    ];
    let bad_offsets = [
        "-1",
        "1000001",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e3",
        "",
    ];
    for (collection, _) in collections(&api) {
        for limit in bad_limits {
            api.get(&format!("{collection}?limit={limit}"))
                .await
                .assert_error(400, "invalid_parameter");
        }
        for offset in bad_offsets {
            api.get(&format!("{collection}?offset={offset}"))
                .await
                .assert_error(400, "invalid_parameter");
        }
        // The extremes that are allowed.
        let page = api
            .get(&format!("{collection}?limit=100&offset=1000000"))
            .await
            .expect(200);
        assert!(assert_page(&page, 100, 1_000_000).is_empty());
        if collection == "/orders" {
            for id in ["0", "-1", "9223372036854775808", "1e3", "%2B1", ""] {
                api.get(&format!("/orders?customer_id={id}"))
                    .await
                    .assert_error(400, "invalid_parameter");
            }
        }
    }
    if api.is_gateway() {
        for query in [
            "n=-1",
            "n=18446744073709551616",
            "n=100000001",
            "n=1e3",
            "algo=recursive",
            "algo=recursive&n=41",
            "n=41&algo=recursive",
            "algo=RECURSIVE&n=1",
        ] {
            api.get(&format!("/compute?{query}"))
                .await
                .assert_error(400, "invalid_parameter");
        }
    }
}

// --- slow clients -------------------------------------------------------------------------------

/// How long the Axum services give a client to send a request head (`HEADER_READ_TIMEOUT_MS`,
/// default 10 s), plus a generous margin for a loaded machine.
const AXUM_HEAD_DEADLINE: Duration = Duration::from_secs(25);
/// A normal request while slow clients hold connections: milliseconds normally; this bound only
/// catches starvation.
const NORMAL_REQUEST_BOUND: Duration = Duration::from_secs(5);
const SLOW_CLIENTS: usize = 20;

/// One slow client: sends an unfinished head (or a complete head and then a body that never
/// ends) a byte every 500 ms, until the server closes the connection or `give_up` passes.
/// Returns when the server closed it, if it did.
async fn dribble(api_host: (String, u16), head_only: bool, give_up: Duration) -> Option<Duration> {
    let (host, port) = api_host;
    let started = Instant::now();
    let mut stream = TcpStream::connect((host.as_str(), port))
        .await
        .expect("connect");
    let start = if head_only {
        format!("GET /customers HTTP/1.1\r\nhost: {host}:{port}\r\nx-slow: ")
    } else {
        format!(
            "POST /customers HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n\
             content-length: 100000\r\n\r\n{{\"name\": \""
        )
    };
    if stream.write_all(start.as_bytes()).await.is_err() {
        return Some(started.elapsed());
    }
    let (mut reader, mut writer) = stream.split();
    let mut buffer = [0u8; 1024];
    let closed = async {
        // Whatever the server sends (a timeout answer), the end of the connection is the event.
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    };
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer.write_all(b"a").await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = closed => Some(started.elapsed()),
        () = trickle => Some(started.elapsed()),
        () = tokio::time::sleep(give_up) => None,
    }
}

pub async fn check_slow_clients(api: Api) {
    let axum = expected_runtime() == "axum";
    let host = api.host_port();
    let give_up = AXUM_HEAD_DEADLINE + Duration::from_secs(2);
    let mut slow = Vec::new();
    for i in 0..SLOW_CLIENTS {
        let head_only = i % 2 == 0;
        slow.push((
            head_only,
            tokio::spawn(dribble(host.clone(), head_only, give_up)),
        ));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Everybody else is still served, promptly.
    let check = api;
    for round in 0..3 {
        let started = Instant::now();
        check.get("/healthz").await.expect(200);
        let path = collections(&check)[0].0;
        check.get(&format!("{path}?limit=5")).await.expect(200);
        if check.role() != Service::OrderService {
            let customer = create_customer(&check).await;
            check.get(&customer_path(customer.id)).await.expect(200);
        }
        let elapsed = started.elapsed();
        assert!(
            elapsed < NORMAL_REQUEST_BOUND,
            "round {round}: normal requests took {elapsed:?} beside {SLOW_CLIENTS} slow clients"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Axum cuts a head that is not complete within HEADER_READ_TIMEOUT_MS, however often its
    // bytes arrive. (A slow body is bounded by REQUEST_TIMEOUT_MS, 30 s, not waited for here.)
    // The Spin components never see a request before its head is complete: bounding slow
    // heads is the host's job, and Spin 3.5.1's HTTP trigger sets no header read timeout
    // (docs/api.md#runtime-notes), so on Spin this test checks only that nobody else starves.
    for (head_only, task) in slow {
        if axum && head_only {
            let closed_after = task.await.expect("the slow client task");
            assert!(
                closed_after.is_some_and(|t| t < AXUM_HEAD_DEADLINE),
                "a dribbled head was still open after {closed_after:?} (deadline {AXUM_HEAD_DEADLINE:?})"
            );
        } else {
            task.abort();
        }
    }
}
