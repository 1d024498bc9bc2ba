//! order-service: the `orders` table behind the contract's `/orders` routes. Customers belong to
//! customer-service and are checked over HTTP when an order is created.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_common::config::{self, ServerConfig};
use axum_common::db::{Db, DbConfig};
use axum_common::serve::{contract_router, healthz};
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};
use crm_core::upstream::DEFAULT_TIMEOUT_MS;

pub mod orders;

pub const SERVICE: Service = Service::OrderService;

/// The schema, embedded at build time and applied at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// order-service's settings: `axum-order-service --help` lists them with their defaults.
#[derive(clap::Parser, Clone)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8002")]
    pub listen_addr: SocketAddr,
    /// customer-service's base URL, for the customer check of an order create.
    #[arg(long, env = "CUSTOMER_SERVICE_URL", default_value = "http://127.0.0.1:8001", value_parser = config::base_url)]
    pub customer_service_url: String,
    /// How long the customer check may take before the create answers 504.
    #[arg(long, env = "UPSTREAM_TIMEOUT_MS", default_value_t = DEFAULT_TIMEOUT_MS, value_parser = config::positive_ms())]
    pub upstream_timeout_ms: u64,
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub server: ServerConfig,
}

/// What the handlers share: the pool and the way to customer-service.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub http: reqwest::Client,
    pub customer_service_url: String,
}

/// The whole service: routes, state, and the contract's middleware. A request that hangs past
/// `request_timeout` is answered 503 `database_unavailable`.
pub fn app(state: AppState, request_timeout: Duration) -> Router {
    let routes = Router::new()
        .contract_route(Route::Orders, get(orders::list).post(orders::create))
        .contract_route(
            Route::Order,
            get(orders::get).put(orders::update).delete(orders::delete),
        )
        .route(Route::Healthz.pattern(), healthz(SERVICE))
        .contract_route(Route::Readyz, get(orders::readyz))
        .with_state(state);
    contract_router(
        routes,
        SERVICE,
        request_timeout,
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_setting_is_documented() {
        Config::command().debug_assert();
    }
}
