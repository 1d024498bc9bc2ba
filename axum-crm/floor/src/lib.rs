//! The Axum stack's runtime floor: `GET /customers/{id}` as the least an Axum + sqlx service
//! can do it (core's SELECT on a pool sized as customer-service's, the row as JSON), `GET
//! /hello` (the bare runtime hop) and `GET /healthz`. No validation beyond the id's type, no
//! contract headers or error documents, no server-timing, no logs, no metrics: the benchmark
//! reads customer-service as a fraction of this.

use std::process::ExitCode;

use axum::routing::get;
use axum::Router;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

pub mod config;
pub mod customers;

use config::Config;

/// The routes, on `pool`.
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/customers/{id}", get(customers::get))
        .route("/hello", get(hello))
        .route("/healthz", get(healthz))
        .with_state(pool)
}

/// A pool like customer-service's: lazy (the floor starts while Postgres is down), the same
/// size and acquire timeout.
pub fn pool(config: &Config) -> PgPool {
    PgPoolOptions::new()
        .max_connections(config.pool_max)
        .acquire_timeout(config::ACQUIRE_TIMEOUT)
        .connect_lazy_with(config.database.clone())
}

/// Serves until killed: `axum::serve`, the plainest HTTP/1.1 server Axum has. (SIGTERM's
/// default action ends it; there is nothing to drain that a measurement would miss.)
pub async fn serve(config: Config) -> ExitCode {
    let app = router(pool(&config));
    let listener = match tokio::net::TcpListener::bind(config.listen_addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "axum-floor: cannot listen on {}: {error}",
                config.listen_addr
            );
            return ExitCode::FAILURE;
        }
    };
    eprintln!("axum-floor: listening on {}", config.listen_addr);
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("axum-floor: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `GET /hello`: the runtime's own cost of one request, nothing else.
async fn hello() -> &'static str {
    "hello"
}

/// `GET /healthz`: for the harness's readiness polling; touches nothing.
async fn healthz() -> &'static str {
    "ok"
}
