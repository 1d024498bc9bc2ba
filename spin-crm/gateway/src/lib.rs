//! The gateway as a Spin component: forwards `/customers…` to customer-service and `/orders…` to
//! order-service (`customer_service_url`, `order_service_url`, each call within
//! `upstream_timeout_ms`), answers `/compute`, `/healthz` and `/readyz` itself. What passes
//! through and what is replaced is `crm_core::upstream::gateway_verdict`.

use crm_core::http::{Route, Service, GATEWAY_ROUTES};
use crm_core::upstream::forwarded_to;
use spin_common::routing;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

pub mod compute;
pub mod forward;

const SERVICE: Service = Service::Gateway;

/// The route table: everything under the two collections is the services' to judge (404s and
/// 405s included), so it is forwarded before any routing of the gateway's own.
#[http_component]
fn handle(req: Request) -> Response {
    if let Some(upstream) = forwarded_to(req.path()) {
        return forward::forward(&req, upstream);
    }
    routing::serve(SERVICE, GATEWAY_ROUTES, &req, |ctx, route, _| {
        match (route, req.method()) {
            (Route::Compute, Method::Get) => compute::compute(ctx, &req),
            (Route::Readyz, Method::Get) => Ok(forward::readyz(ctx)),
            (route, _) => Err(route.not_allowed()),
        }
    })
}
