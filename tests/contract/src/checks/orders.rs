//! The order checks run on the gateway (`tests/orders.rs`) and on order-service itself
//! (`tests/data_services.rs`).

use crate::*;

// --- ids --------------------------------------------------------------------------------------

const BAD_IDS: [&str; 10] = [
    "0",
    "-1",
    "abc",
    "1.5",
    "+1",
    "%201",
    "1e3",
    "ping",
    "9223372036854775808",
    "99999999999999999999",
];

pub async fn check_invalid_ids(api: Api) {
    let body = json!({ "product": "x", "quantity": 1, "unit_price_cents": 0, "status": "pending" });
    for id in BAD_IDS {
        let path = format!("/orders/{id}");
        api.get(&path).await.assert_error(400, "invalid_parameter");
        api.put(&path, &body)
            .await
            .assert_error(400, "invalid_parameter");
        api.delete(&path)
            .await
            .assert_error(400, "invalid_parameter");
    }
}

// --- invalid bodies ---------------------------------------------------------------------------

pub async fn check_invalid_create_bodies(api: Api) {
    let customer = create_customer(&Api::gateway()).await;
    let c = customer.id;
    for body in [
        String::new(),
        "{".to_string(),
        "[]".to_string(),
        "null".to_string(),
        format!(r#"{{"customer_id": "{c}", "product": "p", "quantity": 1}}"#),
        format!(r#"{{"customer_id": {c}, "product": 5, "quantity": 1}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": "1"}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 1.5}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 2.0}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 1e3}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 9223372036854775808}}"#),
        format!(
            r#"{{"customer_id": {c}, "product": "p", "quantity": 1, "unit_price_cents": 99999999999999999999999}}"#
        ),
        format!(
            r#"{{"customer_id": {c}, "product": "p", "quantity": 1, "unit_price_cents": true}}"#
        ),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 1, "status": "paid"}}"#),
        format!(r#"{{"customer_id": {c}, "product": "p", "quantity": 1, "note": "x"}}"#),
        r#"{"customer_id": 1.0, "product": "p", "quantity": 1}"#.to_string(),
        r#"{"customer_id": 9223372036854775808, "product": "p", "quantity": 1}"#.to_string(),
    ] {
        api.send_json_text(Method::POST, "/orders", &body)
            .await
            .assert_error(400, "invalid_body");
    }
}
