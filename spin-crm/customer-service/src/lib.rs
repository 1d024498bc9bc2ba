//! customer-service as a Spin component: `/customers`, `/customers/ping`, `/customers/{id}`,
//! `/healthz`, `/readyz`. Rules, SQL and documents come from `crm-core`; each request opens its
//! own `pg4` connection (`database_url`).

use crm_core::http::{Route, Service, CUSTOMER_SERVICE_ROUTES};
use crm_core::params::parse_id;
use spin_common::{db, routing};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

pub mod customers;

const SERVICE: Service = Service::CustomerService;

/// The route table: core's routes, each method to its handler.
#[http_component]
fn handle(req: Request) -> Response {
    routing::serve(SERVICE, CUSTOMER_SERVICE_ROUTES, &req, |ctx, route, id| {
        let id = || parse_id(id.unwrap_or_default());
        match (route, req.method()) {
            (Route::Customers, Method::Get) => customers::list(ctx, &req),
            (Route::Customers, Method::Post) => customers::create(ctx, &req),
            (Route::CustomerPing, Method::Get) => customers::ping(ctx),
            (Route::Customer, Method::Get) => customers::get(ctx, id()?),
            (Route::Customer, Method::Put) => customers::update(ctx, id()?, &req),
            (Route::Customer, Method::Delete) => customers::delete(ctx, id()?),
            (Route::Readyz, Method::Get) => db::readyz(ctx),
            (route, _) => Err(route.not_allowed()),
        }
    })
}
