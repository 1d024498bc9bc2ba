//! The cluster's node runtime on this machine, without the cluster: a private containerd 1.7
//! (its own root, state directory and socket, the CRI plugin off; never the system's
//! containerd) and a loopback registry, both under a temporary directory, running the Spin
//! services under containerd-shim-spin (the shim SpinKube nodes run them with, Spin 3.5.0
//! inside) and the Axum services as their static `FROM scratch` images under runc, each a
//! container on a loopback port with its Kubernetes manifest's resources as cgroup limits.
//!
//! - [`Node`]: containerd and the registry, started and stopped; pushing, pulling, importing
//!   images; running and stopping containers; after a stop, nothing left (checked: [`leftovers`]).
//! - [`NodeStack`]: one stack (Spin or Axum) as three containers, the gateway reaching the
//!   services over HTTP as in Kubernetes; what `crm-bench stack RUNTIME --shape node` starts.
//! - [`resources`]: the manifests' requests and limits as cgroup settings.
//! - [`pins`]: the versions of containerd, the registry and the shim.
//! - [`memory`]: a container's memory as a cluster sees it (the cgroup's working set, what
//!   `kubectl top` shows) and as the machine does (PSS of its processes and of its shim).
//! - [`coldstart`]: first starts after a pull (image and the shim's precompiled content
//!   removed) and cached starts, each to the first 200 on a database route.
//! - [`density`]: N copies of customer-service as containers, the memory each extra one costs.
//! - [`musl`]: the images' static musl binaries run as plain processes (container vs musl).
//! - [`load`]: a short closed-loop HTTP load, for figures under load.
//!
//! Containers are started as spin-operator v0.6.1's Deployment starts a SpinApp (its
//! internal/controller/deployment.go and spinapp_controller.go): command `/`, each SpinApp
//! variable `foo` as `SPIN_VARIABLE_FOO`, `SPIN_HTTP_LISTEN_ADDR`; the Axum ones with their
//! Deployment's variables. Host networking on 127.0.0.1 stands in for the pod network. Needs
//! root (containerd, overlay mounts, cgroups).

pub mod coldstart;
pub mod density;
pub mod load;
pub mod memory;
pub mod musl;
pub mod pins;
pub mod resources;
mod stack;

pub use stack::{axum_images, service_image, service_spec, NodeStack, StackOptions};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::procs::{free_port, log_dir, Proc};
use resources::{Resources, CFS_PERIOD_US};

/// The containerd namespace prefix; each node gets `crm-node-<suffix>`.
const NAMESPACE_PREFIX: &str = "crm-node";

/// Where the private containerd's binaries and the others are.
#[derive(Clone, Debug)]
pub struct NodeTools {
    /// Holds containerd, ctr and containerd-shim-runc-v2 (Debian trixie's, unpacked).
    pub containerd_bin_dir: PathBuf,
    pub registry: PathBuf,
    /// containerd-shim-spin-v2 (absolute: `ctr run --runtime` takes a path).
    pub shim: PathBuf,
}

impl NodeTools {
    /// From the tool table (`containerd-private`, `docker-registry`, `runc`; installed when
    /// missing) and scripts/lib/shim.sh (`CRM_SHIM_BIN`, PATH, the release).
    pub fn find() -> Result<NodeTools> {
        let containerd = crate::tools::path("containerd-private")?;
        let registry = crate::tools::path("docker-registry")?;
        crate::tools::ensure("runc")?;
        let resolver = crate::repo_root().join("scripts/lib/shim.sh");
        let out = Command::new("bash")
            .arg(&resolver)
            .stderr(Stdio::inherit())
            .output()
            .with_context(|| format!("cannot run {}", resolver.display()))?;
        let shim = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || shim.is_empty() {
            bail!("no containerd-shim-spin {} (above)", pins::SHIM_VERSION);
        }
        Ok(NodeTools {
            containerd_bin_dir: containerd
                .parent()
                .context("containerd's directory")?
                .to_path_buf(),
            registry,
            shim: PathBuf::from(shim),
        })
    }
}

/// Whether this process runs as root (the node runtime needs it).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Which runtime a container runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Under {
    /// containerd-shim-spin: a Spin application image (`spin registry push`).
    Shim,
    /// runc (io.containerd.runc.v2): an OCI image.
    Runc,
}

