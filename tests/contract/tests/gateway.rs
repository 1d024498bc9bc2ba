//! The gateway's own routes (`/compute`, unknown paths) and how it forwards to the services.

use crm_contract_tests::*;

// --- /compute ---------------------------------------------------------------------------------

/// Asserts a `/compute` answer and returns its `result`.
async fn compute(api: &Api, query: &str, n: u64, algo: &str) -> String {
    let reply = api.get(&format!("/compute{query}")).await;
    let body = reply.expect(200);
    assert_keys(&body, &["n", "algo", "result", "compute_ms"]);
    assert_eq!(body["n"], n, "{}", reply.describe());
    assert_eq!(body["algo"], algo, "{}", reply.describe());
    let ms = body["compute_ms"]
        .as_f64()
        .unwrap_or_else(|| panic!("compute_ms is a number: {body}"));
    assert!(ms >= 0.0, "compute_ms is a duration: {body}");
    reply.assert_service(Service::Gateway);
    assert!(
        reply.timing("compute").is_some(),
        "server-timing has compute: {:?}",
        reply.header("server-timing")
    );
    let result = body["result"]
        .as_str()
        .unwrap_or_else(|| panic!("result is a string: {body}"))
        .to_string();
    assert!(
        !result.is_empty() && result.chars().all(|c| c.is_ascii_digit()),
        "result is a decimal string: {body}"
    );
    assert!(
        result == "0" || !result.starts_with('0'),
        "result has no leading zeros: {body}"
    );
    result
}

#[tokio::test]
async fn compute_defaults_to_iterative_n_1000() {
    let api = Api::gateway();
    let result = compute(&api, "", 1000, "iterative").await;
    assert_eq!(result, fib_wrapping(1000).to_string());
}

#[tokio::test]
async fn compute_iterative_known_values() {
    let api = Api::gateway();
    for (n, expected) in [
        (0u64, "0"),
        (1, "1"),
        (2, "1"),
        (10, "55"),
        (50, "12586269025"),
        (93, "12200160415121876738"), // the last Fibonacci number that fits in a u64
    ] {
        let result = compute(&api, &format!("?n={n}&algo=iterative"), n, "iterative").await;
        assert_eq!(result, expected, "fib({n})");
    }
}

#[tokio::test]
async fn compute_iterative_wraps_past_93() {
    let api = Api::gateway();
    for n in [94u64, 100, 1000, 12345] {
        let result = compute(&api, &format!("?n={n}"), n, "iterative").await;
        assert_eq!(result, fib_wrapping(n).to_string(), "fib({n}) mod 2^64");
    }
}

#[tokio::test]
async fn compute_iterative_accepts_n_100000000() {
    let api = Api::gateway();
    let n = 100_000_000;
    let result = compute(&api, &format!("?algo=iterative&n={n}"), n, "iterative").await;
    assert_eq!(result, fib_wrapping(n).to_string());
}

#[tokio::test]
async fn compute_recursive_known_values() {
    let api = Api::gateway();
    for (n, expected) in [(0u64, "0"), (1, "1"), (2, "1"), (10, "55"), (25, "75025")] {
        let result = compute(&api, &format!("?n={n}&algo=recursive"), n, "recursive").await;
        assert_eq!(result, expected, "fib({n})");
    }
}

#[tokio::test]
async fn compute_recursive_accepts_n_40() {
    let api = Api::gateway();
    let result = compute(&api, "?algo=recursive&n=40", 40, "recursive").await;
    assert_eq!(result, "102334155");
}

#[tokio::test]
async fn compute_rejects_out_of_range_and_malformed_parameters() {
    let api = Api::gateway();
    for query in [
        "n=100000001",
        "n=100000001&algo=iterative",
        "n=41&algo=recursive",
        "n=-1",
        "n=abc",
        "n=",
        "n=1.5",
        "n=99999999999999999999999",
        "algo=fast",
        "algo=",
        "algo=Iterative",
        "n=&n=5",
    ] {
        let reply = api.get(&format!("/compute?{query}")).await;
        reply.assert_error(400, "invalid_parameter");
        reply.assert_service(Service::Gateway);
    }
}

/// Found by schemathesis: `algo=recursive` without `n` took the default n = 1000 and ran the
/// naive recursion for ever, pinning a CPU per request (and the gateway's blocking pool). The
/// default is outside the recursive range: 400 at once (docs/api.md#compute).
#[tokio::test]
async fn compute_recursive_without_n_is_invalid_parameter_at_once() {
    let api = Api::gateway();
    for query in ["algo=recursive", "algo=recursive&N=5", "algo=recursive&n"] {
        let started = std::time::Instant::now();
        let reply = api.get(&format!("/compute?{query}")).await;
        reply.assert_error(400, "invalid_parameter");
        reply.assert_service(Service::Gateway);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{query}: {:?}",
            started.elapsed()
        );
    }
    // Still serving.
    compute(&api, "?n=10", 10, "iterative").await;
}

#[tokio::test]
async fn compute_ignores_unknown_parameters_and_takes_the_first_of_a_repeat() {
    let api = Api::gateway();
    let result = compute(&api, "?n=10&n=100000001&seed=4", 10, "iterative").await;
    assert_eq!(result, "55");
    let result = compute(&api, "?algo=recursive&n=12&algo=quantum", 12, "recursive").await;
    assert_eq!(result, "144");
}

// --- routing ----------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_are_404_from_the_gateway() {
    let api = Api::gateway();
    for path in [
        "/",
        "/nope",
        "/customersx",
        "/orders-archive",
        "/compute/extra",
        "/healthz/extra",
        "/CUSTOMERS",
    ] {
        let reply = api.get(path).await;
        reply.assert_error(404, "not_found");
        reply.assert_service(Service::Gateway);
    }
    let reply = api.post("/nope", &json!({})).await;
    reply.assert_error(404, "not_found");
}

#[tokio::test]
async fn empty_or_extra_path_segments_are_404() {
    let api = Api::gateway();
    for path in [
        "/customers/",
        "/customers/1/x",
        "/customers/ping/x",
        "/orders/",
        "/orders/1/items",
    ] {
        api.get(path).await.assert_error(404, "not_found");
    }
}

// --- forwarding -------------------------------------------------------------------------------

#[tokio::test]
async fn forwards_content_type_parameters_and_query_strings() {
    let api = Api::gateway();
    let body = serde_json::to_vec(&customer_body()).unwrap();
    let reply = api
        .send(
            Method::POST,
            "/customers",
            Some("application/json; charset=utf-8"),
            Some(body),
        )
        .await;
    let customer = Customer::from_json(&reply.expect(201));
    create_order(&api, customer.id, 1, 1).await;
    let page = api
        .get(&format!(
            "/orders?customer_id={}&limit=1&offset=0",
            customer.id
        ))
        .await
        .expect(200);
    assert_eq!(assert_page(&page, 1, 0).len(), 1);
}
