//! order-service: the `orders` table behind the contract's `/orders` routes. Customers belong to
//! customer-service and are checked over HTTP when an order is created.

use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_common::config::{self, ConfigError, Source};
use axum_common::db::{Db, DbConfig};
use axum_common::serve::{contract_router, healthz, ServerConfig};
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};
use crm_core::upstream::DEFAULT_TIMEOUT_MS;

pub mod orders;

pub const SERVICE: Service = Service::OrderService;

/// The schema, embedded at build time and applied at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub db: DbConfig,
    /// `CUSTOMER_SERVICE_URL`, default `http://127.0.0.1:8001`.
    pub customer_service_url: String,
    /// `UPSTREAM_TIMEOUT_MS`, default `crm_core::upstream::DEFAULT_TIMEOUT_MS`.
    pub upstream_timeout: Duration,
}

impl Config {
    pub fn from_env(src: &impl Source) -> Result<Config, ConfigError> {
        Ok(Config {
            server: ServerConfig::from_env(src, "0.0.0.0:8002")?,
            db: DbConfig::from_env(src)?,
            customer_service_url: config::base_url(
                src,
                "CUSTOMER_SERVICE_URL",
                "http://127.0.0.1:8001",
            )?,
            upstream_timeout: config::millis(src, "UPSTREAM_TIMEOUT_MS", DEFAULT_TIMEOUT_MS)?,
        })
    }
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

    /// The defaults layer the timeouts: a request waits less for a database connection than its
    /// caller waits for the answer, so a database outage reaches the client as 503
    /// `database_unavailable`, not as the caller's 504 (found by tests/reliability's Postgres
    /// restart, where both were 2 s).
    #[test]
    fn database_wait_is_shorter_than_the_upstream_timeout() {
        let c = Config::from_env(&[("X", "")]).unwrap();
        assert!(c.db.pool.acquire_timeout < c.upstream_timeout);
    }
}
