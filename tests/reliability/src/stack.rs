//! Starting the services under test: Axum binaries natively, Spin components under the real
//! Spin CLI (`spin up`, one per service manifest, as Kubernetes runs them), each on its own free
//! loopback port, configured only through the environment variables they document.

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
            let manifest = spin_dir().join(config.svc.name()).join("spin.toml");
            // Its own state directory: several instances of one manifest run side by side,
            // and nothing is written into the source tree. Component output goes to our log.
            let state_dir = crate::procs::log_dir().join(format!("{name}-{}.state", config.port));
            let mut cmd = Command::new(spin_bin());
            cmd.arg("up")
                .arg("--from")
                .arg(&manifest)
                .arg("--listen")
                .arg(format!("127.0.0.1:{}", config.port))
                .arg("--state-dir")
                .arg(&state_dir)
                .arg("--log-dir")
                .arg("")
                .envs(spin_database(&config.database_url))
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

/// `CRM_SPIN_BIN`: the Spin CLI (3.5.1; `scripts/lib/spin.sh` prints its path).
pub fn spin_bin() -> PathBuf {
    let bin = PathBuf::from(crate::env_var("CRM_SPIN_BIN"));
    assert!(
        bin.exists(),
        "{} missing (CRM_SPIN_BIN); `scripts/lib/spin.sh` finds or installs Spin 3.5.1",
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

/// The database variables of the Spin manifests, from one database URL: the manifests build
/// the URL from these parts, because `database_host` is also their allowed outbound host.
/// `sslmode` defaults to `disable` (Spin's Postgres client insists on TLS otherwise).
fn spin_database(url: &str) -> Vec<(&'static str, String)> {
    let parsed = reqwest::Url::parse(url).unwrap_or_else(|e| panic!("database URL {url}: {e}"));
    let sslmode = parsed
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map_or_else(|| "disable".to_string(), |(_, v)| v.into_owned());
    vec![
        (
            "SPIN_VARIABLE_DATABASE_HOST",
            format!(
                "{}:{}",
                parsed.host_str().unwrap_or("127.0.0.1"),
                parsed.port().unwrap_or(5432)
            ),
        ),
        (
            "SPIN_VARIABLE_DATABASE_NAME",
            parsed.path().trim_start_matches('/').to_string(),
        ),
        ("SPIN_VARIABLE_DATABASE_USER", parsed.username().to_string()),
        (
            "SPIN_VARIABLE_DATABASE_PASSWORD",
            parsed.password().unwrap_or_default().to_string(),
        ),
        ("SPIN_VARIABLE_DATABASE_SSLMODE", sslmode),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(url: &str) -> Vec<String> {
        spin_database(url).into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn spin_database_variables() {
        assert_eq!(
            values("postgres://postgres@127.0.0.1:5999/x"),
            ["127.0.0.1:5999", "x", "postgres", "", "disable"]
        );
        assert_eq!(
            values("postgres://u:p%40ss@db/x?a=b&sslmode=require"),
            ["db:5432", "x", "u", "p%40ss", "require"]
        );
    }
}
