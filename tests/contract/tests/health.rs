//! `/healthz` (never touches a dependency) and `/readyz` (answers as healthz when the
//! dependencies answer) of all three services of the main stack.

use crm_contract_tests::checks::health::*;
use crm_contract_tests::*;

for_each_target!(healthz_and_readyz_report_ok => check_healthz_and_readyz: gateway);

#[tokio::test]
async fn healthz_ignores_query_strings() {
    let api = Api::gateway();
    assert_healthy(&api.get("/healthz?verbose=1").await, Service::Gateway);
}
