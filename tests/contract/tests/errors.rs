//! Cross-cutting HTTP errors — 405 with `allow`, HEAD, 413, 415 — and the order in which a
//! request's checks answer (docs/api.md#request-handling-order). Each check runs
//! through the gateway and directly on the service that owns the path.

use std::collections::BTreeSet;

use crm_contract_tests::*;

fn methods(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|m| m.to_string()).collect()
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

#[track_caller]
fn assert_405(reply: &Received, allow: &[&str]) {
    reply.assert_error(405, "method_not_allowed");
    assert_eq!(
        reply.allowed_methods(),
        methods(allow),
        "allow: {}",
        reply.describe()
    );
}

/// A JSON document of exactly `len` bytes, padded with trailing whitespace (still valid JSON).
fn json_of_exactly(value: &Value, len: usize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(value).unwrap();
    assert!(bytes.len() <= len);
    bytes.resize(len, b' ');
    bytes
}

/// A body one byte over the limit.
fn oversized_body() -> Vec<u8> {
    let filler = "x".repeat(MAX_BODY_BYTES);
    let mut bytes = serde_json::to_vec(&json!({ "name": filler, "email": "a@b.co" })).unwrap();
    bytes.truncate(MAX_BODY_BYTES + 1);
    assert_eq!(bytes.len(), MAX_BODY_BYTES + 1);
    bytes
}

// --- 405 --------------------------------------------------------------------------------------

async fn check_customer_methods(api: Api) {
    for (verb, path, allow) in [
        ("PATCH", "/customers", &["GET", "POST"][..]),
        ("PUT", "/customers", &["GET", "POST"]),
        ("DELETE", "/customers", &["GET", "POST"]),
        ("POST", "/customers/1", &["GET", "PUT", "DELETE"]),
        ("PATCH", "/customers/1", &["GET", "PUT", "DELETE"]),
        // routing answers before the id is parsed
        ("PATCH", "/customers/abc", &["GET", "PUT", "DELETE"]),
        ("POST", "/customers/ping", &["GET"]),
        ("DELETE", "/customers/ping", &["GET"]),
    ] {
        let reply = api.call(method(verb), path).await;
        assert_405(&reply, allow);
        reply.assert_service(Service::CustomerService);
    }
}

for_each_target!(customer_paths_answer_405_with_allow => check_customer_methods: gateway, customer_service);

async fn check_order_methods(api: Api) {
    for (verb, path, allow) in [
        ("PATCH", "/orders", &["GET", "POST"][..]),
        ("DELETE", "/orders", &["GET", "POST"]),
        ("POST", "/orders/1", &["GET", "PUT", "DELETE"]),
        ("PATCH", "/orders/1", &["GET", "PUT", "DELETE"]),
        ("POST", "/orders/abc", &["GET", "PUT", "DELETE"]),
    ] {
        let reply = api.call(method(verb), path).await;
        assert_405(&reply, allow);
        reply.assert_service(Service::OrderService);
    }
}

for_each_target!(order_paths_answer_405_with_allow => check_order_methods: gateway, order_service);

#[tokio::test]
async fn gateway_own_paths_answer_405_with_allow() {
    let api = Api::gateway();
    for (verb, path) in [
        ("POST", "/compute"),
        ("DELETE", "/compute"),
        ("POST", "/healthz"),
        ("PUT", "/readyz"),
    ] {
        let reply = api.call(method(verb), path).await;
        assert_405(&reply, &["GET"]);
        reply.assert_service(Service::Gateway);
    }
}

async fn check_health_methods(api: Api) {
    for (verb, path) in [("POST", "/healthz"), ("DELETE", "/readyz")] {
        let reply = api.call(method(verb), path).await;
        assert_405(&reply, &["GET"]);
        reply.assert_service(api.role());
    }
}

for_each_target!(service_health_paths_answer_405_with_allow => check_health_methods: customer_service, order_service);

async fn check_head_not_served(api: Api) {
    let paths: &[&str] = match api.role() {
        Service::Gateway => &["/healthz", "/compute", "/customers", "/orders"],
        Service::CustomerService => &["/healthz", "/customers"],
        Service::OrderService => &["/healthz", "/orders"],
    };
    for path in paths {
        let reply = api.call(Method::HEAD, path).await;
        reply.assert_status(405);
        assert!(!reply.allowed_methods().contains("HEAD"));
    }
}

for_each_target!(head_is_not_served => check_head_not_served: gateway, customer_service, order_service);

// --- 413 --------------------------------------------------------------------------------------

/// Oversized bodies go over raw TCP: a server may answer 413 from `content-length` without
/// reading the body, which hyper's client turns into a broken pipe instead of the answer.
async fn check_too_large(api: Api, paths: &[(&str, &str)]) {
    for (verb, path) in paths {
        for chunked in [false, true] {
            let reply = api
                .send_over_tcp(
                    method(verb),
                    path,
                    Some("application/json"),
                    &oversized_body(),
                    chunked,
                )
                .await;
            reply.assert_error(413, "payload_too_large");
            if !api.is_gateway() {
                reply.assert_service(api.role());
            }
        }
        // size is checked before the media type
        let reply = api
            .send_over_tcp(
                method(verb),
                path,
                Some("text/plain"),
                &oversized_body(),
                false,
            )
            .await;
        reply.assert_error(413, "payload_too_large");
    }
}

const CUSTOMER_WRITES: [(&str, &str); 2] = [
    ("POST", "/customers"),
    ("PUT", "/customers/9223372036854775807"),
];
const ORDER_WRITES: [(&str, &str); 2] =
    [("POST", "/orders"), ("PUT", "/orders/9223372036854775807")];

