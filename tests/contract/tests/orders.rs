//! Orders: create (with the customer check), read, update and status changes, delete, the
//! `customer_id` filter and paging, and the rules, through the gateway unless a test is about
//! calling order-service directly.

use crm_contract_tests::checks::orders::*;
use crm_contract_tests::*;

// --- create -----------------------------------------------------------------------------------

#[tokio::test]
async fn create_returns_201_with_location_pending_status_and_total() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let body = new_order(customer.id);
    let reply = api.post("/orders", &body).await;
    let order = Order::from_json(&reply.expect(201));
    assert_eq!(order.customer_id, customer.id);
    assert_eq!(order.product, body["product"]);
    assert_eq!(order.quantity, 3);
    assert_eq!(order.unit_price_cents, 1250);
    assert_eq!(order.total_cents, 3750);
    assert_eq!(order.status, "pending");
    assert_eq!(reply.location(), order_path(order.id));
    reply.assert_service(Service::OrderService);
    reply.assert_timing(&api, CREATE_TIMING);
}

#[tokio::test]
async fn create_defaults_unit_price_to_zero() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let body = json!({ "customer_id": customer.id, "product": "Free sample", "quantity": 7 });
    let order = Order::from_json(&api.post("/orders", &body).await.expect(201));
    assert_eq!(order.unit_price_cents, 0);
    assert_eq!(order.total_cents, 0);
}

#[tokio::test]
async fn create_trims_product() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let product = unique("Gadget");
    let body =
        json!({ "customer_id": customer.id, "product": format!("\t {product}  "), "quantity": 1 });
    let order = Order::from_json(&api.post("/orders", &body).await.expect(201));
    assert_eq!(order.product, product);
}

#[tokio::test]
async fn create_for_an_unknown_customer_is_customer_not_found() {
    let api = Api::gateway();
    let reply = api.post("/orders", &new_order(MAX_ID)).await;
    reply.assert_error(400, "customer_not_found");
    reply.assert_service(Service::OrderService);
}

#[tokio::test]
async fn create_for_a_deleted_customer_is_customer_not_found() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    api.delete(&customer_path(customer.id))
        .await
        .assert_status(204);
    api.post("/orders", &new_order(customer.id))
        .await
        .assert_error(400, "customer_not_found");
}

#[tokio::test]
async fn validation_comes_before_the_customer_check() {
    let api = Api::gateway();
    let body = json!({ "customer_id": MAX_ID, "product": "", "quantity": 1 });
    api.post("/orders", &body)
        .await
        .assert_invalid_fields(&["product"]);
}

#[tokio::test]
async fn create_extremes_of_quantity_and_price() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let largest = create_order(&api, customer.id, 10_000, 100_000_000).await;
    assert_eq!(largest.total_cents, 1_000_000_000_000);
    let smallest = create_order(&api, customer.id, 1, 0).await;
    assert_eq!(smallest.total_cents, 0);
}

// --- read -------------------------------------------------------------------------------------

#[tokio::test]
async fn get_returns_the_order() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let created = create_order(&api, customer.id, 2, 999).await;
    let reply = api.get(&order_path(created.id)).await;
    assert_eq!(Order::from_json(&reply.expect(200)), created);
    reply.assert_service(Service::OrderService);
    reply.assert_timing(&api, DB_TIMING);
}

#[tokio::test]
async fn get_unknown_id_is_404_after_a_lookup() {
    let api = Api::gateway();
    let reply = api.get(&order_path(MAX_ID)).await;
    reply.assert_error(404, "not_found");
    reply.assert_service(Service::OrderService);
    reply.assert_timing_includes(&api, DB_TIMING_MIN);
}

// --- update -----------------------------------------------------------------------------------

#[tokio::test]
async fn put_replaces_fields_recomputes_total_and_keeps_customer_and_created_at() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let before = create_order(&api, customer.id, 2, 100).await;
    let product = unique("Upgraded");
    let body = json!({ "product": format!(" {product} "), "quantity": 5, "unit_price_cents": 333, "status": "paid" });
    let reply = api.put(&order_path(before.id), &body).await;
    let after = Order::from_json(&reply.expect(200));
    assert_eq!(after.id, before.id);
    assert_eq!(after.customer_id, customer.id);
    assert_eq!(after.product, product);
    assert_eq!(after.quantity, 5);
    assert_eq!(after.unit_price_cents, 333);
    assert_eq!(after.total_cents, 1665);
    assert_eq!(after.status, "paid");
    assert_eq!(after.created_at, before.created_at);
    assert!(
        after.updated_at > before.updated_at,
        "updated_at bumped: {} -> {}",
        before.updated_at,
        after.updated_at
    );
    reply.assert_service(Service::OrderService);
    reply.assert_timing(&api, DB_TIMING);
    let stored = Order::from_json(&api.get(&order_path(before.id)).await.expect(200));
    assert_eq!(stored, after);
}