/// One container to run.
#[derive(Clone, Debug)]
pub struct ContainerSpec {
    pub id: String,
    pub image: String,
    pub under: Under,
    pub env: Vec<(String, String)>,
    pub resources: Resources,
    pub read_only: bool,
}

/// A running (or stopped) container of the node.
#[derive(Debug)]
pub struct Container {
    pub id: String,
    /// Its cgroup, relative to each hierarchy's root (cgroup v1) or the unified root (v2).
    pub cgroup: String,
    /// Its stdout and stderr (`ctr run --log-uri file://…`).
    pub log: PathBuf,
    pub resources: Resources,
}

/// What a stop found: each container's exit code after the stop signal (or that it had to be
/// killed), and how long stopping took.
#[derive(Debug, Default)]
pub struct StopReport {
    pub exits: Vec<(String, String)>,
    pub took: Duration,
}

/// A private containerd and a loopback registry under a temporary directory.
pub struct Node {
    pub tools: NodeTools,
    /// Everything of this node: containerd's root (the image store) and state, its socket, the
    /// registry's storage, the configs. Removed by [`Node::stop`].
    pub dir: PathBuf,
    pub namespace: String,
    /// Host:port of the registry (127.0.0.1).
    pub registry: String,
    /// The cgroup parent of every container (`/crm-node-<suffix>`).
    pub cgroup_parent: String,
    containerd: Option<Proc>,
    registry_proc: Option<Proc>,
    pub containers: Vec<Container>,
    /// Directories under /run/containerd the shims create per namespace, for the cleanup.
    stopped: bool,
}

/// The cgroup parent of a node's containers: below the CPU budget's cgroup when one is
/// installed (crm-bench run: the containers on the stack's core and in its CPU counter, as the
/// process stacks are), else `/crm-node-<suffix>` at the root.
fn node_cgroup_parent(suffix: &str) -> String {
    let name = format!("crm-node-{suffix}");
    crate::budget::installed()
        .and_then(|b| b.container_parent(&name))
        .unwrap_or_else(|| format!("/{name}"))
}

