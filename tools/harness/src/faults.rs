//! The fault topology the contract suite's error cases run against, beside the main one:
//! upstreams that refuse (a port nobody listens on) or hang (accept, never answer), and data
//! services whose database does not answer. Each process is a real service of the runtime
//! under test with different settings; the hanging upstream lives in this process.

use std::time::Duration;

use anyhow::Result;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::probe::wait_for_200;
use crate::procs::{free_port, Proc};
use crate::stack::{metrics_port, spawn_service, Runtime, Service, ServiceConfig, START_LIMIT};

/// The upstream timeout of the fault services: short, so a hang costs the suite little.
pub const FAULT_TIMEOUT_MS: u64 = 500;

/// An upstream that accepts connections, reads what it is sent and never answers.
pub struct HangServer {
    pub url: String,
    task: JoinHandle<()>,
}

impl HangServer {
    pub async fn start() -> Result<HangServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut sink = [0u8; 4096];
                    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        });
        Ok(HangServer { url, task })
    }
}

impl Drop for HangServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running fault topology.
pub struct Faults {
    procs: Vec<(String, String, Proc)>,
    _hang: HangServer,
    timeout_ms: u64,
}

impl Faults {
    /// Starts the six fault services of `runtime` against `database_url` and waits until each
    /// answers `/healthz`.
    pub async fn start(runtime: Runtime, database_url: &str) -> Result<Faults> {
        let timeout_ms = std::env::var("CRM_FAULT_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(FAULT_TIMEOUT_MS);
        let hang = HangServer::start().await?;
        let dead = format!("http://127.0.0.1:{}", free_port()?);
        let dead_db = format!("postgres://crm:crm@127.0.0.1:{}/crm", free_port()?);
        let base = |svc, db: &str, customers: &str, orders: &str| -> Result<ServiceConfig> {
            Ok(ServiceConfig {
                runtime,
                svc,
                port: free_port()?,
                database_url: db.to_string(),
                customer_service_url: customers.to_string(),
                order_service_url: orders.to_string(),
                upstream_timeout_ms: timeout_ms,
                metrics_port: metrics_port(runtime)?,
            })
        };
        let nodb_customers = base(Service::CustomerService, &dead_db, &dead, &dead)?;
        // Its customer check reaches the database-less customer-service: a 5xx upstream.
        let nodb_orders = base(
            Service::OrderService,
            &dead_db,
            &nodb_customers.url(),
            &dead,
        )?;
        let configs = [
            (
                "CRM_FAULT_GATEWAY_URL",
                "fault",
                base(Service::Gateway, database_url, &dead, &hang.url)?,
            ),
            (
                "CRM_FAULT_ORDER_SERVICE_URL",
                "fault",
                base(Service::OrderService, database_url, &dead, &dead)?,
            ),
            (
                "CRM_HANG_ORDER_SERVICE_URL",
                "hang",
                base(Service::OrderService, database_url, &hang.url, &dead)?,
            ),
            // A gateway in front of the two: upstreams alive, their database not.
            (
                "CRM_NODB_GATEWAY_URL",
                "nodb",
                base(
                    Service::Gateway,
                    &dead_db,
                    &nodb_customers.url(),
                    &nodb_orders.url(),
                )?,
            ),
            ("CRM_NODB_CUSTOMER_SERVICE_URL", "nodb", nodb_customers),
            ("CRM_NODB_ORDER_SERVICE_URL", "nodb", nodb_orders),
        ];
        let mut procs = Vec::new();
        for (var, role, config) in &configs {
            procs.push((var.to_string(), config.url(), spawn_service(config, role)?));
        }
        for (_, url, proc) in &mut procs {
            wait_for_200(&format!("{url}/healthz"), START_LIMIT, Some(proc)).await?;
        }
        Ok(Faults {
            procs,
            _hang: hang,
            timeout_ms,
        })
    }

    /// The contract suite's variables for the fault cases.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .procs
            .iter()
            .map(|(var, url, _)| (var.clone(), url.clone()))
            .collect();
        env.push((
            "CRM_FAULT_TIMEOUT_MS".to_string(),
            self.timeout_ms.to_string(),
        ));
        env
    }

    pub fn stop(&mut self, grace: Duration) {
        for (_, _, proc) in &mut self.procs {
            proc.stop(grace);
        }
    }
}