#[tokio::test]
async fn put_requires_every_field() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    let path = order_path(order.id);
    api.send_json_text(Method::PUT, &path, "{}")
        .await
        .assert_invalid_fields(&["product", "quantity", "unit_price_cents", "status"]);
    api.send_json_text(
        Method::PUT,
        &path,
        r#"{"product": null, "quantity": 1, "unit_price_cents": null, "status": "paid"}"#,
    )
    .await
    .assert_invalid_fields(&["product", "unit_price_cents"]);
}

#[tokio::test]
async fn put_with_customer_id_is_invalid_body() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    let mut body = order_update(&order, "paid");
    body["customer_id"] = json!(customer.id);
    api.put(&order_path(order.id), &body)
        .await
        .assert_error(400, "invalid_body");
    let unchanged = Order::from_json(&api.get(&order_path(order.id)).await.expect(200));
    assert_eq!(unchanged, order);
}

#[tokio::test]
async fn put_rejects_an_unknown_status() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    for status in ["refunded", "PAID", "", " "] {
        api.put(&order_path(order.id), &order_update(&order, status))
            .await
            .assert_invalid_fields(&["status"]);
    }
}

#[tokio::test]
async fn put_lists_every_failing_field_in_contract_order() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    api.send_json_text(
        Method::PUT,
        &order_path(order.id),
        r#"{"status": "lost", "unit_price_cents": -1, "quantity": 0, "product": ""}"#,
    )
    .await
    .assert_invalid_fields(&["product", "quantity", "unit_price_cents", "status"]);
}

#[tokio::test]
async fn put_unknown_id_is_404() {
    let api = Api::gateway();
    let body = json!({ "product": "x", "quantity": 1, "unit_price_cents": 0, "status": "pending" });
    let reply = api.put(&order_path(MAX_ID), &body).await;
    reply.assert_error(404, "not_found");
    reply.assert_timing_includes(&api, DB_TIMING_MIN);
}

// --- status transitions: all 16 pairs ---------------------------------------------------------

async fn check_transition(from: &str, to: &str, allowed: bool) {
    let api = Api::gateway();
    let order = order_in_status(&api, from).await;
    let reply = api
        .put(&order_path(order.id), &order_update(&order, to))
        .await;
    if allowed {
        let changed = Order::from_json(&reply.expect(200));
        assert_eq!(changed.status, to);
    } else {
        reply.assert_error(409, "invalid_status_transition");
        reply.assert_service(Service::OrderService);
        reply.assert_timing_includes(&api, DB_TIMING_MIN);
        let unchanged = Order::from_json(&api.get(&order_path(order.id)).await.expect(200));
        assert_eq!(
            unchanged, order,
            "a refused change leaves the order as it was"
        );
    }
}

macro_rules! transitions {
    ($($name:ident: $from:literal -> $to:literal = $allowed:literal;)+) => {
        mod status_transition {
            $(
                #[tokio::test]
                async fn $name() {
                    super::check_transition($from, $to, $allowed).await
                }
            )+
        }
    };
}

transitions! {
    pending_to_pending_allowed: "pending" -> "pending" = true;
    pending_to_paid_allowed: "pending" -> "paid" = true;
    pending_to_shipped_refused: "pending" -> "shipped" = false;
    pending_to_cancelled_allowed: "pending" -> "cancelled" = true;
    paid_to_pending_refused: "paid" -> "pending" = false;
    paid_to_paid_allowed: "paid" -> "paid" = true;
    paid_to_shipped_allowed: "paid" -> "shipped" = true;
    paid_to_cancelled_allowed: "paid" -> "cancelled" = true;
    shipped_to_pending_refused: "shipped" -> "pending" = false;
    shipped_to_paid_refused: "shipped" -> "paid" = false;
    shipped_to_shipped_allowed: "shipped" -> "shipped" = true;
    shipped_to_cancelled_refused: "shipped" -> "cancelled" = false;
    cancelled_to_pending_refused: "cancelled" -> "pending" = false;
    cancelled_to_paid_refused: "cancelled" -> "paid" = false;
    cancelled_to_shipped_refused: "cancelled" -> "shipped" = false;
    cancelled_to_cancelled_allowed: "cancelled" -> "cancelled" = true;
}