impl Node {
    /// Starts containerd and the registry and waits until both answer.
    pub async fn start(tools: NodeTools) -> Result<Node> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            bail!(
                "the node runtime needs root (a private containerd: overlay mounts, cgroups); \
                 run it as root or through sudo"
            );
        }
        let suffix = crate::unique_suffix();
        let dir = std::env::temp_dir().join(format!("crm-node-{suffix}"));
        std::fs::create_dir_all(&dir)?;
        let namespace = format!("{NAMESPACE_PREFIX}-{suffix}");
        let port = free_port()?;
        let mut node = Node {
            tools,
            dir,
            namespace,
            registry: format!("127.0.0.1:{port}"),
            cgroup_parent: node_cgroup_parent(&suffix),
            containerd: None,
            registry_proc: None,
            containers: Vec::new(),
            stopped: false,
        };
        node.write_configs()?;
        let mut cmd = Command::new(node.tools.containerd_bin_dir.join("containerd"));
        cmd.arg("--config").arg(node.dir.join("containerd.toml"));
        // Its runc shim (containerd-shim-runc-v2) is found on PATH: the unpacked package's first.
        cmd.env("PATH", node.path_env());
        // Under a CPU budget (crm-bench run) containerd and the shims it starts run on the
        // stack's core and are counted with it: a node's runtime daemons are part of what a
        // container stack costs. A no-op without a budget (the test suites).
        crate::budget::confine(&mut cmd);
        node.containerd = Some(Proc::spawn("node-containerd", cmd, libc::SIGTERM)?);
        let mut cmd = Command::new(&node.tools.registry);
        cmd.arg("serve").arg(node.dir.join("registry.yml"));
        node.registry_proc = Some(Proc::spawn("node-registry", cmd, libc::SIGTERM)?);

        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = node.ctr(&["version"]).is_ok();
            let reg = crate::probe::get_status(
                &crate::probe::fresh_client(Duration::from_secs(1)),
                &format!("http://{}/v2/", node.registry),
            )
            .await
                == Some(200);
            if up && reg {
                break;
            }
            for proc in [&mut node.containerd, &mut node.registry_proc]
                .into_iter()
                .flatten()
            {
                if !proc.is_running() {
                    bail!("{} exited at start:\n{}", proc.name, proc.log_tail(20));
                }
            }
            if Instant::now() > deadline {
                bail!("containerd or the registry did not answer within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(node)
    }

    fn path_env(&self) -> String {
        let mut path = self.tools.containerd_bin_dir.display().to_string();
        if let Ok(p) = std::env::var("PATH") {
            path = format!("{path}:{p}");
        }
        path
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("containerd.sock")
    }

    fn write_configs(&self) -> Result<()> {
        let d = self.dir.display();
        let config = format!(
            "version = 2\n\
             root = \"{d}/root\"\n\
             state = \"{d}/state\"\n\
             # A private instance beside the system's: no CRI, no metrics or debug listeners.\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{d}/containerd.sock\"\n\
             [ttrpc]\n  address = \"{d}/containerd.sock.ttrpc\"\n\
             [debug]\n  address = \"\"\n  level = \"info\"\n\
             [metrics]\n  address = \"\"\n"
        );
        std::fs::write(self.dir.join("containerd.toml"), config)?;
        let registry = format!(
            "version: 0.1\n\
             log:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {d}/registry\n\
             http:\n  addr: {}\n  secret: crm-node-loopback\n",
            self.registry
        );
        std::fs::write(self.dir.join("registry.yml"), registry)?;
        Ok(())
    }

    /// Runs `ctr` against this containerd in this namespace; its stdout.
    pub fn ctr(&self, args: &[&str]) -> Result<String> {
        let out = self.ctr_command(args).output().context("cannot run ctr")?;
        if !out.status.success() {
            bail!(
                "ctr {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ctr_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.tools.containerd_bin_dir.join("ctr"));
        cmd.arg("--address")
            .arg(self.socket())
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// `spin registry push` of a manifest to the registry (plain HTTP), with `annotations`,
    /// then pulled into containerd; the image reference.
    pub fn push_spin(
        &self,
        spin: &Path,
        manifest: &Path,
        name: &str,
        annotations: &[(String, String)],
    ) -> Result<String> {
        let reference = format!("{}/crm/{name}:dev", self.registry);
        let mut cmd = Command::new(spin);
        cmd.args(["registry", "push", "--insecure", "-f"])
            .arg(manifest)
            .stdin(Stdio::null());
        for (k, v) in annotations {
            cmd.arg("--annotation").arg(format!("{k}={v}"));
        }
        cmd.arg(&reference);
        let out = cmd.output().context("cannot run spin registry push")?;
        if !out.status.success() {
            bail!(
                "spin registry push {}: {}{}",
                manifest.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        self.ctr(&["images", "pull", "--plain-http", &reference])?;
        Ok(reference)
    }

    /// `ctr images import` of a `docker save` archive; the references it holds.
    pub fn import(&self, archive: &Path) -> Result<Vec<String>> {
        let archive = archive.to_string_lossy();
        let out = self.ctr(&["images", "import", "--no-unpack=false", &archive])?;
        let _ = out;
        let listed = self.ctr(&["images", "ls", "-q"])?;
        Ok(listed.lines().map(str::to_string).collect())
    }

    /// Tags an image of the store into the loopback registry and pushes it there (plain HTTP),
    /// so that later starts can pull it as a node does; the registry reference.
    pub fn push_image(&self, local: &str, name: &str) -> Result<String> {
        let reference = format!("{}/crm/{name}:dev", self.registry);
        if local != reference {
            self.ctr(&["images", "tag", "--force", local, &reference])?;
        }
        self.ctr(&["images", "push", "--plain-http", &reference])?;
        Ok(reference)
    }

    /// `ctr images pull` from the loopback registry (unpacked, as a kubelet's pull is).
    pub fn pull(&self, reference: &str) -> Result<()> {
        self.ctr(&["images", "pull", "--plain-http", reference])?;
        Ok(())
    }

    /// Removes every image and waits for containerd's garbage collection (`--sync`), which
    /// takes the layers and the shim's precompiled content with them (runwasi keeps the
    /// latter alive only through `containerd.io/gc.ref.content.precompile.*` labels on the
    /// image's blobs); then removes any precompiled blob still there by hand. The number of
    /// precompiled blobs that survived the image removal (0 when the collector took them).
    pub fn remove_images(&self) -> Result<usize> {
        for image in self.ctr(&["images", "ls", "-q"])?.lines() {
            self.ctr(&["images", "rm", "--sync", image])?;
        }
        let left = self.precompiled_blobs()?;
        for digest in &left {
            self.ctr(&["content", "rm", digest])?;
        }
        if !self.precompiled_blobs()?.is_empty() {
            bail!("the shim's precompiled content is still in the content store");
        }
        Ok(left.len())
    }

    /// Digests of the content store's blobs the Spin shim wrote: each precompiled component
    /// carries the label `runwasi.io/precompiled/<engine>/<hash>/original` (runwasi
    /// containerd-shim-wasm v1.0.0, src/containerd/client.rs:45 and :488).
    pub fn precompiled_blobs(&self) -> Result<Vec<String>> {
        Ok(self
            .ctr(&["content", "ls"])?
            .lines()
            .skip(1)
            .filter(|l| l.contains(memory::PRECOMPILE_LABEL) && l.contains("/original="))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect())
    }

    /// Stops a container ([`Node::stop_container`]) and forgets it: its cgroup and any socket
    /// its shim left are removed now, not at the node's stop. Its exit as there.
    pub fn remove_container(&mut self, id: &str, grace: Duration) -> String {
        let exit = self.stop_container(id, grace);
        if let Some(i) = self.containers.iter().position(|c| c.id == id) {
            let c = self.containers.remove(i);
            // The shim may still be going away: its process holds the cgroup for a moment.
            let deadline = Instant::now() + Duration::from_secs(5);
            while !cgroups::procs(&c.cgroup).is_empty() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            cgroups::remove(&c.cgroup);
            let deadline = Instant::now() + Duration::from_secs(5);
            while memory::shim_pid(&self.namespace, id).is_some() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if let Some(p) = shim_socket(&self.socket(), &self.namespace, id) {
                let _ = std::fs::remove_file(p);
            }
        }
        exit
    }

    /// Starts a container and returns once its task runs (not waiting for it to serve).
    pub fn run(&mut self, spec: &ContainerSpec) -> Result<&Container> {
        let cgroup = format!("{}/{}", self.cgroup_parent, spec.id);
        let log = log_dir().join(format!("node-{}.log", spec.id));
        let r = &spec.resources;
        let mut args: Vec<String> = vec![
            "run".into(),
            "--detach".into(),
            "--net-host".into(),
            "--log-uri".into(),
            format!("file://{}", log.display()),
            "--fifo-dir".into(),
            self.dir.join("fifo").display().to_string(),
            "--cgroup".into(),
            cgroup.clone(),
            "--cpu-quota".into(),
            r.cfs_quota_us().to_string(),
            "--cpu-period".into(),
            CFS_PERIOD_US.to_string(),
            "--cpu-shares".into(),
            r.cpu_shares().to_string(),
            "--memory-limit".into(),
            r.memory_limit.to_string(),
            "--runtime".into(),
        ];
        match spec.under {
            Under::Shim => args.push(self.tools.shim.display().to_string()),
            Under::Runc => args.push("io.containerd.runc.v2".into()),
        }
        if spec.read_only {
            args.push("--read-only".into());
        }
        for (k, v) in &spec.env {
            args.push("--env".into());
            args.push(format!("{k}={v}"));
        }
        args.push(spec.image.clone());
        args.push(spec.id.clone());
        if spec.under == Under::Shim {
            // The operator's Deployment: command ["/"] (the shim ignores it).
            args.push("/".into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.ctr(&refs)?;
        let container = Container {
            id: spec.id.clone(),
            cgroup,
            log,
            resources: *r,
        };
        // No swap: memory+swap equal to memory (ctr has no flag for it).
        cgroups::set_no_swap(&container.cgroup, r.memory_limit)?;
        self.containers.push(container);
        Ok(self.containers.last().expect("just pushed"))
    }

    /// The cgroup settings of a container as the kernel has them now.
    pub fn read_back(&self, id: &str) -> Result<cgroups::Applied> {
        let c = self
            .containers
            .iter()
            .find(|c| c.id == id)
            .with_context(|| format!("no container {id}"))?;
        cgroups::read(&c.cgroup)
    }

    /// Pids of a container's task (its cgroup's processes).
    pub fn task_pid(&self, id: &str) -> Option<i32> {
        let out = self.ctr(&["tasks", "ls"]).ok()?;
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3 && f[0] == id).then(|| f[1].parse().ok())?
            })
            .next()
    }

    /// The task's status as `ctr tasks ls` says it (RUNNING, STOPPED, …); `None`: no task.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctr(&["tasks", "ls"]).ok()?;
        out.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 3 && f[0] == id).then(|| f[2].to_string())
            })
            .next()
    }

    /// Stops one container: SIGTERM, up to `grace`, then SIGKILL; deletes task and container
    /// (and its snapshot). Its exit code as `ctr tasks delete` reports it.
    pub fn stop_container(&self, id: &str, grace: Duration) -> String {
        let mut how = String::new();
        if self.task_status(id).as_deref() == Some("RUNNING") {
            let _ = self.ctr(&["tasks", "kill", "--signal", "SIGTERM", id]);
            let deadline = Instant::now() + grace;
            while self.task_status(id).as_deref() == Some("RUNNING") && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.task_status(id).as_deref() == Some("RUNNING") {
                how = " after SIGKILL (SIGTERM ignored)".to_string();
                let _ = self.ctr(&["tasks", "kill", "--signal", "SIGKILL", "--all", id]);
                let deadline = Instant::now() + Duration::from_secs(10);
                while self.task_status(id).as_deref() == Some("RUNNING")
                    && Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        // `ctr tasks delete` exits with the task's exit code.
        let code = match self.ctr_command(&["tasks", "delete", id]).output() {
            Ok(out) => match out.status.code() {
                Some(0) => "exit 0".to_string(),
                Some(n) => format!(
                    "exit {n}{}",
                    String::from_utf8_lossy(&out.stderr)
                        .lines()
                        .next()
                        .map(|l| format!(" ({})", l.trim()))
                        .unwrap_or_default()
                ),
                None => "ctr killed".to_string(),
            },
            Err(e) => format!("ctr tasks delete: {e}"),
        };
        let _ = self.ctr(&["containers", "delete", id]);
        format!("{code}{how}")
    }

    /// Stops every container, containerd and the registry, removes the cgroups, the shims'
    /// per-namespace directories and the whole temporary directory, then checks that nothing
    /// is left ([`leftovers`]): an error names what is.
    pub fn stop(&mut self, grace: Duration) -> Result<StopReport> {
        if self.stopped {
            return Ok(StopReport::default());
        }
        self.stopped = true;
        let started = Instant::now();
        let mut report = StopReport::default();
        let ids: Vec<String> = self.containers.iter().rev().map(|c| c.id.clone()).collect();
        for id in ids {
            let exit = self.stop_container(&id, grace);
            report.exits.push((id, exit));
        }
        if let Ok(images) = self.ctr(&["images", "ls", "-q"]) {
            for image in images.lines() {
                let _ = self.ctr(&["images", "rm", "--sync", image]);
            }
        }
        let _ = self.ctr(&["namespaces", "remove", &self.namespace.clone()]);
        for proc in [&mut self.containerd, &mut self.registry_proc]
            .into_iter()
            .flatten()
        {
            proc.stop(Duration::from_secs(10));
        }
        for c in &self.containers {
            cgroups::remove(&c.cgroup);
            // containerd-shim-spin exits without removing its socket now and then (its process
            // is gone: checked below); the name is this node's own.
            if let Some(p) = shim_socket(&self.socket(), &self.namespace, &c.id) {
                if p.exists() {
                    eprintln!(
                        "node: removing the socket {} the shim of {} left",
                        p.display(),
                        c.id
                    );
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        cgroups::remove(&self.cgroup_parent);
        // What the shims keep per namespace under the default state directory (runc's
        // /run/containerd/runc/<ns>, the Spin shim's /run/containerd/spin/<ns>): empty now.
        for kind in ["runc", "spin"] {
            let _ = std::fs::remove_dir(
                Path::new("/run/containerd")
                    .join(kind)
                    .join(&self.namespace),
            );
        }
        unmount_under(&self.dir);
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                eprintln!("cannot remove {}: {e}", self.dir.display());
            }
        }
        report.took = started.elapsed();
        let ids: Vec<&str> = self.containers.iter().map(|c| c.id.as_str()).collect();
        let left = leftovers(
            &self.dir,
            &self.namespace,
            &self.cgroup_parent,
            &self.socket(),
            &ids,
        );
        if !left.is_empty() {
            bail!("the node runtime left behind:\n  {}", left.join("\n  "));
        }
        Ok(report)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Err(e) = self.stop(Duration::from_secs(5)) {
            eprintln!("{e:#}");
        }
    }
}

/// Unmounts whatever is still mounted under `dir` (deepest first): a container's rootfs when
/// containerd was stopped before deleting it.
fn unmount_under(dir: &Path) {
    let mut points = mounts_under(dir);
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: a valid C string; MNT_DETACH has no other requirement.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = dir.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect()
}

/// What a node (its directory, namespace, cgroup parent and socket) left behind: processes
/// (whose command line names the directory, or in its cgroups), mounts under the directory,
/// cgroups, the shims' sockets and per-namespace state, the directory itself (the image store,
/// containerd's socket). Empty when nothing is.
pub fn leftovers(
    dir: &Path,
    namespace: &str,
    cgroup_parent: &str,
    socket: &Path,
    ids: &[&str],
) -> Vec<String> {
    let mut left = Vec::new();
    let dir_s = dir.display().to_string();
    let parent_name = cgroup_parent.trim_start_matches('/');
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid == std::process::id() as i32 {
                continue;
            }
            let cmdline = std::fs::read(e.path().join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            let cgroup = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
            if cmdline.contains(&dir_s) || cgroup.contains(&format!("/{parent_name}/")) {
                left.push(format!("process {pid}: {}", cmdline.trim()));
            }
        }
    }
    for m in mounts_under(dir) {
        left.push(format!("mount {m}"));
    }
    for c in cgroups::existing(cgroup_parent) {
        left.push(format!("cgroup {c}"));
    }
    for kind in ["runc", "spin"] {
        let p = Path::new("/run/containerd").join(kind).join(namespace);
        if p.exists() {
            left.push(format!("shim state {}", p.display()));
        }
    }
    // Each shim's socket: /run/containerd/s/<sha256 of "<address>/<namespace>/<id>"> (containerd
    // 1.7's shim.SocketAddress, which runwasi's shims follow).
    for id in ids {
        if let Some(p) = shim_socket(socket, namespace, id).filter(|p| p.exists()) {
            left.push(format!("shim socket {} ({id})", p.display()));
        }
    }
    if dir.exists() {
        left.push(format!(
            "directory {} (image store, state, socket)",
            dir.display()
        ));
    }
    left
}

/// Where containerd 1.7 (and runwasi's shims) put the socket of the shim of container `id`:
/// /run/containerd/s/<sha256 of "<containerd's address>/<namespace>/<id>">.
pub fn shim_socket(address: &Path, namespace: &str, id: &str) -> Option<PathBuf> {
    let key = format!("{}/{namespace}/{id}", address.display());
    sha256_hex(key.as_bytes()).map(|hash| Path::new("/run/containerd/s").join(hash))
}

fn sha256_hex(data: &[u8]) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(data).ok()?;
    let out = child.wait_with_output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// cgroup v1 (a hierarchy per controller) or v2 (unified), as this machine mounts them.
pub mod cgroups {
    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result};

    const ROOT: &str = "/sys/fs/cgroup";

    fn unified() -> bool {
        Path::new(ROOT).join("cgroup.controllers").exists()
    }

    fn path(controller: &str, cgroup: &str) -> PathBuf {
        let rel = cgroup.trim_start_matches('/');
        if unified() {
            Path::new(ROOT).join(rel)
        } else {
            Path::new(ROOT).join(controller).join(rel)
        }
    }

    fn read_file(controller: &str, cgroup: &str, file: &str) -> Result<String> {
        let p = path(controller, cgroup).join(file);
        Ok(std::fs::read_to_string(&p)
            .with_context(|| format!("cannot read {}", p.display()))?
            .trim()
            .to_string())
    }

    /// Memory plus swap limited to the memory limit (v1), no swap (v2).
    pub fn set_no_swap(cgroup: &str, limit: u64) -> Result<()> {
        let (p, value) = if unified() {
            (
                path("memory", cgroup).join("memory.swap.max"),
                "0".to_string(),
            )
        } else {
            (
                path("memory", cgroup).join("memory.memsw.limit_in_bytes"),
                limit.to_string(),
            )
        };
        if !p.exists() {
            // No swap accounting in this kernel: there is no swap to limit.
            return Ok(());
        }
        std::fs::write(&p, value).with_context(|| format!("cannot write {}", p.display()))
    }

    /// A container's cgroup settings and usage, read back from the kernel.
    #[derive(Debug, Clone)]
    pub struct Applied {
        pub cpu_quota_us: String,
        pub cpu_period_us: String,
        pub cpu_shares: String,
        pub memory_limit: String,
        pub memory_swap_limit: String,
        pub memory_usage: String,
    }

    pub fn read(cgroup: &str) -> Result<Applied> {
        if unified() {
            let max = read_file("cpu", cgroup, "cpu.max")?;
            let (q, p) = max.split_once(' ').unwrap_or((&max, ""));
            Ok(Applied {
                cpu_quota_us: q.to_string(),
                cpu_period_us: p.to_string(),
                cpu_shares: format!("weight {}", read_file("cpu", cgroup, "cpu.weight")?),
                memory_limit: read_file("memory", cgroup, "memory.max")?,
                memory_swap_limit: read_file("memory", cgroup, "memory.swap.max")
                    .unwrap_or_else(|_| "n/a".into()),
                memory_usage: read_file("memory", cgroup, "memory.current")?,
            })
        } else {
            Ok(Applied {
                cpu_quota_us: read_file("cpu", cgroup, "cpu.cfs_quota_us")?,
                cpu_period_us: read_file("cpu", cgroup, "cpu.cfs_period_us")?,
                cpu_shares: read_file("cpu", cgroup, "cpu.shares")?,
                memory_limit: read_file("memory", cgroup, "memory.limit_in_bytes")?,
                memory_swap_limit: read_file("memory", cgroup, "memory.memsw.limit_in_bytes")
                    .unwrap_or_else(|_| "n/a (no swap accounting)".into()),
                memory_usage: read_file("memory", cgroup, "memory.usage_in_bytes")?,
            })
        }
    }

    /// `(usage, inactive_file)` of a cgroup's memory: v1 `memory.usage_in_bytes` and
    /// `total_inactive_file` of `memory.stat` (hierarchical), v2 `memory.current` and
    /// `inactive_file`. Their difference is the working set (see [`super::memory`]).
    pub fn memory_usage(cgroup: &str) -> Result<(u64, u64)> {
        let (usage_file, key) = if unified() {
            ("memory.current", "inactive_file")
        } else {
            ("memory.usage_in_bytes", "total_inactive_file")
        };
        let usage: u64 = read_file("memory", cgroup, usage_file)?
            .parse()
            .with_context(|| format!("{usage_file} of {cgroup}"))?;
        let stat = read_file("memory", cgroup, "memory.stat")?;
        let inactive = stat
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("no {key} in memory.stat of {cgroup}"))?;
        Ok((usage, inactive))
    }

    /// The processes in a cgroup (its memory hierarchy's `cgroup.procs` on v1).
    pub fn procs(cgroup: &str) -> Vec<i32> {
        read_file("memory", cgroup, "cgroup.procs")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    fn all_paths(cgroup: &str) -> Vec<PathBuf> {
        let rel = cgroup.trim_start_matches('/');
        if rel.is_empty() {
            return Vec::new();
        }
        if unified() {
            return vec![Path::new(ROOT).join(rel)];
        }
        std::fs::read_dir(ROOT)
            .map(|d| d.flatten().map(|e| e.path().join(rel)).collect::<Vec<_>>())
            .unwrap_or_default()
    }

    /// Removes a cgroup (empty) in every hierarchy, children first.
    pub fn remove(cgroup: &str) {
        for p in all_paths(cgroup) {
            if let Ok(children) = std::fs::read_dir(&p) {
                for c in children.flatten() {
                    if c.path().is_dir() {
                        let _ = std::fs::remove_dir(c.path());
                    }
                }
            }
            let _ = std::fs::remove_dir(&p);
        }
    }

    /// Which hierarchies still have `cgroup`.
    pub fn existing(cgroup: &str) -> Vec<String> {
        all_paths(cgroup)
            .into_iter()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect()
    }
}
