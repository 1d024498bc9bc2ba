//! The customer checks run on the gateway (`tests/customers.rs`) and on customer-service
//! itself (`tests/data_services.rs`).

use crate::*;

// --- ping -------------------------------------------------------------------------------------

pub async fn check_ping(api: Api) {
    let reply = api.get("/customers/ping").await;
    let body = reply.expect(200);
    assert_keys(&body, &["status", "conn_ms", "query_ms"]);
    assert_eq!(body["status"], "ok");
    for key in ["conn_ms", "query_ms"] {
        let ms = body[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is a number: {body}"));
        assert!(ms >= 0.0, "{key} is a duration: {body}");
    }
    reply.assert_service(Service::CustomerService);
    reply.assert_timing_includes(&api, DB_TIMING_MIN);
}

// --- ids --------------------------------------------------------------------------------------

/// Path segments that are not an id 1..=i64::MAX.
const BAD_IDS: [&str; 9] = [
    "0",
    "-1",
    "abc",
    "1.5",
    "+1",
    "%201",
    "1e3",
    "9223372036854775808",
    "99999999999999999999",
];

pub async fn check_invalid_ids(api: Api) {
    for id in BAD_IDS {
        let path = format!("/customers/{id}");
        api.get(&path).await.assert_error(400, "invalid_parameter");
        api.put(&path, &customer_body())
            .await
            .assert_error(400, "invalid_parameter");
        api.delete(&path)
            .await
            .assert_error(400, "invalid_parameter");
    }
}

// --- invalid bodies ---------------------------------------------------------------------------

pub async fn check_invalid_bodies(api: Api) {
    let email = unique_email();
    for body in [
        "",
        "{",
        "not json",
        "[]",
        "\"customer\"",
        "null",
        "42",
        r#"{"name": 7, "email": "a@b.co"}"#,
        r#"{"name": "Ann", "email": ["a@b.co"]}"#,
        r#"{"name": "Ann", "email": "a@b.co", "phone": 5550100}"#,
        r#"{"name": "Ann", "email": "a@b.co", "phone": false}"#,
        &format!(r#"{{"name": "Ann", "email": "{email}", "nickname": "A"}}"#),
        &format!(r#"{{"id": 5, "name": "Ann", "email": "{email}"}}"#),
    ] {
        api.send_json_text(Method::POST, "/customers", body)
            .await
            .assert_error(400, "invalid_body");
    }
}
