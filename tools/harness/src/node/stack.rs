//! One stack as containers of a [`Node`]: customer-service, order-service and the gateway on
//! free loopback ports, the gateway reaching the services over HTTP (as Kubernetes Services),
//! Spin under the shim from the per-service artifacts `spin registry push` made (annotated as
//! setup-all.sh annotates them), Axum under runc from the static scratch images the compose
//! stage builds (scripts/build-axum-images.sh, shared and cached).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{cgroups, resources, ContainerSpec, Node, NodeTools, StopReport, Under};
use crate::probe::{fresh_client, get_status};
use crate::procs::free_port;
use crate::stack::{spin_database, Runtime, Service, START_LIMIT};

const SERVICES: [Service; 3] = [
    Service::CustomerService,
    Service::OrderService,
    Service::Gateway,
];

/// A running stack on the node runtime.
pub struct NodeStack {
    pub runtime: Runtime,
    pub node: Node,
    pub gateway_url: String,
    pub customer_service_url: String,
    pub order_service_url: String,
    /// Each service's time from `ctr run` to its first `/healthz` 200.
    pub first_200: Vec<(Service, Duration)>,
}

/// `org.opencontainers.image.created` as setup-all.sh sets it (scripts/lib/cluster.sh,
/// push_spin): the commit time of the last commit touching the Spin apps' inputs (spin-crm,
/// core), so an unchanged app keeps its digest.
pub fn spin_created_annotation() -> Result<(String, String)> {
    let root = crate::repo_root();
    let epoch = Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["log", "-1", "--format=%ct", "--", "spin-crm", "core"])
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "0".to_string());
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .context("cannot run date")?;
    Ok((
        "org.opencontainers.image.created".to_string(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

/// The Axum images: scripts/build-axum-images.sh's folder (`CRM_AXUM_IMAGES` when set, else
/// the script run now: it builds nothing when the compose stage already did).
pub fn axum_images() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("CRM_AXUM_IMAGES") {
        if !dir.trim().is_empty() {
            return Ok(PathBuf::from(dir.trim()));
        }
    }
    let script = crate::repo_root().join("scripts/build-axum-images.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", script.display()))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        bail!("scripts/build-axum-images.sh failed (above)");
    }
    Ok(PathBuf::from(dir))
}

/// What [`NodeStack::start_with`] may change from the main topology.
#[derive(Clone, Debug, Default)]
pub struct StackOptions {
    /// The URL order-service and the gateway reach customer-service at instead of its
    /// container (a test's stub on 127.0.0.1: the containers share the host's network).
    pub customer_service_at: Option<String>,
}

/// The image of `svc` for `runtime` in `node`'s store: Spin's pushed to the loopback registry
/// by `spin registry push` and pulled; Axum's imported from `axum_images`
/// (scripts/build-axum-images.sh's folder). Its reference.
pub fn service_image(
    node: &Node,
    runtime: Runtime,
    svc: Service,
    spin: Option<&Path>,
    axum_images: Option<&Path>,
) -> Result<String> {
    match runtime {
        Runtime::Spin => {
            let spin = spin.context("the Spin CLI is needed to push the artifacts")?;
            let annotation = spin_created_annotation()?;
            let spin_dir = crate::stack::Binaries::current().spin_dir.clone();
            let manifest = spin_dir.join(svc.as_str()).join("spin.toml");
            node.push_spin(
                spin,
                &manifest,
                &format!("spin-{}", svc.as_str()),
                std::slice::from_ref(&annotation),
            )
        }
        Runtime::Axum => {
            let dir = axum_images.context("the Axum images' folder")?;
            let archive = dir.join(format!("axum-{}.tar", svc.as_str()));
            node.import(&archive)?;
            Ok(format!("docker.io/crm-ci/axum-{}:prebuilt", svc.as_str()))
        }
    }
}

