use std::process::ExitCode;
use std::time::Duration;

use axum_common::{config, serve, upstream};
use axum_gateway::{app, AppState, Config, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    let config: Config = config::load();
    serve::init_tracing(&config.server);
    let upstream_timeout = Duration::from_millis(config.upstream_timeout_ms);
    let http = match upstream::client(upstream_timeout) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        customer_service_url = %config.customer_service_url,
        order_service_url = %config.order_service_url,
        upstream_timeout_ms = config.upstream_timeout_ms,
        "starting"
    );
    let state = AppState {
        http,
        customer_service_url: config.customer_service_url.clone(),
        order_service_url: config.order_service_url.clone(),
    };
    serve::run(
        SERVICE,
        config.listen_addr,
        &config.server,
        app(state, config.server.request_timeout()),
    )
    .await
}
