//! Dependency failures, against the fault stacks `scripts/test.sh` starts next to the main one:
//! an upstream that refuses (502), one that never answers (504, within the configured timeout
//! plus a margin — the client gives up after that, so a hang fails), and a database that is
//! unreachable (503). 5xx bodies are checked for leaked internals on every reply.

use crm_contract_tests::*;

fn valid_order(customer_id: i64) -> Value {
    json!({ "customer_id": customer_id, "product": unique("Fault"), "quantity": 1, "unit_price_cents": 1 })
}

fn valid_order_update() -> Value {
    json!({ "product": "p", "quantity": 1, "unit_price_cents": 1, "status": "paid" })
}

/// A gateway-made error: `x-crm-service: gateway` and its `gw` timing.
#[track_caller]
fn assert_gateway_error(reply: &Received, status: u16, code: &str) {
    reply.assert_error(status, code);
    reply.assert_service(Service::Gateway);
    assert!(
        reply.timing_names().contains(&"gw".to_string()),
        "gateway errors carry gw timing: {}",
        reply.describe()
    );
}

// --- gateway: customer-service refuses, order-service hangs -----------------------------------

#[tokio::test]
async fn gateway_answers_502_when_customer_service_refuses() {
    let api = Api::fault_gateway();
    assert_gateway_error(&api.get("/customers").await, 502, "upstream_unavailable");
    assert_gateway_error(&api.get("/customers/1").await, 502, "upstream_unavailable");
    assert_gateway_error(
        &api.get("/customers/ping").await,
        502,
        "upstream_unavailable",
    );
    assert_gateway_error(
        &api.post("/customers", &customer_body()).await,
        502,
        "upstream_unavailable",
    );
    assert_gateway_error(
        &api.delete("/customers/1").await,
        502,
        "upstream_unavailable",
    );
}

#[tokio::test]
async fn gateway_answers_504_when_order_service_never_answers_get() {
    let api = Api::fault_gateway();
    assert_gateway_error(&api.get("/orders").await, 504, "upstream_timeout");
    assert_gateway_error(&api.get("/orders/1").await, 504, "upstream_timeout");
}

#[tokio::test]
async fn gateway_answers_504_when_order_service_never_answers_writes() {
    let api = Api::fault_gateway();
    assert_gateway_error(
        &api.post("/orders", &valid_order(1)).await,
        504,
        "upstream_timeout",
    );
    assert_gateway_error(
        &api.put("/orders/1", &valid_order_update()).await,
        504,
        "upstream_timeout",
    );
}

#[tokio::test]
async fn gateway_without_upstreams_still_computes_and_is_healthy() {
    let api = Api::fault_gateway();
    let reply = api.get("/compute?n=10").await;
    assert_eq!(reply.expect(200)["result"], "55");
    reply.assert_service(Service::Gateway);
    let health = api.get("/healthz").await.expect(200);
    assert_eq!(health["service"], "gateway");
    assert_eq!(health["status"], "ok");
    api.get("/nope").await.assert_error(404, "not_found");
}

#[tokio::test]
async fn gateway_is_not_ready_without_upstreams() {
    let api = Api::fault_gateway();
    let reply = api.get("/readyz").await;
    reply.assert_error(503, "upstream_unavailable");
    reply.assert_service(Service::Gateway);
}

// --- order-service: its customer check fails --------------------------------------------------

#[tokio::test]
async fn order_create_answers_502_when_customer_service_refuses() {
    let api = Api::fault_order_service();
    let reply = api.post("/orders", &valid_order(1)).await;
    reply.assert_error(502, "upstream_unavailable");
    reply.assert_service(Service::OrderService);
}

#[tokio::test]
async fn order_reads_and_validation_need_no_customer_service() {
    let api = Api::fault_order_service();
    let page = api.get("/orders?limit=1").await.expect(200);
    assert_page(&page, 1, 0);
    api.post(
        "/orders",
        &json!({ "customer_id": 1, "product": "", "quantity": 1 }),
    )
    .await
    .assert_invalid_fields(&["product"]);
    let health = api.get("/healthz").await.expect(200);
    assert_eq!(health["service"], "order-service");
}

#[tokio::test]
async fn order_create_answers_504_when_customer_service_hangs() {
    let api = Api::hang_order_service();
    let reply = api.post("/orders", &valid_order(1)).await;
    reply.assert_error(504, "upstream_timeout");
    reply.assert_service(Service::OrderService);
}

