//! order-service: the `orders` table behind the contract's `/orders` routes. Customers belong to
//! customer-service and are checked over HTTP when an order is created.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_common::admission::Admission;
use axum_common::config::{self, ServerConfig};
use axum_common::db::{Db, DbConfig};
use axum_common::layers::LayersOff;
use axum_common::metrics::{self, MetricsAddr};
use axum_common::serve::{contract_router, App};
use axum_common::upstream::UpstreamConfig;
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};

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
    /// Address of the admin listener serving Prometheus metrics (`GET /metrics`), apart from
    /// the API; `off` (or empty) for none. A port in use is logged, never fatal.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9002", value_parser = metrics::metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// customer-service's base URL, for the customer check of an order create.
    #[arg(long, env = "CUSTOMER_SERVICE_URL", default_value = "http://127.0.0.1:8001", value_parser = config::base_url)]
    pub customer_service_url: String,
    // `UPSTREAM_TIMEOUT_MS`: how long the customer check of an order create may take.
    #[command(flatten)]
    pub upstream: UpstreamConfig,
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

impl App for Config {
    const SERVICE: Service = SERVICE;

    fn server(&self) -> (SocketAddr, &ServerConfig) {
        (self.listen_addr, &self.server)
    }

    fn metrics_addr(&self) -> MetricsAddr {
        self.metrics_addr
    }

    fn start(&self) -> Result<(Router, Option<Db>), String> {
        tracing::info!(customer_service_url = %self.customer_service_url, "upstream");
        let db = Db::start(&self.db, &MIGRATOR);
        let state = AppState {
            db: db.clone(),
            http: self.upstream.client()?,
            customer_service_url: self.customer_service_url.clone(),
        };
        let admission = self
            .server
            .admission(self.db.default_max_concurrent_requests());
        Ok((
            app(
                state,
                self.server.request_timeout(),
                admission,
                self.server.layers_off(),
            ),
            Some(db),
        ))
    }
}

/// The whole service: routes, state, and the contract's middleware. A request that hangs past
/// `request_timeout` is answered 503 `database_unavailable`; one that waits past its
/// `admission` for a turn, 503 `overloaded`.
/// `layers_off`: [`LayersOff::NONE`] but to measure a layer's cost (`CRM_BENCH_LAYERS_OFF`).
pub fn app(
    state: AppState,
    request_timeout: Duration,
    admission: Admission,
    layers_off: LayersOff,
) -> Router {
    let routes = Router::new()
        .contract_route(Route::Orders, get(orders::list).post(orders::create))
        .contract_route(
            Route::Order,
            get(orders::get).put(orders::update).delete(orders::delete),
        )
        .contract_route(Route::Readyz, get(orders::readyz))
        .with_state(state);
    contract_router(
        routes,
        SERVICE,
        request_timeout,
        StatusCode::SERVICE_UNAVAILABLE,
        admission,
        layers_off,
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