async fn check_customer_too_large(api: Api) {
    check_too_large(api, &CUSTOMER_WRITES).await
}

async fn check_order_too_large(api: Api) {
    check_too_large(api, &ORDER_WRITES).await
}

for_each_target!(customer_bodies_over_64_kib_are_413 => check_customer_too_large: gateway, customer_service);
for_each_target!(order_bodies_over_64_kib_are_413 => check_order_too_large: gateway, order_service);

async fn check_exactly_64_kib(api: Api) {
    let body = customer_body();
    let reply = api
        .send(
            Method::POST,
            "/customers",
            Some("application/json"),
            Some(json_of_exactly(&body, MAX_BODY_BYTES)),
        )
        .await;
    let customer = Customer::from_json(&reply.expect(201));
    assert_eq!(customer.email, body["email"]);
}

for_each_target!(a_body_of_exactly_64_kib_is_accepted => check_exactly_64_kib: gateway, customer_service);

/// On the service itself: the gateway only limits size and cannot know the id is malformed.
#[tokio::test]
async fn path_parameters_are_checked_before_size_and_media_type_on_customer_service() {
    let api = Api::customer_service();
    let reply = api
        .send_over_tcp(
            Method::PUT,
            "/customers/abc",
            Some("text/plain"),
            &oversized_body(),
            false,
        )
        .await;
    reply.assert_error(400, "invalid_parameter");
}

// --- 415 --------------------------------------------------------------------------------------

/// Content types that are not JSON; `None` sends no content-type at all.
const NOT_JSON: [Option<&str>; 5] = [
    None,
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("text/json"),
    Some("application/xml"),
];

async fn check_unsupported_media_type(api: Api, paths: &[(&str, &str)], body: Value) {
    let bytes = serde_json::to_vec(&body).unwrap();
    for (verb, path) in paths {
        for content_type in NOT_JSON {
            let reply = api
                .send(method(verb), path, content_type, Some(bytes.clone()))
                .await;
            reply.assert_error(415, "unsupported_media_type");
            reply.assert_service(owner_of(path));
        }
        // media type is checked before the body is parsed
        let reply = api
            .send(
                method(verb),
                path,
                Some("text/plain"),
                Some(b"not json".to_vec()),
            )
            .await;
        reply.assert_error(415, "unsupported_media_type");
        let reply = api.send(method(verb), path, None, None).await;
        reply.assert_error(415, "unsupported_media_type");
    }
}

/// The service whose answer a path gets: the gateway passes the owner's through.
fn owner_of(path: &str) -> Service {
    if path.starts_with("/customers") {
        Service::CustomerService
    } else {
        Service::OrderService
    }
}

async fn check_customer_media_type(api: Api) {
    check_unsupported_media_type(api, &CUSTOMER_WRITES, customer_body()).await
}

async fn check_order_media_type(api: Api) {
    let body = json!({ "customer_id": 1, "product": "p", "quantity": 1 });
    check_unsupported_media_type(api, &ORDER_WRITES, body).await
}

for_each_target!(customer_writes_need_json_content_type => check_customer_media_type: gateway, customer_service);
for_each_target!(order_writes_need_json_content_type => check_order_media_type: gateway, order_service);

async fn check_json_variants_accepted(api: Api) {
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "application/merge-patch+json",
        "application/vnd.crm+json",
    ] {
        let bytes = serde_json::to_vec(&customer_body()).unwrap();
        let reply = api
            .send(Method::POST, "/customers", Some(content_type), Some(bytes))
            .await;
        Customer::from_json(&reply.expect(201));
    }
}

for_each_target!(json_content_types_with_parameters_or_suffix_are_accepted => check_json_variants_accepted: gateway, customer_service);

// --- order of checks --------------------------------------------------------------------------

#[tokio::test]
async fn routing_answers_before_anything_else() {
    let api = Api::gateway();
    // unknown path with a huge, badly typed body: still 404
    let reply = api
        .send_over_tcp(
            Method::POST,
            "/nowhere",
            Some("text/plain"),
            &oversized_body(),
            false,
        )
        .await;
    reply.assert_error(404, "not_found");
    // known path, wrong method, bad id and bad body: still 405
    let reply = api
        .send(
            Method::PATCH,
            "/orders/abc",
            Some("text/plain"),
            Some(b"{".to_vec()),
        )
        .await;
    reply.assert_error(405, "method_not_allowed");
}

#[tokio::test]
async fn each_check_answers_in_turn() {
    let api = Api::gateway();
    let path = "/customers/9223372036854775807";
    let bad_rules = serde_json::to_vec(&json!({ "name": "", "email": "x" })).unwrap();
    let unknown_field = br#"{"name": "", "email": "x", "extra": true}"#.to_vec();
    // 415 before invalid_body
    api.send(
        Method::PUT,
        path,
        Some("text/plain"),
        Some(unknown_field.clone()),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    // invalid_body before validation
    api.send(
        Method::PUT,
        path,
        Some("application/json"),
        Some(unknown_field),
    )
    .await
    .assert_error(400, "invalid_body");
    // validation before the lookup (the id does not exist)
    api.send(Method::PUT, path, Some("application/json"), Some(bad_rules))
        .await
        .assert_invalid_fields(&["name", "email"]);
    // and only then the lookup
    api.put(path, &customer_body())
        .await
        .assert_error(404, "not_found");
}
