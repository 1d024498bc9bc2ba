//! The gateway: stateless; forwards `/customers…` and `/orders…` to their services and answers
//! `/compute`, `/healthz` and `/readyz` itself.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{any, get};
use axum::Router;
use axum_common::config::{self, ServerConfig};
use axum_common::serve::{contract_router, healthz};
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};
use crm_core::upstream::DEFAULT_TIMEOUT_MS;

pub mod compute;
pub mod forward;

pub const SERVICE: Service = Service::Gateway;

/// The gateway's settings: `axum-gateway --help` lists them with their defaults.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,
    /// customer-service's base URL.
    #[arg(long, env = "CUSTOMER_SERVICE_URL", default_value = "http://127.0.0.1:8001", value_parser = config::base_url)]
    pub customer_service_url: String,
    /// order-service's base URL.
    #[arg(long, env = "ORDER_SERVICE_URL", default_value = "http://127.0.0.1:8002", value_parser = config::base_url)]
    pub order_service_url: String,
    /// How long a forwarded request may take, answer included, before the gateway answers 504.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = config::positive_ms())]
    pub upstream_timeout_ms: u64,
    #[command(flatten)]
    pub server: ServerConfig,
}

/// The two upstreams and the client that reaches them.
#[derive(Debug, Clone)]
pub struct AppState {
    pub http: reqwest::Client,
    pub customer_service_url: String,
    pub order_service_url: String,
}

/// The whole gateway. A request that hangs past `request_timeout` is answered 504
/// `upstream_timeout` (an upstream is all it waits on).
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    let routes = Router::new()
        .route(Route::Customers.pattern(), any(forward::customers))
        .route("/customers/{*rest}", any(forward::customers))
        .route(Route::Orders.pattern(), any(forward::orders))
        .route("/orders/{*rest}", any(forward::orders))
        .contract_route(Route::Compute, get(compute::compute))
        .route(Route::Healthz.pattern(), healthz(SERVICE))
        .contract_route(Route::Readyz, get(forward::readyz))
        .with_state(state);
    contract_router(
        routes,
        SERVICE,
        request_timeout,
        StatusCode::GATEWAY_TIMEOUT,
    )
}
