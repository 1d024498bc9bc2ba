//! The gateway: stateless; forwards `/customers…` and `/orders…` to their services and answers
//! `/compute`, `/healthz` and `/readyz` itself.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{any, get};
use axum::Router;
use axum_common::config::{self, ConfigError, Source};
use axum_common::serve::{contract_router, healthz, ServerConfig};
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};
use crm_core::upstream::DEFAULT_TIMEOUT_MS;

pub mod compute;
pub mod forward;

pub const SERVICE: Service = Service::Gateway;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `CUSTOMER_SERVICE_URL`, default `http://127.0.0.1:8001`.
    pub customer_service_url: String,
    /// `ORDER_SERVICE_URL`, default `http://127.0.0.1:8002`.
    pub order_service_url: String,
    /// `UPSTREAM_TIMEOUT_MS`, default `crm_core::upstream::DEFAULT_TIMEOUT_MS`.
    pub upstream_timeout: Duration,
}

impl Config {
    pub fn from_env(src: &impl Source) -> Result<Config, ConfigError> {
        Ok(Config {
            server: ServerConfig::from_env(src, "0.0.0.0:8000")?,
            customer_service_url: config::base_url(
                src,
                "CUSTOMER_SERVICE_URL",
                "http://127.0.0.1:8001",
            )?,
            order_service_url: config::base_url(src, "ORDER_SERVICE_URL", "http://127.0.0.1:8002")?,
            upstream_timeout: config::millis(src, "UPSTREAM_TIMEOUT_MS", DEFAULT_TIMEOUT_MS)?,
        })
    }
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
