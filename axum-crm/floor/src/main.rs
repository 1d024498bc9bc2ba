//! `axum-floor`: settings from `LISTEN_ADDR`, `DATABASE_URL`, `DB_POOL_MAX` (see README.md).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match axum_floor::config::Config::from_env() {
        Ok(config) => axum_floor::serve(config).await,
        Err(error) => {
            eprintln!("axum-floor: {error}");
            ExitCode::from(2)
        }
    }
}
