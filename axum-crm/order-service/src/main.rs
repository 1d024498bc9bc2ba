use std::process::ExitCode;
use std::time::Duration;

use axum_common::db::Db;
use axum_common::{config, serve, upstream};
use axum_order_service::{app, AppState, Config, MIGRATOR, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    let config: Config = config::load();
    serve::init_tracing(&config.server);
    let http = match upstream::client(Duration::from_millis(config.upstream_timeout_ms)) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot build the HTTP client");
            return ExitCode::FAILURE;
        }
    };
    config.db.log_start();
    tracing::info!(
        customer_service_url = %config.customer_service_url,
        upstream_timeout_ms = config.upstream_timeout_ms,
        "starting"
    );
    let db = Db::lazy(&config.db);
    db.spawn_migrations(&MIGRATOR);
    let state = AppState {
        db: db.clone(),
        http,
        customer_service_url: config.customer_service_url.clone(),
    };
    let code = serve::run(
        SERVICE,
        config.listen_addr,
        &config.server,
        app(state, config.server.request_timeout()),
    )
    .await;
    db.pool().close().await;
    tracing::info!("database pool closed");
    code
}