/// One service's container as spin-operator's Deployment (Spin) or the k8s/containers
/// Deployment (Axum) runs it: its variables, the manifest's resources, Axum's read-only root.
#[allow(clippy::too_many_arguments)]
pub fn service_spec(
    runtime: Runtime,
    svc: Service,
    id: &str,
    image: &str,
    listen: &str,
    database_url: &str,
    upstreams: (&str, &str),
    upstream_timeout_ms: u64,
) -> Result<ContainerSpec> {
    let (customer, order) = upstreams;
    let rust_log = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_string());
    let mut env: Vec<(String, String)> = Vec::new();
    let under = match runtime {
        Runtime::Spin => {
            // As spin-operator's ConstructEnvForApp: SPIN_VARIABLE_<NAME>, then the listen
            // address.
            for (k, v) in spin_database(database_url)? {
                env.push((k.to_string(), v));
            }
            env.push(("SPIN_VARIABLE_CUSTOMER_SERVICE_URL".into(), customer.into()));
            env.push(("SPIN_VARIABLE_ORDER_SERVICE_URL".into(), order.into()));
            env.push((
                "SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS".into(),
                upstream_timeout_ms.to_string(),
            ));
            env.push(("SPIN_HTTP_LISTEN_ADDR".into(), listen.into()));
            Under::Shim
        }
        Runtime::Axum => {
            env.push(("LISTEN_ADDR".into(), listen.into()));
            env.push(("METRICS_ADDR".into(), format!("127.0.0.1:{}", free_port()?)));
            env.push(("DATABASE_URL".into(), database_url.to_string()));
            env.push(("CUSTOMER_SERVICE_URL".into(), customer.into()));
            env.push(("ORDER_SERVICE_URL".into(), order.into()));
            env.push((
                "UPSTREAM_TIMEOUT_MS".into(),
                upstream_timeout_ms.to_string(),
            ));
            Under::Runc
        }
    };
    env.push(("RUST_LOG".into(), rust_log));
    Ok(ContainerSpec {
        id: id.to_string(),
        image: image.to_string(),
        under,
        env,
        resources: resources::of(runtime, svc)?,
        // The Deployments' readOnlyRootFilesystem (a Spin app has no root filesystem).
        read_only: runtime == Runtime::Axum,
    })
}

impl NodeStack {
    /// Starts the node runtime and `runtime`'s three services on it, on `database_url`, and
    /// waits until each answers `/healthz` and `/readyz`. `spin`: the Spin CLI (3.5.1) that
    /// pushes the artifacts (Spin only).
    pub async fn start(
        runtime: Runtime,
        database_url: &str,
        spin: Option<&Path>,
        upstream_timeout_ms: u64,
    ) -> Result<NodeStack> {
        let options = StackOptions::default();
        NodeStack::start_with(runtime, database_url, spin, upstream_timeout_ms, &options).await
    }

    /// [`NodeStack::start`] with [`StackOptions`].
    pub async fn start_with(
        runtime: Runtime,
        database_url: &str,
        spin: Option<&Path>,
        upstream_timeout_ms: u64,
        options: &StackOptions,
    ) -> Result<NodeStack> {
        let axum_images = match runtime {
            Runtime::Axum => Some(axum_images()?),
            Runtime::Spin => None,
        };
        if runtime == Runtime::Spin {
            crate::pg::migrate(database_url).await?;
        }
        let tools = NodeTools::find()?;
        let mut node = Node::start(tools).await?;
        let mut images = Vec::new();
        for svc in SERVICES {
            images.push(service_image(
                &node,
                runtime,
                svc,
                spin,
                axum_images.as_deref(),
            )?);
        }

        let ports: Vec<u16> = SERVICES
            .iter()
            .map(|_| free_port())
            .collect::<Result<_>>()?;
        let url = |i: usize| format!("http://127.0.0.1:{}", ports[i]);
        let (cs_url, os_url, gw_url) = (url(0), url(1), url(2));
        let cs_target = options
            .customer_service_at
            .clone()
            .unwrap_or_else(|| cs_url.clone());
        let mut first_200 = Vec::new();
        for (i, svc) in SERVICES.into_iter().enumerate() {
            let nowhere = crate::stack::NOWHERE;
            let upstreams = match svc {
                Service::CustomerService => (nowhere, nowhere),
                Service::OrderService => (cs_target.as_str(), nowhere),
                Service::Gateway => (cs_target.as_str(), os_url.as_str()),
            };
            let spec = service_spec(
                runtime,
                svc,
                &format!("{}-{}", runtime.as_str(), svc.as_str()),
                &images[i],
                &format!("127.0.0.1:{}", ports[i]),
                database_url,
                upstreams,
                upstream_timeout_ms,
            )?;
            let t0 = Instant::now();
            node.run(&spec)?;
            let took = wait_200(&node, &spec.id, &format!("{}/healthz", url(i)), t0).await?;
            first_200.push((svc, took));
        }
        for i in 0..SERVICES.len() {
            wait_200(&node, "", &format!("{}/readyz", url(i)), Instant::now()).await?;
        }
        Ok(NodeStack {
            runtime,
            node,
            gateway_url: gw_url,
            customer_service_url: cs_url,
            order_service_url: os_url,
            first_200,
        })
    }

