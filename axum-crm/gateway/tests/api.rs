//! The gateway in-process, with stub upstreams on local ports.

use axum_common::admission::Admission;
use axum_common::layers::LayersOff;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::Router;
use axum_common::test_util::{closed_port_url, serve_stub, TestApp};
use axum_common::upstream;
use axum_gateway::{app, AppState};
use serde_json::json;

/// A stand-in for a data service. `/x/echo…` echoes the request; `/x/500` is a bare 500,
/// `/x/503` a contract `database_unavailable`, `/x/404` a contract 404, `/x/slow` answers
/// after 3 s.
async fn stub(service: &'static str) -> String {
    let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
        let stamp = [
            ("x-crm-service", service),
            ("x-crm-runtime", "axum"),
            ("content-type", "application/json"),
            ("x-internal", "do-not-leak"),
        ];
        let path = uri.path();
        if path.ends_with("/500") {
            return (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response();
        }
        if path.ends_with("/503") {
            let body = r#"{"error":{"code":"database_unavailable","message":"db down"}}"#;
            return (StatusCode::SERVICE_UNAVAILABLE, stamp, body).into_response();
        }
        if path.ends_with("/404") {
            let body = r#"{"error":{"code":"not_found","message":"no such resource"}}"#;
            return (
                StatusCode::NOT_FOUND,
                stamp,
                [(
                    "server-timing",
                    "conn;dur=0.100, query;dur=0.200, total;dur=0.400",
                )],
                body,
            )
                .into_response();
        }
        if path.ends_with("/slow") {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        let echo = json!({
            "method": method.as_str(),
            "uri": uri.to_string(),
            "content_type": headers.get("content-type").map(|v| v.to_str().unwrap()),
            "body": String::from_utf8_lossy(&body),
        });
        (
            StatusCode::CREATED,
            stamp,
            [
                ("location", "/customers/42"),
                (
                    "server-timing",
                    "conn;dur=0.100, query;dur=0.200, ser;dur=0.010, total;dur=0.400",
                ),
            ],
            echo.to_string(),
        )
            .into_response()
    };
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .fallback(any(handler));
    // With a trailing slash, which the gateway must not double.
    format!("{}/", serve_stub(router).await)
}

fn gateway(customers: String, orders: String) -> TestApp {
    let state = AppState {
        http: upstream::client(Duration::from_millis(500)).unwrap(),
        customer_service_url: customers,
        order_service_url: orders,
    };
    TestApp::gateway(app(
        state,
        Duration::from_secs(10),
        Admission::new(64, Duration::from_millis(200)),
        LayersOff::NONE,
    ))
}

#[tokio::test]
async fn forwards_method_path_query_body_and_passes_the_answer_back() {
    let app = gateway(stub("customer-service").await, stub("order-service").await);
    let a = app
        .send(
            "PUT",
            "/customers/echo/7?limit=5&x=%20y",
            Some("application/json; charset=utf-8"),
            br#"{"name":"a"}"#.to_vec(),
        )
        .await;
    assert_eq!(a.status, 201);
    assert_eq!(a.body["method"], "PUT");
    assert_eq!(a.body["uri"], "/customers/echo/7?limit=5&x=%20y");
    assert_eq!(a.body["content_type"], "application/json; charset=utf-8");
    assert_eq!(a.body["body"], r#"{"name":"a"}"#);
    assert_eq!(a.header("x-crm-service"), Some("customer-service"));
    assert_eq!(a.header("location"), Some("/customers/42"));
    assert_eq!(a.header("x-internal"), None);
    let timing = a.header("server-timing").unwrap();
    assert!(
        timing.starts_with(
            "conn;dur=0.100, query;dur=0.200, ser;dur=0.010, total;dur=0.400, gw;dur="
        ),
        "{timing}"
    );

    let o = app.call("GET", "/orders?customer_id=1").await;
    assert_eq!(o.header("x-crm-service"), Some("order-service"));
    assert_eq!(o.body["uri"], "/orders?customer_id=1");
    assert_eq!(o.body["method"], "GET");

    let c = app.call("DELETE", "/customers").await;
    assert_eq!(c.body["uri"], "/customers");
}

#[tokio::test]
async fn upstream_errors_per_the_verdict() {
    let app = gateway(stub("customer-service").await, closed_port_url());

    let a = app.call("GET", "/customers/404").await;
    assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"));
    assert_eq!(a.header("x-crm-service"), Some("customer-service"));
    assert!(a.header("server-timing").unwrap().contains(", gw;dur="));

    let a = app.call("GET", "/customers/503").await;
    assert_eq!((a.status.as_u16(), a.code()), (503, "database_unavailable"));
    assert_eq!(a.header("x-crm-service"), Some("customer-service"));

    let a = app.call("GET", "/customers/500").await;
    assert_eq!((a.status.as_u16(), a.code()), (502, "upstream_unavailable"));
    assert_eq!(a.header("x-crm-service"), Some("gateway"));
    assert!(a.header("server-timing").unwrap().starts_with("gw;dur="));

    let a = app.call("GET", "/orders/1").await;
    assert_eq!((a.status.as_u16(), a.code()), (502, "upstream_unavailable"));
    assert_eq!(a.header("x-crm-service"), Some("gateway"));
    assert!(a.header("server-timing").unwrap().starts_with("gw;dur="));

    let started = Instant::now();
    let a = app.call("GET", "/customers/slow").await;
    assert_eq!((a.status.as_u16(), a.code()), (504, "upstream_timeout"));
    assert_eq!(a.header("x-crm-service"), Some("gateway"));
    assert!(a.header("server-timing").unwrap().starts_with("gw;dur="));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_gateway_s_own_answers() {
    let app = gateway(stub("customer-service").await, stub("order-service").await);

    let big = vec![b' '; 64 * 1024 + 1];
    let a = app
        .send("POST", "/customers", Some("application/json"), big)
        .await;
    assert_eq!((a.status.as_u16(), a.code()), (413, "payload_too_large"));
    assert_eq!(a.header("x-crm-service"), Some("gateway"));
    let exactly = vec![b' '; 64 * 1024];
    let a = app
        .send("POST", "/customers", Some("application/json"), exactly)
        .await;
    assert_eq!(a.status, 201);

    for path in ["/", "/nope", "/customersx", "/compute/1"] {
        let a = app.call("GET", path).await;
        assert_eq!((a.status.as_u16(), a.code()), (404, "not_found"), "{path}");
        assert_eq!(a.header("x-crm-service"), Some("gateway"));
    }
    for (method, path) in [
        ("POST", "/compute"),
        ("HEAD", "/compute"),
        ("PUT", "/healthz"),
        ("DELETE", "/readyz"),
    ] {
        let a = app.call(method, path).await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.header("allow"), Some("GET"));
    }

    let h = app.call("GET", "/healthz").await;
    assert_eq!(
        h.body,
        json!({"status": "ok", "service": "gateway", "runtime": "axum"})
    );
    let r = app.call("GET", "/readyz").await;
    assert_eq!((r.status.as_u16(), r.body.clone()), (200, h.body));

    let half = gateway(stub("customer-service").await, closed_port_url());
    let r = half.call("GET", "/readyz").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, "upstream_unavailable"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("order-service"));
}

#[tokio::test]
async fn compute() {
    let app = gateway(closed_port_url(), closed_port_url());
    let a = app.call("GET", "/compute?n=90").await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["n"], 90);
    assert_eq!(a.body["algo"], "iterative");
    assert_eq!(a.body["result"], "2880067194370816120");
    assert!(a.body["compute_ms"].as_f64().unwrap() >= 0.0);
    assert!(a
        .header("server-timing")
        .unwrap()
        .starts_with("compute;dur="));
    assert_eq!(a.header("x-crm-service"), Some("gateway"));

    let a = app.call("GET", "/compute?algo=recursive&n=20").await;
    assert_eq!(
        (a.body["algo"].as_str(), a.body["result"].as_str()),
        (Some("recursive"), Some("6765"))
    );
    let a = app.call("GET", "/compute").await;
    assert_eq!(a.body["n"], 1000);

    for q in [
        "n=abc",
        "n=",
        "n=41&algo=recursive",
        "algo=fast",
        "n=100000001",
    ] {
        let a = app.call("GET", &format!("/compute?{q}")).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (400, "invalid_parameter"),
            "{q}"
        );
    }
}