/// From `paid`, `shipped` and `cancelled` exclude each other: sent at once, exactly one wins,
/// whichever order the database sees them in.
#[tokio::test]
async fn concurrent_conflicting_changes_let_exactly_one_win() {
    let api = Api::gateway();
    let order = order_in_status(&api, "paid").await;
    let path = order_path(order.id);
    let (ship, cancel) = (
        order_update(&order, "shipped"),
        order_update(&order, "cancelled"),
    );
    let (shipped, cancelled) = tokio::join!(api.put(&path, &ship), api.put(&path, &cancel));
    let winner = match (shipped.status, cancelled.status) {
        (200, 409) => "shipped",
        (409, 200) => "cancelled",
        _ => panic!(
            "exactly one change wins:\n{}\n{}",
            shipped.describe(),
            cancelled.describe()
        ),
    };
    let stored = Order::from_json(&api.get(&path).await.expect(200));
    assert_eq!(stored.status, winner);
}

// --- delete -----------------------------------------------------------------------------------

#[tokio::test]
async fn delete_returns_204_without_body_then_404() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    let path = order_path(order.id);
    let reply = api.delete(&path).await;
    reply.assert_status(204);
    reply.assert_empty_body();
    reply.assert_service(Service::OrderService);
    reply.assert_timing_includes(&api, DB_TIMING_MIN);
    api.get(&path).await.assert_error(404, "not_found");
    api.delete(&path).await.assert_error(404, "not_found");
    api.put(&path, &order_update(&order, "paid"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn deleting_a_customer_leaves_its_orders() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 10).await;
    api.delete(&customer_path(customer.id))
        .await
        .assert_status(204);
    let kept = Order::from_json(&api.get(&order_path(order.id)).await.expect(200));
    assert_eq!(kept, order);
    let listed = api
        .get(&format!("/orders?customer_id={}", customer.id))
        .await;
    let items = assert_page(&listed.expect(200), 20, 0);
    assert_eq!(items.len(), 1);
    assert_eq!(Order::from_json(&items[0]), order);
}

// --- list -------------------------------------------------------------------------------------

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| Order::from_json(i).id).collect()
}

#[tokio::test]
async fn list_filtered_by_customer_pages_exactly_its_orders() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let mut mine = Vec::new();
    for quantity in 1..=3 {
        mine.push(create_order(&api, customer.id, quantity, 5).await.id);
    }
    let base = format!("/orders?customer_id={}", customer.id);
    let all = api.get(&base).await;
    assert_eq!(ids(&assert_page(&all.expect(200), 20, 0)), mine);
    all.assert_service(Service::OrderService);
    all.assert_timing(&api, DB_TIMING);
    let first = api.get(&format!("{base}&limit=2")).await.expect(200);
    assert_eq!(ids(&assert_page(&first, 2, 0)), mine[..2]);
    let second = api
        .get(&format!("{base}&limit=2&offset=2"))
        .await
        .expect(200);
    assert_eq!(ids(&assert_page(&second, 2, 2)), mine[2..]);
    let past = api.get(&format!("{base}&offset=3")).await.expect(200);
    assert!(assert_page(&past, 20, 3).is_empty());
}

#[tokio::test]
async fn list_default_limit_is_20() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let mut mine = Vec::new();
    for _ in 0..21 {
        mine.push(create_order(&api, customer.id, 1, 1).await.id);
    }
    let base = format!("/orders?customer_id={}", customer.id);
    let first = api.get(&base).await.expect(200);
    assert_eq!(ids(&assert_page(&first, 20, 0)), mine[..20]);
    let rest = api.get(&format!("{base}&offset=20")).await.expect(200);
    assert_eq!(ids(&assert_page(&rest, 20, 20)), mine[20..]);
    let hundred = api.get(&format!("{base}&limit=100")).await.expect(200);
    assert_eq!(ids(&assert_page(&hundred, 100, 0)), mine);
}

#[tokio::test]
async fn list_unfiltered_is_ordered_by_id() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    create_order(&api, customer.id, 1, 1).await;
    let reply = api.get("/orders?limit=100").await;
    let items = assert_page(&reply.expect(200), 100, 0);
    assert!(!items.is_empty());
    ids(&items);
    assert_page(&api.get("/orders").await.expect(200), 20, 0);
}

#[tokio::test]
async fn list_for_a_customer_without_orders_is_empty() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let page = api
        .get(&format!("/orders?customer_id={}", customer.id))
        .await
        .expect(200);
    assert!(assert_page(&page, 20, 0).is_empty());
    let unknown = api
        .get(&format!("/orders?customer_id={MAX_ID}"))
        .await
        .expect(200);
    assert!(assert_page(&unknown, 20, 0).is_empty());
}

#[tokio::test]
async fn list_rejects_malformed_filter_and_paging() {
    let api = Api::gateway();
    for query in [
        "customer_id=",
        "customer_id=abc",
        "customer_id=0",
        "customer_id=-1",
        "customer_id=1.5",
        "customer_id=99999999999999999999",
        "limit=0",
        "limit=101",
        "limit=",
        "limit=ten",
        "offset=-1",
        "offset=1000001",
        "offset=",
    ] {
        let reply = api.get(&format!("/orders?{query}")).await;
        reply.assert_error(400, "invalid_parameter");
        reply.assert_service(Service::OrderService);
    }
}

