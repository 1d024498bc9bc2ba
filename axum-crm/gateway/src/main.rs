use std::process::ExitCode;

use axum_common::config::ProcessEnv;
use axum_common::{serve, upstream};
use axum_gateway::{app, AppState, Config, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match serve::config_or_exit(SERVICE, Config::from_env(&ProcessEnv)) {
        Ok(config) => config,
        Err(code) => return code,
    };
    serve::init_tracing(&config.server);
    let http = match upstream::client(config.upstream_timeout) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        customer_service_url = %config.customer_service_url,
        order_service_url = %config.order_service_url,
        upstream_timeout_ms = config.upstream_timeout.as_millis() as u64,
        "starting"
    );
    let state = AppState {
        http,
        customer_service_url: config.customer_service_url.clone(),
        order_service_url: config.order_service_url.clone(),
    };
    serve::run(
        SERVICE,
        &config.server,
        app(state, config.server.request_timeout),
    )
    .await
}
