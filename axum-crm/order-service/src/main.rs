//! `axum-order-service`: `--help` lists its settings.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    axum_common::serve::main::<axum_order_service::Config>().await
}