#[tokio::test]
async fn list_ignores_unknown_parameters_and_takes_the_first_of_a_repeat() {
    let api = Api::gateway();
    let a = create_customer(&api).await;
    let b = create_customer(&api).await;
    let order_a = create_order(&api, a.id, 1, 1).await;
    create_order(&api, b.id, 1, 1).await;
    let page = api
        .get(&format!(
            "/orders?sort=desc&customer_id={}&customer_id={}",
            a.id, b.id
        ))
        .await
        .expect(200);
    assert_eq!(ids(&assert_page(&page, 20, 0)), [order_a.id]);
}

// --- ids --------------------------------------------------------------------------------------

for_each_target!(invalid_ids_are_invalid_parameter => check_invalid_ids: gateway);

// --- invalid bodies ---------------------------------------------------------------------------

for_each_target!(malformed_create_bodies_are_invalid_body => check_invalid_create_bodies: gateway);

#[tokio::test]
async fn malformed_update_bodies_are_invalid_body() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let order = create_order(&api, customer.id, 1, 1).await;
    let path = order_path(order.id);
    for body in [
        "",
        "[]",
        r#"{"product": "p", "quantity": 1, "unit_price_cents": 1, "status": 1}"#,
        r#"{"product": "p", "quantity": 1.5, "unit_price_cents": 1, "status": "paid"}"#,
        r#"{"product": "p", "quantity": 1, "unit_price_cents": 1e2, "status": "paid"}"#,
        r#"{"product": "p", "quantity": 1, "unit_price_cents": 1, "status": "paid", "id": 1}"#,
    ] {
        api.send_json_text(Method::PUT, &path, body)
            .await
            .assert_error(400, "invalid_body");
    }
}

// --- validation -------------------------------------------------------------------------------

#[tokio::test]
async fn missing_required_fields_are_each_listed() {
    let api = Api::gateway();
    api.send_json_text(Method::POST, "/orders", "{}")
        .await
        .assert_invalid_fields(&["customer_id", "product", "quantity"]);
    api.send_json_text(
        Method::POST,
        "/orders",
        r#"{"customer_id": null, "product": null, "quantity": null, "unit_price_cents": null}"#,
    )
    .await
    .assert_invalid_fields(&["customer_id", "product", "quantity"]);
}

#[tokio::test]
async fn every_failing_field_is_listed_in_contract_order() {
    let api = Api::gateway();
    api.send_json_text(
        Method::POST,
        "/orders",
        r#"{"unit_price_cents": 100000001, "quantity": 10001, "product": "", "customer_id": 0}"#,
    )
    .await
    .assert_invalid_fields(&["customer_id", "product", "quantity", "unit_price_cents"]);
}

#[tokio::test]
async fn product_rule_accepts_1_to_200_characters() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    for product in ["p".to_string(), "p".repeat(200), "ü".repeat(200)] {
        let body = json!({ "customer_id": customer.id, "product": product, "quantity": 1 });
        let order = Order::from_json(&api.post("/orders", &body).await.expect(201));
        assert_eq!(order.product, product);
    }
}

#[tokio::test]
async fn product_rule_rejects_empty_long_and_control_characters() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    for product in [
        String::new(),
        "  ".to_string(),
        "p".repeat(201),
        "tab\tinside".to_string(),
        "esc\u{1b}".to_string(),
    ] {
        let body = json!({ "customer_id": customer.id, "product": product, "quantity": 1 });
        api.post("/orders", &body)
            .await
            .assert_invalid_fields(&["product"]);
    }
}

#[tokio::test]
async fn number_rules_reject_out_of_range_values() {
    let api = Api::gateway();
    let customer = create_customer(&api).await;
    let c = customer.id;
    let cases = [
        (
            json!({ "customer_id": 0, "product": "p", "quantity": 1 }),
            "customer_id",
        ),
        (
            json!({ "customer_id": -5, "product": "p", "quantity": 1 }),
            "customer_id",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": 0 }),
            "quantity",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": -1 }),
            "quantity",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": 10001 }),
            "quantity",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": i64::MAX }),
            "quantity",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": 1, "unit_price_cents": -1 }),
            "unit_price_cents",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": 1, "unit_price_cents": 100_000_001 }),
            "unit_price_cents",
        ),
        (
            json!({ "customer_id": c, "product": "p", "quantity": 1, "unit_price_cents": i64::MIN }),
            "unit_price_cents",
        ),
    ];
    for (body, field) in cases {
        api.post("/orders", &body)
            .await
            .assert_invalid_fields(&[field]);
    }
}
