//! `axum-customer-service`: `--help` lists its settings.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    axum_common::serve::main::<axum_customer_service::Config>().await
}
