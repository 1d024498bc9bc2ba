//! The `/healthz` and `/readyz` check run on every service of the main stack.

use crate::*;

/// Asserts the health document `{"status": "ok", "service", "runtime"}`.
#[track_caller]
pub fn assert_healthy(reply: &Received, service: Service) -> Value {
    let body = reply.expect(200);
    assert_keys(&body, &["status", "service", "runtime"]);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], service.name());
    assert_eq!(body["runtime"], expected_runtime().as_str());
    reply.assert_service(service);
    body
}

pub async fn check_healthz_and_readyz(api: Api) {
    let healthz = assert_healthy(&api.get("/healthz").await, api.role());
    let readyz = assert_healthy(&api.get("/readyz").await, api.role());
    assert_eq!(readyz, healthz, "readyz answers as healthz when ready");
}
