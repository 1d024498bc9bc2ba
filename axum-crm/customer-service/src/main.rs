use std::process::ExitCode;

use axum_common::db::Db;
use axum_common::{config, serve};
use axum_customer_service::{app, Config, MIGRATOR, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    let config: Config = config::load();
    serve::init_tracing(&config.server);
    config.db.log_start();
    let db = Db::lazy(&config.db);
    db.spawn_migrations(&MIGRATOR);
    let code = serve::run(
        SERVICE,
        config.listen_addr,
        &config.server,
        app(db.clone(), config.server.request_timeout()),
    )
    .await;
    db.pool().close().await;
    tracing::info!("database pool closed");
    code
}
