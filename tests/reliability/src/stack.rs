//! Starting the services under test: Axum binaries natively, Spin components in the wasmtime
//! test host (`crm-spin-host`), each on its own free loopback port, configured only through
//! the environment variables they document.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::procs::{free_port, Proc};

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Axum,
    Spin,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Axum => "axum",
            Runtime::Spin => "spin",
        }
    }
}

/// Which service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Svc {
    Gateway,
    CustomerService,
    OrderService,
}

impl Svc {
    pub fn name(self) -> &'static str {
        match self {
            Svc::Gateway => "gateway",
            Svc::CustomerService => "customer-service",
            Svc::OrderService => "order-service",
        }
    }
}

/// A URL nothing answers at (port 9, discard, is never bound here).
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// One service's settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub runtime: Runtime,
    pub svc: Svc,
    pub port: u16,
    /// The database URL as for Axum; the Spin side adds `sslmode=disable` itself.
    pub database_url: String,
    pub customer_service_url: String,
    pub order_service_url: String,
    pub upstream_timeout_ms: u64,
}

impl ServiceConfig {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Starts one service and waits until its `/healthz` answers 200.
pub async fn start_service(config: &ServiceConfig) -> Proc {
    let name = format!("{}-{}", config.runtime.name(), config.svc.name());
    let cmd = match config.runtime {
        Runtime::Axum => {
            let mut cmd = Command::new(axum_bin_dir().join(format!("axum-{}", config.svc.name())));
            cmd.env("LISTEN_ADDR", format!("127.0.0.1:{}", config.port))
                .env("DATABASE_URL", &config.database_url)
                .env("CUSTOMER_SERVICE_URL", &config.customer_service_url)
                .env("ORDER_SERVICE_URL", &config.order_service_url)
                .env(
                    "UPSTREAM_TIMEOUT_MS",
                    config.upstream_timeout_ms.to_string(),
                )
                .env("RUST_LOG", "info");
            cmd
        }
        Runtime::Spin => {
            let (db_url, db_host) = spin_database(&config.database_url);
            let manifest = spin_dir().join(config.svc.name()).join("spin.toml");
            let mut cmd = Command::new(spin_host_bin());
            cmd.arg("--manifest")
                .arg(&manifest)
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", config.port))
                .env("SPIN_VARIABLE_DATABASE_URL", db_url)
                .env("SPIN_VARIABLE_DATABASE_HOST", db_host)
                .env(
                    "SPIN_VARIABLE_CUSTOMER_SERVICE_URL",
                    &config.customer_service_url,
                )
                .env("SPIN_VARIABLE_ORDER_SERVICE_URL", &config.order_service_url)
                .env(
                    "SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS",
                    config.upstream_timeout_ms.to_string(),
                )
                .env("RUST_LOG", "info");
            cmd
        }
    };
    let mut proc = Proc::spawn(&name, cmd, libc::SIGTERM);
    wait_for_200(&mut proc, &format!("{}/healthz", config.url())).await;
    proc
}

/// Starts one service and waits until its `/readyz` answers 200 too (an Axum data service
/// is live before its migrations ran, and answers 503 until then).
pub async fn start_ready(config: &ServiceConfig) -> Proc {
    let mut proc = start_service(config).await;
    wait_for_200(&mut proc, &format!("{}/readyz", config.url())).await;
    proc
}

/// Polls `url` until it answers 200 (120 s: a cold Spin host compiles its component first).
pub async fn wait_for_200(proc: &mut Proc, url: &str) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .no_proxy()
        .build()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(response) = client.get(url).send().await {
            if response.status().as_u16() == 200 {
                return;
            }
        }
        if !proc.is_running() {
            panic!(
                "{} exited before {url} answered:\n{}",
                proc.name,
                proc.log_tail(40)
            );
        }
        if Instant::now() > deadline {
            panic!(
                "{url} did not answer 200 within 120 s:\n{}",
                proc.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The main topology: customer-service, order-service and a gateway in front, on one database.
pub struct Stack {
    pub runtime: Runtime,
    pub gateway: Proc,
    pub customers: Proc,
    pub orders: Proc,
    pub gateway_url: String,
    pub customer_service: ServiceConfig,
    pub order_service: ServiceConfig,
}

impl Stack {
    /// Starts the three services (the Spin database is migrated first; Axum services migrate
    /// at start) and waits until all three are ready.
    pub async fn start(runtime: Runtime, database_url: &str, upstream_timeout_ms: u64) -> Stack {
        if runtime == Runtime::Spin {
            crate::pg::migrate(database_url).await;
        }
        let customer_service = ServiceConfig {
            runtime,
            svc: Svc::CustomerService,
            port: free_port(),
            database_url: database_url.to_string(),
            customer_service_url: NOWHERE.to_string(),
            order_service_url: NOWHERE.to_string(),
            upstream_timeout_ms,
        };
        let order_service = ServiceConfig {
            svc: Svc::OrderService,
            port: free_port(),
            customer_service_url: customer_service.url(),
            ..customer_service.clone()
        };
        let gateway_config = ServiceConfig {
            svc: Svc::Gateway,
            port: free_port(),
            customer_service_url: customer_service.url(),
            order_service_url: order_service.url(),
            ..customer_service.clone()
        };
        let mut customers = start_service(&customer_service).await;
        let mut orders = start_service(&order_service).await;
        let mut gateway = start_service(&gateway_config).await;
        wait_for_200(
            &mut customers,
            &format!("{}/readyz", customer_service.url()),
        )
        .await;
        wait_for_200(&mut orders, &format!("{}/readyz", order_service.url())).await;
        wait_for_200(&mut gateway, &format!("{}/readyz", gateway_config.url())).await;
        Stack {
            runtime,
            gateway,
            customers,
            orders,
            gateway_url: gateway_config.url(),
            customer_service,
            order_service,
        }
    }
}

/// `CRM_AXUM_BIN_DIR`: the directory with `axum-gateway`, `axum-customer-service` and
/// `axum-order-service`.
pub fn axum_bin_dir() -> PathBuf {
    let dir = PathBuf::from(crate::env_var("CRM_AXUM_BIN_DIR"));
    for svc in [Svc::Gateway, Svc::CustomerService, Svc::OrderService] {
        let bin = dir.join(format!("axum-{}", svc.name()));
        assert!(
            bin.exists(),
            "{} missing (CRM_AXUM_BIN_DIR); build with `cargo build -p axum-{}`",
            bin.display(),
            svc.name()
        );
    }
    dir
}

/// `CRM_SPIN_HOST_BIN`: the wasmtime test host.
pub fn spin_host_bin() -> PathBuf {
    let bin = PathBuf::from(crate::env_var("CRM_SPIN_HOST_BIN"));
    assert!(
        bin.exists(),
        "{} missing (CRM_SPIN_HOST_BIN); build with `cargo build -p crm-spin-host`",
        bin.display()
    );
    bin
}

/// `CRM_SPIN_DIR` (default: the repository's `spin-crm/`), holding `<service>/spin.toml` and
/// the components built by `scripts/build-wasm.sh`.
pub fn spin_dir() -> PathBuf {
    let dir = match std::env::var("CRM_SPIN_DIR") {
        Ok(dir) if !dir.trim().is_empty() => PathBuf::from(dir.trim()),
        _ => crate::repo_root().join("spin-crm"),
    };
    let wasm = dir.join("target/wasm32-wasip1/release/spin_order_service.wasm");
    assert!(
        wasm.exists(),
        "{} missing: build the components with scripts/build-wasm.sh (or set CRM_SPIN_DIR)",
        wasm.display()
    );
    dir
}

/// Spin's Postgres client wants `sslmode=disable`, and `allowed_outbound_hosts` the bare
/// `host:port`.
fn spin_database(url: &str) -> (String, String) {
    let with_ssl = if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    };
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    };
    (with_ssl, host_port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_database_urls() {
        assert_eq!(
            spin_database("postgres://postgres@127.0.0.1:5999/x"),
            (
                "postgres://postgres@127.0.0.1:5999/x?sslmode=disable".to_string(),
                "127.0.0.1:5999".to_string()
            )
        );
        assert_eq!(
            spin_database("postgres://u:p@db/x?a=b").1,
            "db:5432".to_string()
        );
    }
}