    /// The contract suite's variables (as [`crate::stack::Stack::env`]).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("CRM_RUNTIME".to_string(), self.runtime.as_str().to_string()),
            ("CRM_BASE_URL".to_string(), self.gateway_url.clone()),
            (
                "CRM_CUSTOMER_SERVICE_URL".to_string(),
                self.customer_service_url.clone(),
            ),
            (
                "CRM_ORDER_SERVICE_URL".to_string(),
                self.order_service_url.clone(),
            ),
        ]
    }

    /// One line per container: its cgroup settings as the kernel has them, against the
    /// manifest's.
    pub fn describe_cgroups(&self) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        for c in &self.node.containers {
            let a: cgroups::Applied = self.node.read_back(&c.id)?;
            let r = c.resources;
            lines.push(format!(
                "{}: cpu quota {}/{} us (want {}/{}), shares {} (want {}), memory limit {} (want {}), memory+swap {} (want {}), using {} bytes",
                c.id,
                a.cpu_quota_us,
                a.cpu_period_us,
                r.cfs_quota_us(),
                super::CFS_PERIOD_US,
                a.cpu_shares,
                r.cpu_shares(),
                a.memory_limit,
                r.memory_limit,
                a.memory_swap_limit,
                r.memory_limit,
                a.memory_usage,
            ));
        }
        Ok(lines)
    }

    /// Fails naming every container whose cgroup differs from its manifest's resources.
    pub fn check_cgroups(&self) -> Result<()> {
        let mut wrong = Vec::new();
        for c in &self.node.containers {
            let a = self.node.read_back(&c.id)?;
            let r = c.resources;
            let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
            let checks = if unified {
                vec![
                    (
                        "cpu quota",
                        a.cpu_quota_us.clone(),
                        r.cfs_quota_us().to_string(),
                    ),
                    (
                        "memory.max",
                        a.memory_limit.clone(),
                        r.memory_limit.to_string(),
                    ),
                ]
            } else {
                vec![
                    (
                        "cpu.cfs_quota_us",
                        a.cpu_quota_us.clone(),
                        r.cfs_quota_us().to_string(),
                    ),
                    (
                        "cpu.cfs_period_us",
                        a.cpu_period_us.clone(),
                        super::CFS_PERIOD_US.to_string(),
                    ),
                    (
                        "cpu.shares",
                        a.cpu_shares.clone(),
                        r.cpu_shares().to_string(),
                    ),
                    (
                        "memory.limit_in_bytes",
                        a.memory_limit.clone(),
                        r.memory_limit.to_string(),
                    ),
                ]
            };
            for (what, got, want) in checks {
                if got != want {
                    wrong.push(format!("{} {what} = {got}, want {want}", c.id));
                }
            }
            if !unified
                && !a.memory_swap_limit.starts_with("n/a")
                && a.memory_swap_limit != r.memory_limit.to_string()
            {
                wrong.push(format!(
                    "{} memory.memsw.limit_in_bytes = {}, want {}",
                    c.id, a.memory_swap_limit, r.memory_limit
                ));
            }
        }
        if !wrong.is_empty() {
            bail!(
                "cgroup settings differ from k8s/:\n  {}",
                wrong.join("\n  ")
            );
        }
        Ok(())
    }

    /// Every process a service's container involves, per service, as
    /// [`crate::stack::Stack::pids`] names them: its `containerd-shim-*` (outside the
    /// container's cgroup, yet the node pays for it) and the task below it. A task the shim
    /// is not the ancestor of is listed apart (`<service> task`), so nothing is left out.
    pub fn pids(&self) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for c in &self.node.containers {
            let svc =
                c.id.strip_prefix(&format!("{}-", self.runtime.as_str()))
                    .unwrap_or(&c.id)
                    .to_string();
            let shim = super::memory::shim_pid(&self.node.namespace, &c.id);
            let task = self.node.task_pid(&c.id);
            let below =
                |shim: i32, task: i32| crate::procfs::with_descendants(shim).contains(&task);
            match (shim, task) {
                (Some(shim), Some(task)) if below(shim, task) => out.push((svc, shim)),
                (shim, task) => {
                    if let Some(task) = task {
                        out.push((format!("{svc} task"), task));
                    }
                    if let Some(shim) = shim {
                        out.push((svc, shim));
                    }
                }
            }
        }
        out
    }

    /// Stops everything; an error when anything is left behind.
    pub fn stop(&mut self, grace: Duration) -> Result<StopReport> {
        self.node.stop(grace)
    }
}

/// Waits for a 200 from `url`; fails early with the container's log when its task is gone.
pub(crate) async fn wait_200(node: &Node, id: &str, url: &str, t0: Instant) -> Result<Duration> {
    let client = fresh_client(Duration::from_secs(2));
    loop {
        if get_status(&client, url).await == Some(200) {
            return Ok(t0.elapsed());
        }
        if !id.is_empty() && node.task_status(id).as_deref() != Some("RUNNING") {
            bail!(
                "{id} exited before serving {url}:\n{}",
                container_log(node, id)
            );
        }
        if t0.elapsed() > START_LIMIT {
            bail!(
                "{url} did not answer 200 within {START_LIMIT:?}:\n{}",
                container_log(node, id)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn container_log(node: &Node, id: &str) -> String {
    node.containers
        .iter()
        .find(|c| c.id == id)
        .and_then(|c| std::fs::read_to_string(&c.log).ok())
        .map(|t| {
            t.lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}
