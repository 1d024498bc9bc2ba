//! The 405/HEAD/413/415 checks run on the gateway (`tests/errors.rs`) and on the service that
//! owns the path (`tests/data_services.rs`), and the helpers both use.

use std::collections::BTreeSet;

use crate::*;

fn methods(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|m| m.to_string()).collect()
}

pub fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("a method name")
}

#[track_caller]
pub fn assert_405(reply: &Received, allow: &[&str]) {
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
pub fn oversized_body() -> Vec<u8> {
    let filler = "x".repeat(MAX_BODY_BYTES);
    let mut bytes = serde_json::to_vec(&json!({ "name": filler, "email": "a@b.co" })).unwrap();
    bytes.truncate(MAX_BODY_BYTES + 1);
    assert_eq!(bytes.len(), MAX_BODY_BYTES + 1);
    bytes
}

// --- 405 --------------------------------------------------------------------------------------

pub async fn check_customer_methods(api: Api) {
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

pub async fn check_order_methods(api: Api) {
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

pub async fn check_health_methods(api: Api) {
    for (verb, path) in [("POST", "/healthz"), ("DELETE", "/readyz")] {
        let reply = api.call(method(verb), path).await;
        assert_405(&reply, &["GET"]);
        reply.assert_service(api.role());
    }
}

pub async fn check_head_not_served(api: Api) {
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

pub async fn check_customer_too_large(api: Api) {
    check_too_large(api, &CUSTOMER_WRITES).await
}

pub async fn check_order_too_large(api: Api) {
    check_too_large(api, &ORDER_WRITES).await
}

pub async fn check_exactly_64_kib(api: Api) {
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

pub async fn check_customer_media_type(api: Api) {
    check_unsupported_media_type(api, &CUSTOMER_WRITES, customer_body()).await
}

pub async fn check_order_media_type(api: Api) {
    let body = json!({ "customer_id": 1, "product": "p", "quantity": 1 });
    check_unsupported_media_type(api, &ORDER_WRITES, body).await
}

pub async fn check_json_variants_accepted(api: Api) {
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
