use std::process::ExitCode;

use axum_common::config::ProcessEnv;
use axum_common::db::Db;
use axum_common::{serve, upstream};
use axum_order_service::{app, AppState, Config, MIGRATOR, SERVICE};

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
        database = %config.db.redacted_url,
        pool_max = config.db.pool.max_connections,
        acquire_timeout_ms = config.db.pool.acquire_timeout.as_millis() as u64,
        customer_service_url = %config.customer_service_url,
        upstream_timeout_ms = config.upstream_timeout.as_millis() as u64,
        "starting"
    );
    let db = Db::lazy(config.db.options.clone(), config.db.pool);
    db.spawn_migrations(&MIGRATOR);
    let state = AppState {
        db: db.clone(),
        http,
        customer_service_url: config.customer_service_url.clone(),
    };
    let code = serve::run(
        SERVICE,
        &config.server,
        app(state, config.server.request_timeout),
    )
    .await;
    db.pool().close().await;
    tracing::info!("database pool closed");
    code
}
