//! The runtime floors (`axum-crm/floor`, `spin-crm/floor`), which the benchmark reads each
//! stack against: on a real Postgres with seeded rows, a floor must answer `GET
//! /customers/{id}` with exactly the document its runtime's real customer-service answers for
//! the same row (a phone and a NULL phone), 404 for a missing id, a bare `/hello`, and none of
//! the service's timing (`server-timing`): a floor that did less, or more, would be no floor.

use std::time::Duration;

use crm_reliability_tests::client::{client, CLIENT_TIMEOUT};
use crm_reliability_tests::floor;
use crm_reliability_tests::pg;
use crm_reliability_tests::stack::{metrics_port, start_ready, Runtime, ServiceConfig};
use crm_reliability_tests::{for_each_runtime, throwaway_database};
use serde_json::Value;

/// Seed rows: the seed gives every third customer a NULL phone, so ids 1 and 3 cover both.
const SEED_CUSTOMERS: u32 = 3;
const WITH_PHONE: i64 = 1;
const WITHOUT_PHONE: i64 = 3;
const MISSING: i64 = 900_000_000;

for_each_runtime!(floor_serves_customer_services_document =>
    floor_serves_customer_services_document, within Duration::from_secs(120));

/// One GET: status, `content-type`, whether `server-timing` was sent, the body.
struct Answer {
    status: u16,
    content_type: Option<String>,
    server_timing: bool,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

async fn get(http: &reqwest::Client, url: &str) -> Answer {
    let response = http
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type");
    let server_timing = header("server-timing").is_some();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        server_timing,
        body,
    }
}

async fn floor_serves_customer_services_document(runtime: Runtime) {
    let (_cluster, db) = throwaway_database().await;
    // Floors never migrate; the Axum service finds the schema in place (it is idempotent).
    pg::migrate(&db).await.expect("the schema");
    pg::seed(&db, SEED_CUSTOMERS, 0).await.expect("seed rows");
    let service = ServiceConfig {
        metrics_port: metrics_port(runtime).expect("a free port"),
        ..ServiceConfig::customer_service_alone(runtime, &db).expect("a free port")
    };
    let _service = start_ready(&service)
        .await
        .expect("customer-service starts");
    let floor = floor::start(runtime, &db).await.expect("the floor starts");
    let http = client(CLIENT_TIMEOUT);

    for (id, has_phone) in [(WITH_PHONE, true), (WITHOUT_PHONE, false)] {
        let real = get(&http, &format!("{}/customers/{id}", service.url())).await;
        let mine = get(&http, &format!("{}/customers/{id}", floor.url)).await;
        assert_eq!(real.status, 200, "customer-service, id {id}: {}", real.body);
        assert_eq!(mine.status, 200, "floor, id {id}: {}", mine.body);
        assert_eq!(mine.json(), real.json(), "id {id}");
        // The case is the one it claims to be.
        assert_eq!(real.json()["phone"].is_string(), has_phone, "id {id}");
        assert_eq!(mine.content_type.as_deref(), Some("application/json"));
        assert!(!mine.server_timing, "the floor sends no server-timing");
    }
    let missing = get(&http, &format!("{}/customers/{MISSING}", floor.url)).await;
    assert_eq!(missing.status, 404, "{}", missing.body);

    let hello = get(&http, &format!("{}/hello", floor.url)).await;
    assert_eq!((hello.status, hello.body.as_str()), (200, "hello"));
    assert!(!hello.server_timing);
}
