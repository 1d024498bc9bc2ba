//! order-service as a Spin component: `/orders`, `/orders/{id}`, `/healthz`, `/readyz`. Order
//! create checks the customer with customer-service (`customer_service_url`, within
//! `upstream_timeout_ms`) before writing. Rules, SQL and documents come from `crm-core`; each
//! request opens its own `pg4` connection (`database_url`).

use crm_core::http::{Route, Service, ORDER_SERVICE_ROUTES};
use crm_core::params::parse_id;
use spin_common::{db, routing};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

pub mod orders;

const SERVICE: Service = Service::OrderService;

/// The route table: core's routes, each method to its handler.
#[http_component]
fn handle(req: Request) -> Response {
    routing::serve(SERVICE, ORDER_SERVICE_ROUTES, &req, |ctx, route, id| {
        let id = || parse_id(id.unwrap_or_default());
        match (route, req.method()) {
            (Route::Orders, Method::Get) => orders::list(ctx, &req),
            (Route::Orders, Method::Post) => orders::create(ctx, &req),
            (Route::Order, Method::Get) => orders::get(ctx, id()?),
            (Route::Order, Method::Put) => orders::update(ctx, id()?, &req),
            (Route::Order, Method::Delete) => orders::delete(ctx, id()?),
            (Route::Readyz, Method::Get) => db::readyz(ctx),
            (route, _) => Err(route.not_allowed()),
        }
    })
}
