//! The stacks under test on free loopback ports: Axum binaries natively, the Spin components
//! under the real Spin CLI (`spin up`), configured only through the environment variables they
//! document. Two Spin shapes: one `spin up` per service manifest talking HTTP (as Kubernetes
//! runs them; the headline) and the combined manifest (`spin-crm/spin.toml`, the services
//! chained in-process behind the gateway). Plus the fault topology the contract suite needs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::probe::wait_for_200;
use crate::procs::{free_port, log_dir, Proc};
use crate::topology::Topology;

/// Which implementation and which service: the project's one vocabulary (crm-core), with
/// clap's `ValueEnum` (crm-core's `clap` feature) for the command lines that take them.
pub use crm_core::http::{Runtime, Service};

/// How the services are deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// One process per service (one `spin up` per service manifest), talking HTTP.
    Services,
    /// Spin only: one `spin up` of `spin-crm/spin.toml`, the gateway public, the services
    /// private (`*.spin.internal`).
    Combined,
    /// One container per service on a private containerd 1.7 (Spin under containerd-shim-spin,
    /// Axum under runc, `k8s/`'s resources as cgroup limits; root): [`crate::node`] starts it,
    /// not [`Stack`].
    Node,
}

/// A URL nothing answers at (port 9, discard, is never bound here).
pub const NOWHERE: &str = "http://127.0.0.1:9";

/// The services' upstream timeout in the main topology (their own default).
pub const UPSTREAM_TIMEOUT_MS: u64 = 2000;

/// Where the programs under test are.
#[derive(Clone, Debug)]
pub struct Binaries {
    /// Holds `axum-gateway`, `axum-customer-service`, `axum-order-service` (and `axum-floor`).
    pub axum_dir: PathBuf,
    /// The Spin CLI (3.5.1; `scripts/lib/spin.sh` prints its path).
    pub spin: Option<PathBuf>,
    /// `spin-crm/`: `<service>/spin.toml`, `spin.toml` and the built components.
    pub spin_dir: PathBuf,
}

static BINARIES: OnceLock<Binaries> = OnceLock::new();

