//! Fixtures: fresh data with values no other test (or run) uses, so tests share one database
//! safely; request bodies and paths; the contract's limits and reference results.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::client::Api;
use crate::views::{Customer, Order};

/// The largest accepted request body; one byte more is 413.
pub const MAX_BODY_BYTES: usize = 65_536;
/// The largest id (i64::MAX); ids are 1..=this.
pub const MAX_ID: i64 = i64::MAX;

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

/// A valid order for `customer_id`, with a fresh product name.
pub fn new_order(customer_id: i64) -> Value {
    json!({ "customer_id": customer_id, "product": unique("Widget"), "quantity": 3, "unit_price_cents": 1250 })
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
    fn unique_values_differ() {
        assert_ne!(unique("t"), unique("t"));
        assert_ne!(unique_email(), unique_email());
    }
}
