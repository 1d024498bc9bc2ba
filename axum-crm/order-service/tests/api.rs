//! The router in-process against a real Postgres (`#[sqlx::test]`: a throwaway database per
//! test from DATABASE_URL) and a stub customer-service on a local port.

use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::Path;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use axum_common::db::Db;
use axum_common::upstream;
use axum_order_service::{app, AppState};
use serde_json::{json, Value};
use sqlx::PgPool;
use tower::ServiceExt;

/// Customers 1..=99 exist; 404 → not found; 500 → broken; 503 → its database is down;
/// 777 → answers after 3 s.
async fn stub_customer_service() -> String {
    let stub = Router::new().route(
        "/customers/{id}",
        get(|Path(id): Path<i64>| async move {
            match id {
                1..=99 => (StatusCode::OK, "{}"),
                500 => (StatusCode::INTERNAL_SERVER_ERROR, "boom"),
                503 => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"error":{"code":"database_unavailable","message":"x"}}"#,
                ),
                777 => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    (StatusCode::OK, "{}")
                }
                _ => (
                    StatusCode::NOT_FOUND,
                    r#"{"error":{"code":"not_found","message":"x"}}"#,
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, stub).await.unwrap() });
    format!("http://{addr}")
}

fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
}

fn service(pool: PgPool, customer_service_url: String) -> Router {
    let state = AppState {
        db: Db::migrated(pool),
        http: upstream::client(Duration::from_millis(300)).unwrap(),
        customer_service_url,
    };
    app(state, Duration::from_secs(10))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn timing(&self) -> Vec<String> {
        self.headers
            .get("server-timing")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
            .split(", ")
            .filter(|e| !e.is_empty())
            .map(|e| e.split(';').next().unwrap().to_owned())
            .collect()
    }
}