impl Binaries {
    /// From the environment: `CRM_AXUM_BIN_DIR` (default `$CARGO_TARGET_DIR/debug`, else
    /// `target/debug`), `CRM_SPIN_BIN`, `CRM_SPIN_DIR` (default the repository's `spin-crm/`).
    pub fn from_env() -> Binaries {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let target = var("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::repo_root().join("target"));
        Binaries {
            axum_dir: var("CRM_AXUM_BIN_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| target.join("debug")),
            spin: var("CRM_SPIN_BIN").map(PathBuf::from),
            spin_dir: var("CRM_SPIN_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| crate::repo_root().join("spin-crm")),
        }
    }

    /// Makes these the binaries every later start uses (first call wins; without a call,
    /// [`Binaries::from_env`]).
    pub fn install(self) {
        let _ = BINARIES.set(self);
    }

    pub fn current() -> &'static Binaries {
        BINARIES.get_or_init(Binaries::from_env)
    }

    /// Fails, saying how to build it, when something `runtime` needs is missing.
    pub fn check(&self, runtime: Runtime) -> Result<()> {
        match runtime {
            Runtime::Axum => {
                for svc in [
                    Service::Gateway,
                    Service::CustomerService,
                    Service::OrderService,
                ] {
                    let bin = self.axum_dir.join(format!("axum-{}", svc.as_str()));
                    if !bin.exists() {
                        bail!(
                            "{} missing: build with `cargo build -p axum-{}` (or point \
                             CRM_AXUM_BIN_DIR at the binaries)",
                            bin.display(),
                            svc.as_str()
                        );
                    }
                }
            }
            Runtime::Spin => {
                self.check_spin_cli()?;
                let wasm = self
                    .spin_dir
                    .join("target/wasm32-wasip1/release/spin_order_service.wasm");
                if !wasm.exists() {
                    bail!(
                        "{} missing: build the components with scripts/build-wasm.sh",
                        wasm.display()
                    );
                }
            }
        }
        Ok(())
    }

    /// The Spin CLI is set and exists.
    pub(crate) fn check_spin_cli(&self) -> Result<()> {
        let spin = self.spin()?;
        if !spin.exists() {
            bail!("{} missing (CRM_SPIN_BIN)", spin.display());
        }
        Ok(())
    }

    fn spin(&self) -> Result<&PathBuf> {
        self.spin.as_ref().context(
            "no Spin CLI: set CRM_SPIN_BIN (scripts/lib/spin.sh finds or installs Spin 3.5.1)",
        )
    }
}

/// One service's settings.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub runtime: Runtime,
    pub svc: Service,
    pub port: u16,
    /// The database URL as for Axum; the Spin side gets it in parts (see [`spin_database`]).
    pub database_url: String,
    pub customer_service_url: String,
    pub order_service_url: String,
    pub upstream_timeout_ms: u64,
    /// Axum only: the port of its admin listener (`METRICS_ADDR`, `GET /metrics`). `None`: a
    /// free port is picked at spawn and not kept. Never the services' default (9000…9002):
    /// many processes run side by side here.
    pub metrics_port: Option<u16>,
}

impl ServiceConfig {
    /// customer-service on its own on a free port, on `database_url`: it calls no upstream,
    /// so its upstream URLs point [`NOWHERE`]; no kept metrics port. The shape of every
    /// single-service measurement (density's copies, the middleware layers, the floors' twin).
    pub fn customer_service_alone(runtime: Runtime, database_url: &str) -> Result<ServiceConfig> {
        Ok(ServiceConfig {
            runtime,
            svc: Service::CustomerService,
            port: free_port()?,
            database_url: database_url.to_string(),
            customer_service_url: NOWHERE.to_string(),
            order_service_url: NOWHERE.to_string(),
            upstream_timeout_ms: UPSTREAM_TIMEOUT_MS,
            metrics_port: None,
        })
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where its metrics are scraped (Axum, with a kept port).
    pub fn metrics_url(&self) -> Option<String> {
        (self.runtime == Runtime::Axum)
            .then_some(self.metrics_port)
            .flatten()
            .map(|port| format!("http://127.0.0.1:{port}/metrics"))
    }

    /// A process name for logs: `<runtime>-<service>`, or `<runtime>-<role>-<service>`.
    fn proc_name(&self, role: &str) -> String {
        let role = if role.is_empty() {
            String::new()
        } else {
            format!("{role}-")
        };
        format!("{}-{role}{}", self.runtime.as_str(), self.svc.as_str())
    }
}

/// `spin up` of `manifest` on `port`, with its own state directory (several instances of one
/// manifest run side by side; nothing is written into the source tree) and the component
/// output in our log. The Spin CLI is [`Binaries::current`]'s.
pub fn spin_up(manifest: PathBuf, port: u16, name: &str) -> Result<Command> {
    let bins = Binaries::current();
    let state_dir = log_dir().join(format!("{name}-{port}.state"));
    let mut cmd = Command::new(bins.spin()?);
    cmd.arg("up")
        .arg("--from")
        .arg(manifest)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--log-dir")
        .arg("");
    Ok(cmd)
}

/// [`spin_up`] with what every Spin service gets: the database variables (see
/// [`spin_database`]) and the log level. For a manifest of the caller's own (the density
/// measurement's copies); [`spawn_service`] starts the project's.
pub fn spin_up_on_database(
    manifest: PathBuf,
    port: u16,
    name: &str,
    database_url: &str,
) -> Result<Command> {
    let mut cmd = spin_up(manifest, port, name)?;
    cmd.envs(spin_database(database_url)?)
        .env("RUST_LOG", rust_log());
    Ok(cmd)
}

/// Starts one service and returns at once (no waiting: cold-start timing starts here).
pub fn spawn_service(config: &ServiceConfig, role: &str) -> Result<Proc> {
    spawn_service_with_env(config, role, &[])
}

/// [`spawn_service`] with `env` set on top of the service's own settings (see [`ExtraEnv`]).
pub fn spawn_service_with_env(config: &ServiceConfig, role: &str, env: ExtraEnv) -> Result<Proc> {
    let name = config.proc_name(role);
    let bins = Binaries::current();
    let mut cmd = match config.runtime {
        Runtime::Axum => {
            let mut cmd = Command::new(bins.axum_dir.join(format!("axum-{}", config.svc.as_str())));
            cmd.env("LISTEN_ADDR", format!("127.0.0.1:{}", config.port))
                .env("DATABASE_URL", &config.database_url)
                .env("CUSTOMER_SERVICE_URL", &config.customer_service_url)
                .env("ORDER_SERVICE_URL", &config.order_service_url)
                .env(
                    "UPSTREAM_TIMEOUT_MS",
                    config.upstream_timeout_ms.to_string(),
                );
            let metrics_port = match config.metrics_port {
                Some(port) => port,
                None => free_port()?,
            };
            cmd.env("METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
                .env("RUST_LOG", rust_log());
            cmd
        }
        Runtime::Spin => {
            let manifest = bins.spin_dir.join(config.svc.as_str()).join("spin.toml");
            let mut cmd = spin_up_on_database(manifest, config.port, &name, &config.database_url)?;
            cmd.env(
                "SPIN_VARIABLE_CUSTOMER_SERVICE_URL",
                &config.customer_service_url,
            )
            .env("SPIN_VARIABLE_ORDER_SERVICE_URL", &config.order_service_url)
            .env(
                "SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS",
                config.upstream_timeout_ms.to_string(),
            );
            cmd
        }
    };
    cmd.envs(env.iter().cloned());
    crate::budget::confine(&mut cmd);
    Proc::spawn(&name, cmd, libc::SIGTERM)
}

/// Variables every process a stack starts gets on top of its own settings, e.g. where to send
/// traces (`OTEL_EXPORTER_OTLP_ENDPOINT`, read by both runtimes). Without them the processes
/// inherit the caller's environment, `OTEL_*` included; these are for a caller (a test) that
/// needs its own per stack.
pub type ExtraEnv<'a> = &'a [(String, String)];

/// The services' log level: `RUST_LOG` as set, else `info`.
fn rust_log() -> String {
    std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string())
}

/// How long a service may take to answer its first health check (a Spin host compiles its
/// component first when wasmtime's cache is cold).
pub const START_LIMIT: Duration = Duration::from_secs(120);

/// Starts one service and waits until its `/healthz` answers 200.
pub async fn start_service(config: &ServiceConfig) -> Result<Proc> {
    let mut proc = spawn_service(config, "")?;
    wait_for_200(
        &format!("{}/healthz", config.url()),
        START_LIMIT,
        Some(&mut proc),
    )
    .await?;
    Ok(proc)
}

/// Starts one service and waits until its `/readyz` answers 200 too (an Axum data service
/// is live before its migrations ran, and answers 503 until then).
pub async fn start_ready(config: &ServiceConfig) -> Result<Proc> {
    let mut proc = start_service(config).await?;
    wait_for_200(
        &format!("{}/readyz", config.url()),
        START_LIMIT,
        Some(&mut proc),
    )
    .await?;
    Ok(proc)
}

/// The main topology, running: customer-service, order-service and a gateway in front, on one
/// database; in the combined shape one process serving all three behind the gateway.
pub struct Stack {
    pub runtime: Runtime,
    pub shape: Shape,
    /// `(service, process)`; the combined shape has one entry, named gateway.
    pub procs: Vec<(Service, Proc)>,
    pub gateway_url: String,
    /// The data services' own settings (the services shape only: the combined shape keeps
    /// them private).
    pub customer_service: Option<ServiceConfig>,
    pub order_service: Option<ServiceConfig>,
    /// The gateway's settings (the services shape).
    pub gateway: Option<ServiceConfig>,
}

impl Stack {
    /// Starts every process of the stack and returns at once, nothing waited for. The Spin
    /// database must already have the schema ([`crate::pg::migrate`]); Axum migrates at start.
    pub fn spawn(
        runtime: Runtime,
        shape: Shape,
        database_url: &str,
        upstream_timeout_ms: u64,
    ) -> Result<Stack> {
        Stack::spawn_with_env(runtime, shape, database_url, upstream_timeout_ms, &[])
    }

