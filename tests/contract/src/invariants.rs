//! The invariants: what *every* response of every service owes, whatever the test is about
//! (a contract status, the `x-crm-*` headers, JSON bodies, the one error shape, well-formed
//! `server-timing`, `allow` on 405, no leaked internals). `Api` checks them on each response
//! before a test sees it.

use reqwest::Method;
use serde_json::Value;

use crate::client::Service;
use crate::received::Received;

/// Every status the contract produces.
const CONTRACT_STATUSES: [u16; 13] = [
    200, 201, 204, 400, 404, 405, 409, 413, 415, 500, 502, 503, 504,
];

/// The contract's error codes and the status each one fixes.
const ERROR_CODES: [(&str, u16); 14] = [
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
    ("overloaded", 503),
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

/// The checks every response of every service must pass, whatever the test is about.
pub(crate) fn check(received: &Received, runtime: &str) {
    let what = received.describe();
    assert!(
        CONTRACT_STATUSES.contains(&received.status),
        "a status outside the contract: {what}"
    );
    assert_eq!(
        received.header("x-crm-runtime").as_deref(),
        Some(runtime),
        "x-crm-runtime: {what}"
    );
    let service = received
        .header("x-crm-service")
        .unwrap_or_else(|| panic!("no x-crm-service: {what}"));
    assert!(
        Service::parse(&service).is_some(),
        "x-crm-service {service:?} is not a service: {what}"
    );
    if let Some(timing) = received.header("server-timing") {
        parse_server_timing(&timing);
    }
    if received.status == 204 {
        assert!(received.body.is_empty(), "a 204 has no body: {what}");
    }
    if received.status == 405 {
        let allowed = received.allowed_methods();
        assert!(
            !allowed.is_empty() && !allowed.contains("HEAD"),
            "allow lists the methods, without HEAD: {what}"
        );
    }
    if received.method == Method::HEAD {
        return; // HEAD answers carry no body to check
    }
    if received.body.is_empty() {
        assert_eq!(received.status, 204, "only a 204 has no body: {what}");
        return;
    }
    let content_type = received
        .header("content-type")
        .unwrap_or_else(|| panic!("a body without content-type: {what}"));
    assert!(
        is_json_media_type(&content_type),
        "content-type {content_type:?} is not application/json: {what}"
    );
    let body = received.json();
    if received.status >= 400 {
        let readyz = received
            .url
            .split('?')
            .next()
            .unwrap_or("")
            .ends_with("/readyz");
        check_error_document(&body, received.status, readyz, &what);
        check_retry_after(received, &body, &what);
    }
    if received.status >= 500 {
        let text = String::from_utf8_lossy(&received.body).to_lowercase();
        for marker in LEAK_MARKERS {
            assert!(
                !text.contains(marker),
                "a 5xx body leaks internals ({marker:?}): {what}"
            );
        }
    }
}

/// Every 503 that says "come back later" (`database_unavailable`, `overloaded`) says when:
/// `retry-after` in whole seconds.
fn check_retry_after(received: &Received, body: &Value, what: &str) {
    let code = body.pointer("/error/code").and_then(Value::as_str);
    if !matches!(code, Some("database_unavailable" | "overloaded")) {
        return;
    }
    let retry_after = received
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 503 {code:?} without retry-after: {what}"));
    assert!(
        !retry_after.is_empty() && retry_after.bytes().all(|b| b.is_ascii_digit()),
        "retry-after {retry_after:?} is not a number of seconds: {what}"
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