// --- data services without Postgres -----------------------------------------------------------

async fn check_database_unavailable(api: &Api, method: Method, path: &str, body: Option<&Value>) {
    let reply = match body {
        Some(body) => api.send_json(method, path, body).await,
        None => api.call(method, path).await,
    };
    reply.assert_error(503, "database_unavailable");
    reply.assert_service(api.role());
}

#[tokio::test]
async fn customer_routes_answer_503_without_database() {
    let api = Api::nodb_customer_service();
    let body = customer_body();
    check_database_unavailable(&api, Method::GET, "/customers", None).await;
    check_database_unavailable(&api, Method::GET, "/customers/1", None).await;
    check_database_unavailable(&api, Method::GET, "/customers/ping", None).await;
    check_database_unavailable(&api, Method::POST, "/customers", Some(&body)).await;
    check_database_unavailable(&api, Method::PUT, "/customers/1", Some(&body)).await;
    check_database_unavailable(&api, Method::DELETE, "/customers/1", None).await;
}

#[tokio::test]
async fn order_routes_answer_503_without_database() {
    let api = Api::nodb_order_service();
    let update = valid_order_update();
    check_database_unavailable(&api, Method::GET, "/orders", None).await;
    check_database_unavailable(&api, Method::GET, "/orders?customer_id=1", None).await;
    check_database_unavailable(&api, Method::GET, "/orders/1", None).await;
    check_database_unavailable(&api, Method::PUT, "/orders/1", Some(&update)).await;
    check_database_unavailable(&api, Method::DELETE, "/orders/1", None).await;
}

async fn check_health_without_database(api: Api) {
    let health = api.get("/healthz").await.expect(200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["service"], api.role().name());
    assert_eq!(health["runtime"], expected_runtime().as_str());
    let ready = api.get("/readyz").await;
    ready.assert_error(503, "database_unavailable");
    ready.assert_service(api.role());
}

for_each_target!(healthy_but_not_ready_without_database => check_health_without_database: nodb_customer_service, nodb_order_service);

#[tokio::test]
async fn checks_before_the_database_still_answer_without_it() {
    let customers = Api::nodb_customer_service();
    customers
        .post("/customers", &json!({ "name": "", "email": "a@b.co" }))
        .await
        .assert_invalid_fields(&["name"]);
    customers
        .get("/customers/abc")
        .await
        .assert_error(400, "invalid_parameter");
    customers
        .get("/customers?limit=0")
        .await
        .assert_error(400, "invalid_parameter");
    let orders = Api::nodb_order_service();
    orders
        .put(
            "/orders/1",
            &json!({ "product": "p", "quantity": 0, "unit_price_cents": 1, "status": "paid" }),
        )
        .await
        .assert_invalid_fields(&["quantity"]);
}

// --- a gateway whose upstreams are alive but have lost their database --------------------------

#[tokio::test]
async fn gateway_passes_database_unavailable_through() {
    let api = Api::nodb_gateway();
    for (path, upstream) in [
        ("/customers", Service::CustomerService),
        ("/customers/1", Service::CustomerService),
        ("/orders/1", Service::OrderService),
    ] {
        let reply = api.get(path).await;
        reply.assert_error(503, "database_unavailable");
        // The answer is the upstream's, passed through, with the gateway's round trip appended.
        reply.assert_service(upstream);
        assert!(
            reply.timing_names().contains(&"gw".to_string()),
            "{}",
            reply.describe()
        );
    }
}

#[tokio::test]
async fn order_create_answers_502_when_customer_service_answers_5xx() {
    // The database-less order-service checks the customer with a customer-service that answers
    // 503: the check fails upstream, before any SQL.
    let api = Api::nodb_order_service();
    let reply = api.post("/orders", &valid_order(1)).await;
    reply.assert_error(502, "upstream_unavailable");
    reply.assert_service(Service::OrderService);
}

#[tokio::test]
async fn gateway_is_ready_while_its_upstreams_are_alive_without_database() {
    // Readiness asks the upstreams' /healthz: a database outage does not take the gateway out.
    let reply = Api::nodb_gateway().get("/readyz").await;
    assert_eq!(reply.expect(200)["service"], "gateway");
}
