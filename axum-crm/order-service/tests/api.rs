//! The router in-process against a real Postgres (`#[sqlx::test]`: a throwaway database per
//! test from DATABASE_URL) and a stub customer-service on a local port.

use axum_common::admission::Admission;
use axum_common::layers::LayersOff;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_common::db::Db;
use axum_common::test_util::{closed_port_url, serve_stub, TestApp};
use axum_common::upstream;
use axum_order_service::{app, AppState};
use serde_json::json;
use sqlx::PgPool;

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
    serve_stub(stub).await
}

fn service(pool: PgPool, customer_service_url: String) -> TestApp {
    let state = AppState {
        db: Db::migrated(pool),
        http: upstream::client(Duration::from_millis(300)).unwrap(),
        customer_service_url,
    };
    TestApp::new(
        app(
            state,
            Duration::from_secs(10),
            Admission::new(64, Duration::from_millis(200)),
            LayersOff::NONE,
        ),
        "order-service",
    )
}

#[sqlx::test(migrations = "../../migrations")]
async fn create_read_list_update_delete(pool: PgPool) {
    let app = service(pool, stub_customer_service().await);
    let created = app.send_json("POST", "/orders", json!({"customer_id": 7, "product": " Widget ", "quantity": 3, "unit_price_cents": 250}))
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

    let free = app
        .send_json(
            "POST",
            "/orders",
            json!({"customer_id": 8, "product": "Gift", "quantity": 1}),
        )
        .await;
    assert_eq!(free.status, 201);
    assert_eq!(free.body["unit_price_cents"], 0);

    let got = app.call("GET", &format!("/orders/{id}")).await;
    assert_eq!(got.body, created.body);
    assert_eq!(got.timing(), ["conn", "query", "ser", "total"]);

    let mine = app.call("GET", "/orders?customer_id=7").await;
    assert_eq!(mine.status, 200);
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine.body["items"][0]["id"], id);
    let all = app.call("GET", "/orders?limit=5").await;
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        (all.body["limit"].as_i64(), all.body["offset"].as_i64()),
        (Some(5), Some(0))
    );

    let put = |status: &str| json!({"product": "Widget XL", "quantity": 2, "unit_price_cents": 1000, "status": status});
    let paid = app
        .send_json("PUT", &format!("/orders/{id}"), put("paid"))
        .await;
    assert_eq!(paid.status, 200, "{}", paid.body);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(paid.body["total_cents"], 2000);
    assert_eq!(paid.body["customer_id"], 7);
    let same = app
        .send_json("PUT", &format!("/orders/{id}"), put("paid"))
        .await;
    assert_eq!(same.status, 200);
    let back = app
        .send_json("PUT", &format!("/orders/{id}"), put("pending"))
        .await;
    assert_eq!(
        (back.status.as_u16(), back.code()),
        (409, "invalid_status_transition")
    );
    assert_eq!(back.timing(), ["conn", "query", "total"]);
    let shipped = app
        .send_json("PUT", &format!("/orders/{id}"), put("shipped"))
        .await;
    assert_eq!(shipped.body["status"], "shipped");
    let cancel = app
        .send_json("PUT", &format!("/orders/{id}"), put("cancelled"))
        .await;
    assert_eq!(cancel.status, 409);

    let missing = app.send_json("PUT", "/orders/999999", put("paid")).await;
    assert_eq!(
        (missing.status.as_u16(), missing.code()),
        (404, "not_found")
    );
    assert_eq!(missing.timing(), ["conn", "query", "total"]);

    let with_customer = app.send_json("PUT", &format!("/orders/{id}"), json!({"customer_id": 1, "product": "x", "quantity": 1, "unit_price_cents": 0, "status": "paid"})).await;
    assert_eq!(with_customer.code(), "invalid_body");

    assert_eq!(
        app.call("DELETE", &format!("/orders/{id}")).await.status,
        204
    );
    let gone = app.call("GET", &format!("/orders/{id}")).await;
    assert_eq!((gone.status.as_u16(), gone.code()), (404, "not_found"));
    assert_eq!(
        app.call("DELETE", &format!("/orders/{id}")).await.status,
        404
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_customer_check(pool: PgPool) {
    let app = service(pool.clone(), stub_customer_service().await);
    let order =
        |customer_id: i64| json!({"customer_id": customer_id, "product": "p", "quantity": 1});

    let a = app.send_json("POST", "/orders", order(404)).await;
    assert_eq!((a.status.as_u16(), a.code()), (400, "customer_not_found"));
    assert_eq!(a.timing(), ["verify", "total"]);
    for id in [500, 503] {
        let a = app.send_json("POST", "/orders", order(id)).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (502, "upstream_unavailable"),
            "{id}"
        );
    }
    let started = Instant::now();
    let a = app.send_json("POST", "/orders", order(777)).await;
    assert_eq!((a.status.as_u16(), a.code()), (504, "upstream_timeout"));
    assert!(started.elapsed() < Duration::from_secs(2));

    // Invalid input never reaches customer-service.
    let a = app
        .send_json(
            "POST",
            "/orders",
            json!({"customer_id": 0, "product": "", "quantity": 0}),
        )
        .await;
    assert_eq!(a.code(), "validation_failed");
    assert!(a.timing().is_empty());
    assert_eq!(a.fields(), ["customer_id", "product", "quantity"]);

    // customer-service stopped.
    let down = service(pool, closed_port_url());
    let a = down.send_json("POST", "/orders", order(1)).await;
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
        let a = app.call(method, path).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{method} {path}"
        );
    }
    let a = app.call("PUT", "/orders").await;
    assert_eq!(a.headers["allow"], "GET, POST");
    let a = app.call("HEAD", "/orders/1").await;
    assert_eq!(a.status, 405);
    assert_eq!(a.headers["allow"], "GET, PUT, DELETE");

    let h = app.call("GET", "/healthz").await;
    assert_eq!(
        h.body,
        json!({"status": "ok", "service": "order-service", "runtime": "axum"})
    );
    let r = app.call("GET", "/readyz").await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, h.body));
}
