//! `/healthz` (never touches a dependency) and `/readyz` (answers as healthz when the
//! dependencies answer) of all three services of the main stack.

use crm_contract_tests::*;

/// Asserts the health document `{"status": "ok", "service", "runtime"}`.
#[track_caller]
fn assert_healthy(reply: &Received, service: Service) -> Value {
    let body = reply.expect(200);
    assert_keys(&body, &["status", "service", "runtime"]);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], service.name());
    assert_eq!(body["runtime"], expected_runtime().as_str());
    reply.assert_service(service);
    body
}

async fn check_healthz_and_readyz(api: Api) {
    let healthz = assert_healthy(&api.get("/healthz").await, api.role());
    let readyz = assert_healthy(&api.get("/readyz").await, api.role());
    assert_eq!(readyz, healthz, "readyz answers as healthz when ready");
}

for_each_target!(healthz_and_readyz_report_ok => check_healthz_and_readyz: gateway, customer_service, order_service);

#[tokio::test]
async fn healthz_ignores_query_strings() {
    let api = Api::gateway();
    assert_healthy(&api.get("/healthz?verbose=1").await, Service::Gateway);
}
