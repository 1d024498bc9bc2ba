//! The gateway: stateless; forwards `/customers…` and `/orders…` to their services and answers
//! `/compute`, `/healthz` and `/readyz` itself.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{any, get};
use axum::Router;
use axum_common::admission::{Admission, GATEWAY_DEFAULT_MAX_CONCURRENT_REQUESTS};
use axum_common::config::{self, ServerConfig};
use axum_common::db::Db;
use axum_common::layers::LayersOff;
use axum_common::metrics::{self, MetricsAddr};
use axum_common::serve::{contract_router, App};
use axum_common::upstream::UpstreamConfig;
use axum_common::ContractRoutes;
use crm_core::http::{Route, Service};
use crm_core::upstream::FORWARDED;

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
    /// Address of the admin listener serving Prometheus metrics (`GET /metrics`), apart from
    /// the API; `off` (or empty) for none. A port in use is logged, never fatal.
    #[arg(long, env = "METRICS_ADDR", default_value = "0.0.0.0:9000", value_parser = metrics::metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// customer-service's base URL.
    #[arg(long, env = "CUSTOMER_SERVICE_URL", default_value = "http://127.0.0.1:8001", value_parser = config::base_url)]
    pub customer_service_url: String,
    /// order-service's base URL.
    #[arg(long, env = "ORDER_SERVICE_URL", default_value = "http://127.0.0.1:8002", value_parser = config::base_url)]
    pub order_service_url: String,
    // `UPSTREAM_TIMEOUT_MS`: how long a forwarded request may take.
    #[command(flatten)]
    pub upstream: UpstreamConfig,
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

impl AppState {
    /// Where `service` listens.
    pub fn base_url(&self, service: Service) -> &str {
        match service {
            Service::CustomerService => &self.customer_service_url,
            Service::OrderService => &self.order_service_url,
            Service::Gateway => unreachable!("the gateway forwards to the services only"),
        }
    }
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
        tracing::info!(
            customer_service_url = %self.customer_service_url,
            order_service_url = %self.order_service_url,
            "upstreams"
        );
        let state = AppState {
            http: self.upstream.client()?,
            customer_service_url: self.customer_service_url.clone(),
            order_service_url: self.order_service_url.clone(),
        };
        let admission = self
            .server
            .admission(GATEWAY_DEFAULT_MAX_CONCURRENT_REQUESTS);
        Ok((
            app(
                state,
                self.server.request_timeout(),
                admission,
                self.server.layers_off(),
            ),
            None,
        ))
    }
}

/// The whole gateway. A request that hangs past `request_timeout` is answered 504
/// `upstream_timeout` (an upstream is all it waits on).
/// `layers_off`: [`LayersOff::NONE`] but to measure a layer's cost (`CRM_BENCH_LAYERS_OFF`).
pub fn app(
    state: AppState,
    request_timeout: Duration,
    admission: Admission,
    layers_off: LayersOff,
) -> Router {
    let mut routes = Router::new()
        .contract_route(Route::Compute, get(compute::compute))
        .contract_route(Route::Readyz, get(forward::readyz));
    for (collection, _) in FORWARDED {
        let collection = collection.pattern();
        routes = routes
            .route(collection, any(forward::forward))
            .route(&format!("{collection}/{{*rest}}"), any(forward::forward));
    }
    let routes = routes.with_state(state);
    contract_router(
        routes,
        SERVICE,
        request_timeout,
        StatusCode::GATEWAY_TIMEOUT,
        admission,
        layers_off,
    )
}
