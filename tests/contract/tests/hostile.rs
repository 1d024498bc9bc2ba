//! Hostile input: what a client that means harm (or is badly broken) may send, against both
//! stacks. Each request is answered with the contract's error code, or refused by the HTTP
//! server itself before any service code runs (a bare 400/431 without body, then a close), or
//! its connection is closed; never a 500, a panic, a hang or a leaked detail, and the service
//! keeps serving everybody else (docs/api.md#hostile-input).
//!
//! Raw requests go over TCP (`Api::send_raw`), since most of these cannot be expressed with an
//! HTTP client library: invalid UTF-8 in the request line, oversized heads, heads dribbled a
//! byte at a time.

use crm_contract_tests::checks::hostile::*;
use crm_contract_tests::*;

// --- oversized heads and URLs ------------------------------------------------------------------

for_each_target!(oversized_heads_are_refused_and_long_values_not_reflected => check_oversized_heads: gateway);

// --- malformed requests -------------------------------------------------------------------------

for_each_target!(malformed_requests_are_refused => check_malformed_requests: gateway);

// --- invalid UTF-8 ------------------------------------------------------------------------------

for_each_target!(invalid_utf8_in_path_query_and_body => check_invalid_utf8: gateway);

// --- deeply nested JSON -------------------------------------------------------------------------

for_each_target!(deeply_nested_json_is_invalid_body => check_deep_nesting: gateway);

// --- numbers ------------------------------------------------------------------------------------

for_each_target!(numbers_beyond_i64_are_invalid_body => check_numbers_beyond_i64: gateway);

// --- paging and other parameters ----------------------------------------------------------------

for_each_target!(hostile_paging_and_parameters_are_invalid_parameter => check_hostile_parameters: gateway);

// --- SQL metacharacters -------------------------------------------------------------------------

/// Strings that would change a query built by concatenation.
const SQL_TEXTS: [&str; 9] = [
    "Robert'); DROP TABLE customers;--",
    "' OR '1'='1",
    "\"; SELECT pg_sleep(30); --",
    "1; DELETE FROM orders WHERE '1'='1",
    "%_\\ $1 $$ :name ? E'\\x41' \\0",
    "/* */ UNION SELECT id, email FROM customers --",
    "' || (SELECT current_user) || '",
    "\\'; COPY customers TO '/tmp/pwned'; --",
    "é'ü\"ß`´$(id)`; \u{2028}--",
];

/// Emails (one `@`, no whitespace, a dotted domain) full of metacharacters; lower-case already.
const SQL_EMAILS: [&str; 4] = [
    "o'brien+');drop--@example.com",
    "\"or\"1\"=\"1@example.com",
    "%_\\$1;--@ex.co",
    "a'||'b@x.'--.com",
];

/// Phones may only hold `0-9 + - ( ) .` and space, which still spell an SQL comment.
const SQL_PHONES: [&str; 2] = ["+1 (555) --1.2", "(1)--(2);"];

async fn check_sql_metacharacters(api: Api) {
    for (i, text) in SQL_TEXTS.iter().enumerate() {
        let email = SQL_EMAILS[i % SQL_EMAILS.len()];
        let phone = SQL_PHONES[0];
        let body = json!({"name": text, "email": email, "phone": phone});
        let created = Customer::from_json(&api.post("/customers", &body).await.expect(201));
        assert_eq!(
            (
                created.name.as_str(),
                created.email.as_str(),
                created.phone.as_deref()
            ),
            (*text, email, Some(phone)),
            "stored verbatim"
        );
        let fetched = Customer::from_json(&api.get(&customer_path(created.id)).await.expect(200));
        assert_eq!(fetched, created, "read back verbatim");
        // Update with the texts the other way round.
        let other = SQL_TEXTS[(i + 1) % SQL_TEXTS.len()];
        let body = json!({"name": other, "email": email, "phone": null});
        let updated =
            Customer::from_json(&api.put(&customer_path(created.id), &body).await.expect(200));
        assert_eq!(
            (updated.name.as_str(), updated.phone.as_deref()),
            (other, None)
        );

        let order = json!({"customer_id": created.id, "product": text, "quantity": 2,
                           "unit_price_cents": 5});
        let order = Order::from_json(&api.post("/orders", &order).await.expect(201));
        assert_eq!(order.product, *text);
        let mut update = order_update(&order, "paid");
        update["product"] = json!(other);
        let paid = Order::from_json(&api.put(&order_path(order.id), &update).await.expect(200));
        assert_eq!(
            (paid.product.as_str(), paid.status.as_str()),
            (other, "paid")
        );
        // The filter still selects exactly this customer's one order.
        let page = api
            .get(&format!("/orders?customer_id={}&limit=100", created.id))
            .await
            .expect(200);
        let items = assert_page(&page, 100, 0);
        assert_eq!(items.len(), 1, "one order for the fresh customer: {page}");
        assert_eq!(Order::from_json(&items[0]), paid);
    }
    // The phone that is not allowed (a `;`) is refused by the rules, not by the database.
    let body = json!({"name": "n", "email": "a@b.co", "phone": SQL_PHONES[1]});
    api.post("/customers", &body)
        .await
        .assert_invalid_fields(&["phone"]);

    // Metacharacters in parameters: invalid_parameter, never a wider result.
    for target in [
        "/customers?limit=1;DROP%20TABLE%20customers",
        "/customers?limit=1%20OR%201=1",
        "/customers?offset=0'--",
        "/orders?customer_id=1%20OR%201=1",
        "/orders?customer_id=1)%20OR%20(1=1",
        "/orders?customer_id=1;--",
        "/customers/1'%20OR%20'1'='1",
        "/customers/1;DROP%20TABLE%20customers",
        "/orders/1%20OR%201=1",
        "/orders/(SELECT%201)",
    ] {
        api.get(target).await.assert_error(400, "invalid_parameter");
    }
    // Both tables are still there.
    api.get("/customers?limit=1").await.expect(200);
    api.get("/orders?limit=1").await.expect(200);
}

#[tokio::test]
async fn sql_metacharacters_are_stored_and_returned_verbatim() {
    check_sql_metacharacters(Api::gateway()).await;
}

// --- slow clients -------------------------------------------------------------------------------

for_each_target!(slow_clients_neither_starve_others_nor_stay_forever => check_slow_clients: gateway);