    /// [`Stack::spawn`] with `env` set on every process (see [`ExtraEnv`]).
    pub fn spawn_with_env(
        runtime: Runtime,
        shape: Shape,
        database_url: &str,
        upstream_timeout_ms: u64,
        env: ExtraEnv,
    ) -> Result<Stack> {
        if shape == Shape::Node {
            bail!("the node shape runs on crm_harness::node (NodeStack), not as processes");
        }
        Binaries::current().check(runtime)?;
        if shape == Shape::Combined {
            if runtime != Runtime::Spin {
                bail!("the combined shape is Spin's (spin-crm/spin.toml); Axum runs as services");
            }
            let port = free_port()?;
            let manifest = Binaries::current().spin_dir.join("spin.toml");
            let mut cmd = spin_up(manifest, port, "spin-combined")?;
            cmd.envs(spin_database(database_url)?)
                .env("RUST_LOG", rust_log())
                .envs(env.iter().cloned());
            crate::budget::confine(&mut cmd);
            let proc = Proc::spawn("spin-combined", cmd, libc::SIGTERM)?;
            return Ok(Stack {
                runtime,
                shape,
                procs: vec![(Service::Gateway, proc)],
                gateway_url: format!("http://127.0.0.1:{port}"),
                customer_service: None,
                order_service: None,
                gateway: None,
            });
        }
        Topology::new(runtime, database_url)
            .upstream_timeout_ms(upstream_timeout_ms)
            .env(env)
            .spawn()
    }

