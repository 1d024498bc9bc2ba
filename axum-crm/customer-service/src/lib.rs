//! customer-service: the `customers` table behind the contract's `/customers` routes.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use axum_common::admission::Admission;
use axum_common::config::ServerConfig;
use axum_common::db::{Db, DbConfig};
use axum_common::layers::LayersOff;
use axum_common::metrics::{self, MetricsAddr};
use axum_common::serve::{contract_router, App};
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};

pub mod customers;

pub const SERVICE: Service = Service::CustomerService;

/// The schema, embedded at build time and applied at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// customer-service's settings: `axum-customer-service --help` lists them with their defaults.
#[derive(clap::Parser, Clone)]
#[command(version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8001")]
    pub listen_addr: SocketAddr,
    /// Address of the admin listener serving Prometheus metrics (`GET /metrics`), apart from
    /// the API; `off` (or empty) for none. A port in use is logged, never fatal.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9001", value_parser = metrics::metrics_addr)]
    pub metrics_addr: MetricsAddr,
    #[command(flatten)]
    pub db: DbConfig,
    #[command(flatten)]
    pub server: ServerConfig,
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
        let db = Db::start(&self.db, &MIGRATOR);
        let admission = self
            .server
            .admission(self.db.default_max_concurrent_requests());
        let app = app(
            db.clone(),
            self.server.request_timeout(),
            admission,
            self.server.layers_off(),
        );
        Ok((app, Some(db)))
    }
}

/// The whole service: routes, state, and the contract's middleware. A request that hangs past
/// `request_timeout` is answered 503 `database_unavailable` (Postgres is all it waits on); a
/// request that waits past its `admission` for a turn, 503 `overloaded`.
/// `layers_off`: [`LayersOff::NONE`] but to measure a layer's cost (`CRM_BENCH_LAYERS_OFF`).
pub fn app(
    db: Db,
    request_timeout: Duration,
    admission: Admission,
    layers_off: LayersOff,
) -> Router {
    let routes = Router::new()
        .contract_route(
            Route::Customers,
            get(customers::list).post(customers::create),
        )
        .contract_route(Route::CustomerPing, get(customers::ping))
        .contract_route(
            Route::Customer,
            get(customers::get)
                .put(customers::update)
                .delete(customers::delete),
        )
        .contract_route(Route::Readyz, get(customers::readyz))
        .with_state(db);
    contract_router(
        routes,
        SERVICE,
        request_timeout,
        StatusCode::SERVICE_UNAVAILABLE,
        admission,
        layers_off,
    )
}
