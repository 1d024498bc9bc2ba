use std::process::ExitCode;

use axum_common::config::ProcessEnv;
use axum_common::db::Db;
use axum_common::serve;
use axum_customer_service::{app, Config, MIGRATOR, SERVICE};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match serve::config_or_exit(SERVICE, Config::from_env(&ProcessEnv)) {
        Ok(config) => config,
        Err(code) => return code,
    };
    serve::init_tracing(&config.server);
    tracing::info!(
        database = %config.db.redacted_url,
        pool_max = config.db.pool.max_connections,
        acquire_timeout_ms = config.db.pool.acquire_timeout.as_millis() as u64,
        "starting"
    );
    let db = Db::lazy(config.db.options.clone(), config.db.pool);
    db.spawn_migrations(&MIGRATOR);
    let code = serve::run(
        SERVICE,
        &config.server,
        app(db.clone(), config.server.request_timeout),
    )
    .await;
    db.pool().close().await;
    tracing::info!("database pool closed");
    code
}