async fn send(app: &Router, method: &str, path: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map(|b| Body::from(b.to_string())).unwrap_or_default())
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        assert_eq!(parts.headers["content-type"], "application/json");
        serde_json::from_slice(&bytes).unwrap()
    };
    assert_eq!(parts.headers["x-crm-runtime"], "axum");
    assert_eq!(parts.headers["x-crm-service"], "order-service");
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn create_read_list_update_delete(pool: PgPool) {
    let app = service(pool, stub_customer_service().await);
    let created = send(
        &app,
        "POST",
        "/orders",
        Some(json!({"customer_id": 7, "product": " Widget ", "quantity": 3, "unit_price_cents": 250})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(created.headers["location"], format!("/orders/{id}"));
    assert_eq!(created.body["product"], "Widget");
    assert_eq!(created.body["total_cents"], 750);
    assert_eq!(created.body["status"], "pending");
    assert_eq!(
        created.timing(),
        ["conn", "query", "verify", "ser", "total"]
    );

    let free = send(
        &app,
        "POST",
        "/orders",
        Some(json!({"customer_id": 8, "product": "Gift", "quantity": 1})),
    )
    .await;
    assert_eq!(free.status, 201);
    assert_eq!(free.body["unit_price_cents"], 0);

    let got = send(&app, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!(got.body, created.body);
    assert_eq!(got.timing(), ["conn", "query", "ser", "total"]);

    let mine = send(&app, "GET", "/orders?customer_id=7", None).await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["items"][0]["id"], id);
    let all = send(&app, "GET", "/orders?limit=5", None).await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        (all.body["limit"].as_i64(), all.body["offset"].as_i64()),
        (Some(5), Some(0))
    );

    let put = |status: &str| json!({"product": "Widget XL", "quantity": 2, "unit_price_cents": 1000, "status": status});
    let paid = send(&app, "PUT", &format!("/orders/{id}"), Some(put("paid"))).await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(paid.body["total_cents"], 2000);
    assert_eq!(paid.body["customer_id"], 7);
    let same = send(&app, "PUT", &format!("/orders/{id}"), Some(put("paid"))).await;
    assert_eq!(same.status, 200);
    let back = send(&app, "PUT", &format!("/orders/{id}"), Some(put("pending"))).await;
    assert_eq!(
        (back.status.as_u16(), back.code()),
        (409, "invalid_status_transition")
    );
    assert_eq!(back.timing(), ["conn", "query", "total"]);
    let shipped = send(&app, "PUT", &format!("/orders/{id}"), Some(put("shipped"))).await;
    assert_eq!(shipped.body["status"], "shipped");
    let cancel = send(
        &app,
        "PUT",
        &format!("/orders/{id}"),
        Some(put("cancelled")),
    )
    .await;
    assert_eq!(cancel.status, 409);

    let missing = send(&app, "PUT", "/orders/999999", Some(put("paid"))).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "not_found")
    );
    assert_eq!(missing.timing(), ["conn", "query", "total"]);

    let with_customer = send(&app, "PUT", &format!("/orders/{id}"), Some(json!({"customer_id": 1, "product": "x", "quantity": 1, "unit_price_cents": 0, "status": "paid"}))).await;
    assert_eq!(with_customer.code(), "invalid_body");

    assert_eq!(
        send(&app, "DELETE", &format!("/orders/{id}"), None)
            .await
            .status,
        204
    );
    let gone = send(&app, "GET", &format!("/orders/{id}"), None).await;
    assert_eq!((gone.status.as_u16(), gone.code()), (404, "not_found"));
    assert_eq!(
        send(&app, "DELETE", &format!("/orders/{id}"), None)
            .await
            .status,
        404
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_customer_check(pool: PgPool) {
    let app = service(pool.clone(), stub_customer_service().await);
    let order =
        |customer_id: i64| json!({"customer_id": customer_id, "product": "p", "quantity": 1});

    let a = send(&app, "POST", "/orders", Some(order(404))).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "customer_not_found"));
    assert_eq!(a.timing(), ["verify", "total"]);
    for id in [500, 503] {
        let a = send(&app, "POST", "/orders", Some(order(id))).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (502, "upstream_unavailable"),
            "{id}"
        );
    }
    let started = Instant::now();
    let a = send(&app, "POST", "/orders", Some(order(777))).await;
    assert_eq!((a.status.as_u16(), a.code()), (504, "upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));

    // Invalid input never reaches customer-service.
    let a = send(
        &app,
        "POST",
        "/orders",
        Some(json!({"customer_id": 0, "product": "", "quantity": 0})),
    )
    .await;
    assert_eq!(a.code(), "validation_failed");
    assert!(a.timing().is_empty());
    let fields: Vec<&str> = a.body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["customer_id", "product", "quantity"]);

    // customer-service stopped.
    let down = service(pool, closed_port_url());
    let a = send(&down, "POST", "/orders", Some(order(1))).await;
    assert_eq!((a.status.as_u16(), a.code()), (502, "upstream_unavailable"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn paths_parameters_and_methods(pool: PgPool) {
    let app = service(pool, closed_port_url());
    for (method, path, status, code) in [
        ("GET", "/orders/ping", 400, "invalid_parameter"),
        ("GET", "/orders/1.5", 400, "invalid_parameter"),
        ("GET", "/orders?customer_id=0", 400, "invalid_parameter"),
        ("GET", "/orders?customer_id=", 400, "invalid_parameter"),
        ("GET", "/orders?limit=101", 400, "invalid_parameter"),
        ("GET", "/orders/", 404, "not_found"),
        ("GET", "/orders/1/items", 404, "not_found"),
        ("GET", "/customers/1", 404, "not_found"),
        ("PUT", "/orders", 405, "method_not_allowed"),
        ("POST", "/orders/1", 405, "method_not_allowed"),
    ] {
        let a = send(&app, method, path, None).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{method} {path}"
        );
    }
    let a = send(&app, "PUT", "/orders", None).await;
    assert_eq!(a.headers["allow"], "GET, POST");
    let a = send(&app, "HEAD", "/orders/1", None).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "GET, PUT, DELETE");

    let h = send(&app, "GET", "/healthz", None).await;
    assert_eq!(
        h.body,
        json!({"status": "ok", "service": "order-service", "runtime": "axum"})
    );
    let r = send(&app, "GET", "/readyz", None).await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, h.body));
}
