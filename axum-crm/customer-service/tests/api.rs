//! The router in-process against a real Postgres: `#[sqlx::test]` creates a throwaway database
//! per test from DATABASE_URL (an admin URL), applies the migrations and drops it afterwards.

use axum_common::admission::Admission;
use axum_common::layers::LayersOff;
use std::time::{Duration, Instant};

use axum_common::db::{Db, DbConfig};
use axum_common::test_util::{closed_port, TestApp};
use axum_customer_service::app;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

fn service(pool: PgPool) -> TestApp {
    in_process(Db::migrated(pool))
}

fn in_process(db: Db) -> TestApp {
    TestApp::new(
        app(
            db,
            Duration::from_secs(10),
            Admission::new(64, Duration::from_millis(200)),
            LayersOff::NONE,
        ),
        "customer-service",
    )
}

#[sqlx::test(migrations = "../../migrations")]
async fn create_read_list_update_delete(pool: PgPool) {
    let app = service(pool);
    let created = app.send_json("POST", "/customers", json!({"name": "  Ada Lovelace ", "email": "Ada@Example.COM", "phone": "+44 20 7946 0958"}))
    .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(
        created.header("location"),
        Some(format!("/customers/{id}").as_str())
    );
    assert_eq!(created.body["name"], "Ada Lovelace");
    assert_eq!(created.body["email"], "ada@example.com");
    assert_eq!(created.timing(), ["conn", "query", "ser", "total"]);
    let stamp = created.body["created_at"].as_str().unwrap();
    assert_eq!(stamp.len(), "2026-11-21T08:15:30.123456Z".len(), "{stamp}");
    assert!(stamp.ends_with('Z'));

    let got = app.call("GET", &format!("/customers/{id}")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, created.body);
    assert_eq!(got.timing(), ["conn", "query", "ser", "total"]);

    app.send_json(
        "POST",
        "/customers",
        json!({"name": "Bob", "email": "b@x.io"}),
    )
    .await;
    let page = app.call("GET", "/customers?limit=1&offset=1&junk=1").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["limit"], 1);
    assert_eq!(page.body["offset"], 1);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(page.body["items"][0]["name"], "Bob");
    let all = app.call("GET", "/customers").await;
    assert_eq!(all.body["limit"], 20);
    assert_eq!(all.body["items"].as_array().unwrap().len(), 2);

    let updated = app
        .send_json(
            "PUT",
            &format!("/customers/{id}"),
            json!({"name": "Ada King", "email": "ada@king.org"}),
        )
        .await;
    assert_eq!(updated.status, 200);
    assert_eq!(updated.body["name"], "Ada King");
    assert_eq!(updated.body["phone"], Value::Null);
    assert_eq!(updated.body["created_at"], created.body["created_at"]);
    assert!(updated.body["updated_at"].as_str() > created.body["updated_at"].as_str());

    let deleted = app.call("DELETE", &format!("/customers/{id}")).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.body, Value::Null);
    assert_eq!(deleted.timing(), ["conn", "query", "total"]);

    for (method, body) in [
        ("GET", None),
        ("DELETE", None),
        ("PUT", Some(r#"{"name":"a","email":"a@b.co"}"#)),
    ] {
        let gone = app
            .send(
                method,
                &format!("/customers/{id}"),
                Some("application/json"),
                body.unwrap_or_default().to_owned(),
            )
            .await;
        assert_eq!(gone.status, 404, "{method}");
        assert_eq!(gone.code(), "not_found");
        assert_eq!(gone.timing(), ["conn", "query", "total"], "{method}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn bodies_are_refused_in_contract_order_before_any_query(pool: PgPool) {
    let app = service(pool);
    let big = format!(r#"{{"name":"{}","email":"a@b.co"}}"#, "x".repeat(70_000));
    let cases: [(Option<&str>, &str, u16, &str); 6] = [
        (Some("text/plain"), big.as_str(), 413, "payload_too_large"),
        (
            Some("text/plain"),
            r#"{"name":"a","email":"a@b.co"}"#,
            415,
            "unsupported_media_type",
        ),
        (
            None,
            r#"{"name":"a","email":"a@b.co"}"#,
            415,
            "unsupported_media_type",
        ),
        (Some("application/json"), "{", 400, "invalid_body"),
        (
            Some("application/json"),
            r#"{"name":"a","email":"a@b.co","x":1}"#,
            400,
            "invalid_body",
        ),
        (
            Some("application/json; charset=utf-8"),
            r#"{"name":" ","phone":"abc"}"#,
            400,
            "validation_failed",
        ),
    ];
    for (ct, body, status, code) in cases {
        let a = app.send("POST", "/customers", ct, body.to_owned()).await;
        assert_eq!((a.status.as_u16(), a.code()), (status, code), "{ct:?}");
        assert!(a.header("server-timing").is_none());
    }
    let a = app
        .send(
            "POST",
            "/customers",
            Some("application/json"),
            r#"{"name":" ","phone":"abc"}"#.to_owned(),
        )
        .await;
    assert_eq!(a.fields(), ["name", "email", "phone"]);
    // The path is checked before the body.
    let a = app
        .send("PUT", "/customers/abc", Some("text/plain"), big.clone())
        .await;
    assert_eq!(a.code(), "invalid_parameter");
}

#[sqlx::test(migrations = "../../migrations")]
async fn paths_parameters_and_methods(pool: PgPool) {
    let app = service(pool);
    let cases = [
        ("GET", "/customers/abc", 400, "invalid_parameter"),
        ("GET", "/customers/0", 400, "invalid_parameter"),
        ("GET", "/customers/-1", 400, "invalid_parameter"),
        (
            "GET",
            "/customers/9223372036854775808",
            400,
            "invalid_parameter",
        ),
        ("GET", "/customers?limit=0", 400, "invalid_parameter"),
        ("GET", "/customers?limit=", 400, "invalid_parameter"),
        ("GET", "/customers?offset=1000001", 400, "invalid_parameter"),
        ("GET", "/customers/", 404, "not_found"),
        ("GET", "/customers/1/x", 404, "not_found"),
        ("GET", "/orders", 404, "not_found"),
        ("GET", "/compute", 404, "not_found"),
        ("GET", "/customers/9223372036854775807", 404, "not_found"),
        ("PATCH", "/customers", 405, "method_not_allowed"),
        ("POST", "/customers/1", 405, "method_not_allowed"),
        ("POST", "/customers/ping", 405, "method_not_allowed"),
        ("DELETE", "/healthz", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let a = app.call(method, path).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (status, code),
            "{method} {path}"
        );
    }
    for (method, path, allow) in [
        ("PATCH", "/customers", "GET, POST"),
        ("HEAD", "/customers", "GET, POST"),
        ("POST", "/customers/1", "GET, PUT, DELETE"),
        ("HEAD", "/customers/ping", "GET"),
        ("POST", "/readyz", "GET"),
    ] {
        let a = app.call(method, path).await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert_eq!(a.header("allow"), Some(allow), "{method} {path}");
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn health_ready_and_ping(pool: PgPool) {
    let app = service(pool);
    let h = app.call("GET", "/healthz").await;
    assert_eq!(h.status, 200);
    assert_eq!(
        h.body,
        json!({"status": "ok", "service": "customer-service", "runtime": "axum"})
    );
    assert!(h.header("server-timing").is_none());
    let r = app.call("GET", "/readyz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, h.body);
    let p = app.call("GET", "/customers/ping").await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["status"], "ok");
    assert!(p.body["conn_ms"].as_f64().unwrap() >= 0.0);
    assert!(p.body["query_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(p.timing(), ["conn", "query", "ser", "total"]);
}

fn unreachable() -> PgConnectOptions {
    format!("postgres://crm:secret@127.0.0.1:{}/crm", closed_port())
        .parse()
        .unwrap()
}

#[tokio::test]
async fn without_postgres_it_starts_and_answers_503_quickly() {
    // As `main` builds it: lazy pool, migrations retrying in the background.
    let db = Db::lazy(&DbConfig {
        database_url: unreachable(),
        db_pool_max: 5,
        db_acquire_timeout_ms: 300,
    });
    let migrations = db.spawn_migrations(&axum_customer_service::MIGRATOR);
    let app = in_process(db);
    let started = Instant::now();
    let h = app.call("GET", "/healthz").await;
    assert_eq!(h.status, 200);
    for path in ["/readyz", "/customers/1", "/customers", "/customers/ping"] {
        let a = app.call("GET", path).await;
        assert_eq!(
            (a.status.as_u16(), a.code()),
            (503, "database_unavailable"),
            "{path}"
        );
    }
    let a = app
        .send_json(
            "POST",
            "/customers",
            json!({"name": "A", "email": "a@b.co"}),
        )
        .await;
    assert_eq!(a.code(), "database_unavailable");
    // Validation still comes first.
    let a = app
        .send_json("POST", "/customers", json!({"name": "A"}))
        .await;
    assert_eq!(a.code(), "validation_failed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    migrations.abort();
}

#[tokio::test]
async fn a_lost_database_is_503_after_the_acquire_timeout_never_a_hang() {
    // Migrated earlier, database gone since: the acquire itself fails, within its timeout.
    let pool = PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(300))
        .connect_lazy_with(unreachable());
    let app = service(pool);
    let started = Instant::now();
    let a = app.call("GET", "/customers/1").await;
    assert_eq!((a.status.as_u16(), a.code()), (503, "database_unavailable"));
    assert_eq!(a.timing(), ["conn", "total"]);
    let r = app.call("GET", "/readyz").await;
    assert_eq!((r.status.as_u16(), r.code()), (503, "database_unavailable"));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
