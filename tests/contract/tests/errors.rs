//! Cross-cutting HTTP errors — 405 with `allow`, HEAD, 413, 415 — and the order in which a
//! request's checks answer (docs/api.md#request-handling-order). Each check runs
//! through the gateway and directly on the service that owns the path.

use crm_contract_tests::checks::errors::*;
use crm_contract_tests::*;

// --- 405 --------------------------------------------------------------------------------------

for_each_target!(customer_paths_answer_405_with_allow => check_customer_methods: gateway);

for_each_target!(order_paths_answer_405_with_allow => check_order_methods: gateway);

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

for_each_target!(head_is_not_served => check_head_not_served: gateway);

// --- 413 --------------------------------------------------------------------------------------

for_each_target!(customer_bodies_over_64_kib_are_413 => check_customer_too_large: gateway);
for_each_target!(order_bodies_over_64_kib_are_413 => check_order_too_large: gateway);

for_each_target!(a_body_of_exactly_64_kib_is_accepted => check_exactly_64_kib: gateway);

// --- 415 --------------------------------------------------------------------------------------

for_each_target!(customer_writes_need_json_content_type => check_customer_media_type: gateway);
for_each_target!(order_writes_need_json_content_type => check_order_media_type: gateway);

for_each_target!(json_content_types_with_parameters_or_suffix_are_accepted => check_json_variants_accepted: gateway);

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