    /// Waits until every service answers `/healthz`, then `/readyz` (the data services have
    /// their database, the gateway its upstreams).
    pub async fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let urls = self.service_urls();
        for path in ["healthz", "readyz"] {
            for (i, url) in urls.iter().enumerate() {
                let proc = &mut self.procs[i].1;
                wait_for_200(&format!("{url}/{path}"), limit, Some(proc)).await?;
            }
        }
        Ok(())
    }

    /// Spawns and waits until ready.
    pub async fn start(
        runtime: Runtime,
        shape: Shape,
        database_url: &str,
        upstream_timeout_ms: u64,
    ) -> Result<Stack> {
        Stack::start_with_env(runtime, shape, database_url, upstream_timeout_ms, &[]).await
    }

    /// [`Stack::start`] with `env` set on every process (see [`ExtraEnv`]).
    pub async fn start_with_env(
        runtime: Runtime,
        shape: Shape,
        database_url: &str,
        upstream_timeout_ms: u64,
        env: ExtraEnv<'_>,
    ) -> Result<Stack> {
        if runtime == Runtime::Spin {
            crate::pg::migrate(database_url).await?;
        }
        let mut stack =
            Stack::spawn_with_env(runtime, shape, database_url, upstream_timeout_ms, env)?;
        stack.wait_ready(START_LIMIT).await?;
        Ok(stack)
    }

    /// The base URL of each process, in `procs` order.
    fn service_urls(&self) -> Vec<String> {
        self.procs
            .iter()
            .map(|(svc, _)| {
                match svc {
                    Service::Gateway => Some(self.gateway_url.clone()),
                    Service::CustomerService => {
                        self.customer_service.as_ref().map(ServiceConfig::url)
                    }
                    Service::OrderService => self.order_service.as_ref().map(ServiceConfig::url),
                }
                .unwrap_or_default()
            })
            .collect()
    }

    /// `(service name, pid)` of each process, for sampling.
    pub fn pids(&self) -> Vec<(String, i32)> {
        self.procs
            .iter()
            .map(|(svc, proc)| {
                let name = match self.shape {
                    Shape::Combined => "spin".to_string(),
                    Shape::Services | Shape::Node => svc.as_str().to_string(),
                };
                (name, proc.pid())
            })
            .collect()
    }

    /// Where `svc`'s metrics are scraped (Axum only: Spin has no such endpoint; see
    /// docs/observability.md).
    pub fn metrics_url(&self, svc: Service) -> Option<String> {
        match svc {
            Service::Gateway => self.gateway.as_ref(),
            Service::CustomerService => self.customer_service.as_ref(),
            Service::OrderService => self.order_service.as_ref(),
        }
        .and_then(ServiceConfig::metrics_url)
    }

    /// The process of `svc` (services shape).
    pub fn proc_mut(&mut self, svc: Service) -> Option<&mut Proc> {
        self.procs
            .iter_mut()
            .find(|(s, _)| *s == svc)
            .map(|(_, p)| p)
    }

    /// The contract suite's variables for this stack: the gateway always, the data services
    /// in the services shape (the combined shape keeps them private: the suite then runs its
    /// gateway selection).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("CRM_RUNTIME".to_string(), self.runtime.as_str().to_string()),
            ("CRM_BASE_URL".to_string(), self.gateway_url.clone()),
        ];
        if let (Some(cs), Some(os)) = (&self.customer_service, &self.order_service) {
            env.push(("CRM_CUSTOMER_SERVICE_URL".to_string(), cs.url()));
            env.push(("CRM_ORDER_SERVICE_URL".to_string(), os.url()));
        }
        env
    }

    /// Stops every process (the stop signal, then SIGKILL after `grace`).
    pub fn stop(&mut self, grace: Duration) {
        for (_, proc) in self.procs.iter_mut().rev() {
            proc.stop(grace);
        }
    }
}

/// A free port for an Axum service's admin listener, kept in its [`ServiceConfig`]; none for
/// Spin.
pub fn metrics_port(runtime: Runtime) -> Result<Option<u16>> {
    match runtime {
        Runtime::Axum => Ok(Some(free_port()?)),
        Runtime::Spin => Ok(None),
    }
}

/// The database variables of the Spin manifests, from one database URL: the manifests build
/// the URL from these parts, because `database_host` is also their allowed outbound host.
/// `sslmode` defaults to `disable` (Spin's Postgres client insists on TLS otherwise).
pub fn spin_database(url: &str) -> Result<Vec<(&'static str, String)>> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("database URL {url}"))?;
    let sslmode = parsed
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map_or_else(|| "disable".to_string(), |(_, v)| v.into_owned());
    Ok(vec![
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
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(url: &str) -> Vec<String> {
        spin_database(url)
            .unwrap()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
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
        assert!(spin_database("not a url").is_err());
    }
}
