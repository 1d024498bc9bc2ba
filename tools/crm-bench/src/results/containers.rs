//! `containers.json`: the container shape's own figures, measured on the node runtime
//! (crm-bench containers, and the container shape step of crm-bench run): cold starts after a
//! pull and cached, memory as a cluster sees it (working set) and as PSS with the shims,
//! density, and the Axum musl binary as a process beside the glibc one. Every size in bytes,
//! every time in milliseconds. summary.json carries it whole under `containers`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// containers.json.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Containers {
    pub quick: bool,
    /// containerd, the shim, the Spin inside it; the cgroup version.
    pub versions: Vec<(String, String)>,
    pub probe: String,
    pub cold_start: Vec<ColdStartSeries>,
    pub memory: Vec<MemoryFigures>,
    pub density: Vec<DensitySeries>,
    pub processes: Vec<ProcessVariant>,
    /// How to read the figures.
    pub notes: Vec<String>,
}

/// One column's starts of one kind.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ColdStartSeries {
    /// `spin-shim` or `axum-container`.
    pub column: String,
    /// `after_pull` or `cached`.
    pub kind: String,
    pub first_200_ms: Vec<f64>,
    pub first_200: Spread,
    /// The pull before each start after a pull (not in `first_200_ms`).
    pub pull_ms: Vec<f64>,
    /// Precompiled blobs in the store after each start (Spin: 1 once compiled; runc: 0).
    pub precompiled_blobs_after: Vec<usize>,
    /// Precompiled blobs the image removal left and that were removed by hand (expected 0).
    pub precompiled_blobs_left_by_gc: usize,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Spread {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
}

/// One container's memory, idle or at the peak of a load.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct MemoryFigures {
    pub column: String,
    /// `idle` or `load`.
    pub state: String,
    pub working_set: u64,
    pub cgroup_usage: u64,
    pub cgroup_inactive_file: u64,
    pub cgroup_pss: u64,
    /// The shim's PSS when outside the cgroup (what `working_set` leaves out).
    pub shim_pss_outside_cgroup: u64,
    pub pss_with_shim: u64,
    pub shim_in_cgroup: bool,
    pub processes: Vec<ProcessFigures>,
    /// The load's 200s per second (state `load`).
    pub load_ok_per_s: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ProcessFigures {
    pub pid: i32,
    pub name: String,
    /// `cgroup` or `shim (outside the cgroup)`.
    pub place: String,
    pub rss: u64,
    pub pss: u64,
    pub anon: u64,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct DensitySeries {
    pub column: String,
    pub points: Vec<DensityFigures>,
    /// (total at the largest N − total at N = 1) / (largest N − 1).
    pub per_extra_copy: PerCopy,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct DensityFigures {
    pub n: usize,
    pub all_up_ms: f64,
    pub working_set: u64,
    pub cgroup_pss: u64,
    pub shims_pss: u64,
    pub pss_with_shims: u64,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct PerCopy {
    pub working_set: f64,
    pub pss_without_shims: f64,
    pub pss_with_shims: f64,
}

/// customer-service as a plain process, from one build.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ProcessVariant {
    /// `axum-glibc-process` or `axum-musl-process`.
    pub name: String,
    pub binary: String,
    /// `static|dynamic; <compilers in .comment>`.
    pub built_by: String,
    pub round: usize,
    pub idle_rss: u64,
    pub idle_pss: u64,
    pub load_ok_per_s: f64,
    pub load_peak_rss: u64,
    pub load_peak_pss: u64,
}
