//! A container's memory, measured alike for every runtime, two ways:
//!
//! - as a cluster sees it: the container cgroup's **working set**, what `kubectl top` and the
//!   kubelet's eviction report: usage minus inactive file pages (cAdvisor's `setMemoryStats`,
//!   google/cadvisor container/libcontainer/handler.go: v1 `memory.usage_in_bytes` −
//!   `total_inactive_file`, v2 `memory.current` − `inactive_file`);
//! - as the machine pays for it: the **PSS** (`/proc/<pid>/smaps_rollup`) of every process
//!   in the cgroup plus the container's `containerd-shim-*` process. containerd starts the
//!   shim before the container's cgroup exists and the shim stays outside it (runc's shim
//!   always; containerd-shim-spin's main process too, its Wasm host runs in a child it moves
//!   into the cgroup): the cgroup figure leaves the shim out, so it is reported beside it.
//!
//! Each per-process figure comes with the process's name, so what is counted is visible.

use std::path::Path;

use anyhow::{Context, Result};

use super::{cgroups, Node};

/// The label prefix runwasi (containerd-shim-wasm v1.0.0, the shim's) puts on the content it
/// precompiled: src/containerd/client.rs:45 `PRECOMPILE_PREFIX`.
pub const PRECOMPILE_LABEL: &str = "runwasi.io/precompiled/";

/// One process's memory at one instant.
#[derive(Clone, Debug, Default)]
pub struct ProcMemory {
    pub pid: i32,
    /// Its `comm` (e.g. `service`, `containerd-shim-spin-v2`).
    pub name: String,
    pub rss_bytes: u64,
    pub pss_bytes: u64,
    pub anon_bytes: u64,
}

/// One container's memory at one instant.
#[derive(Clone, Debug, Default)]
pub struct ContainerMemory {
    pub id: String,
    /// The cgroup's working set (usage − inactive file): what `kubectl top` shows.
    pub working_set_bytes: u64,
    /// The cgroup's usage (page cache included).
    pub usage_bytes: u64,
    pub inactive_file_bytes: u64,
    /// The processes in the container's cgroup.
    pub in_cgroup: Vec<ProcMemory>,
    /// The container's shim process, outside the cgroup (`None`: not found).
    pub shim: Option<ProcMemory>,
    /// Whether the shim process is itself in the cgroup (then it is counted there too).
    pub shim_in_cgroup: bool,
}

impl ContainerMemory {
    /// PSS of the cgroup's processes.
    pub fn cgroup_pss(&self) -> u64 {
        self.in_cgroup.iter().map(|p| p.pss_bytes).sum()
    }

    /// PSS of the cgroup's processes and the shim (the shim once).
    pub fn pss_with_shim(&self) -> u64 {
        self.cgroup_pss()
            + match (&self.shim, self.shim_in_cgroup) {
                (Some(shim), false) => shim.pss_bytes,
                _ => 0,
            }
    }

    /// The shim's PSS when it is outside the cgroup (what the working set leaves out).
    pub fn shim_outside_pss(&self) -> u64 {
        match (&self.shim, self.shim_in_cgroup) {
            (Some(shim), false) => shim.pss_bytes,
            _ => 0,
        }
    }
}

/// `Rss:`, `Pss:` and `Anonymous:` of `/proc/<pid>/smaps_rollup`, and `comm`.
pub fn process(pid: i32) -> Option<ProcMemory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    };
    Some(ProcMemory {
        pid,
        name: std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        rss_bytes: field("Rss:")?,
        pss_bytes: field("Pss:")?,
        anon_bytes: field("Anonymous:")?,
    })
}

/// The pid of the long-running shim of container `id` in `namespace`: the process started as
/// `containerd-shim-… -namespace <ns> -id <id> -address …` (containerd 1.7's shim command
/// line; runwasi's shims take the same flags).
pub fn shim_pid(namespace: &str, id: &str) -> Option<i32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_shim = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("containerd-shim"));
        let flag = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map(String::as_str)
        };
        // The `start` invocation exits at once; the daemon it spawns has no `start`.
        if is_shim
            && flag("-namespace") == Some(namespace)
            && flag("-id") == Some(id)
            && !args.iter().any(|a| a == "start")
        {
            return Some(pid);
        }
    }
    None
}

impl Node {
    /// The memory of container `id` now (see the module's comment).
    pub fn memory(&self, id: &str) -> Result<ContainerMemory> {
        let c = self
            .containers
            .iter()
            .find(|c| c.id == id)
            .with_context(|| format!("no container {id}"))?;
        let (usage, inactive) = cgroups::memory_usage(&c.cgroup)?;
        let pids = cgroups::procs(&c.cgroup);
        let in_cgroup: Vec<ProcMemory> = pids.iter().filter_map(|p| process(*p)).collect();
        let shim_pid = shim_pid(&self.namespace, id);
        Ok(ContainerMemory {
            id: id.to_string(),
            working_set_bytes: usage.saturating_sub(inactive),
            usage_bytes: usage,
            inactive_file_bytes: inactive,
            in_cgroup,
            shim: shim_pid.and_then(process),
            shim_in_cgroup: shim_pid.is_some_and(|p| pids.contains(&p)),
        })
    }
}
