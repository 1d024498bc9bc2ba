//! The results format: `summary.json` and the per-stack result files it is built from
//! (`coldstart.json`, `resources.json`, `availability.json`, `artifacts.json`, `compute.json`).
//! One set of serde types for every writer (`crm-bench run`, `crm-bench collect`, the k3d
//! scripts through `crm-bench parse`/`cluster`) and for the report; `crm-bench schema` derives
//! docs/results.schema.json from them, docs/results-schema.md says what the figures mean.
//!
//! Every field is optional and every map may hold nulls: a figure that was not measured is
//! `null` in the file and `None` here, never 0. Unknown fields are ignored, so the report keeps
//! reading older and newer files.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A map whose values may be `null` in the file.
pub type NullableMap<T> = BTreeMap<String, Option<T>>;

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Summary {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: Option<u32>,
    /// The results folder's name (a UTC timestamp such as 20261121T081530Z).
    pub run_id: Option<String>,
    /// When summary.json was written (UTC, RFC 3339).
    pub generated_at: Option<String>,
    pub environment: Option<Environment>,
    /// By stack label (the directory name: axum, spin, spin-combined).
    pub stacks: NullableMap<Stack>,
    /// Local runs: the runtime floors and the gateway hop (`floors/<target>/k6-floor.json`),
    /// by target: `<runtime>-floor` (the least the runtime can do for the read),
    /// `<label>-direct` (the stack's customer-service), `<label>-gateway` (through its gateway).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub floors: NullableMap<K6Result>,
    /// Local runs: many copies of customer-service at once (`density/density.json`).
    pub density: Option<Density>,
    /// Local runs: each target's maximum throughput under wrk (`budget/capacity.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<crate::results::budget::Capacity>,
    /// Local runs: latency at equal offered load, open-loop (`budget/ladder.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ladder: Option<crate::results::budget::Ladder>,
    /// Local runs: the stack's CPU per request in the k6 scenarios (`budget/cpu.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_request: Option<crate::results::budget::CpuPerRequest>,
    /// Local runs with the container shape: its cold starts, memory as a cluster sees it,
    /// density and musl as a process (`containers.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<crate::results::containers::Containers>,
    /// Local runs with `--soak`: each stack alone at half of its gateway's read capacity for
    /// minutes, sampled per interval, with a slope per series (`soak/<label>.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soak: Option<crate::results::soak::Soak>,
    /// Raw files that were missing or unreadable, and mismatches found while reading them.
    pub problems: Vec<String>,
}

/// The `schema_version` this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Environment {
    /// "k3d" or "local".
    pub kind: Option<String>,
    pub cpu: Option<Cpu>,
    pub memory_bytes: Option<f64>,
    pub os: Option<String>,
    /// First line of each tool's version output; null when the tool is absent.
    pub tools: NullableMap<String>,
    /// Versions the run pinned (Spin CLI, SDK, images, ...).
    pub pins: NullableMap<Value>,
    /// Every setting of the run (vus, durations, ...), free-form.
    pub settings: NullableMap<Value>,
    /// Local runs: how the stack under test was confined to its CPU budget (the threads its
    /// runtimes started under it come from `budget/threads.json`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_budget: Option<crate::results::budget::CpuBudget>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Cpu {
    pub model: Option<String>,
    pub cores: Option<u32>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Stack {
    pub label: Option<String>,
    pub k6: NullableMap<K6Result>,
    pub coldstart: Option<Coldstart>,
    pub resources: Option<Resources>,
    /// k3d runs only: a pod killed under load.
    pub availability: Option<Availability>,
    pub artifacts: Option<Artifacts>,
    /// Local runs only: /compute timed at several n.
    pub compute: Option<Compute>,
    /// k3d runs only: the step-load scenario with autoscaling (scaling.rs).
    pub step_load: Option<crate::results::step_load::StepLoad>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct K6Result {
    /// The raw k6 summary, relative to the results folder (e.g. axum/k6-load.json).
    pub file: Option<String>,
    /// data.crm.script of the k6 summary.
    pub script: Option<String>,
    /// data.crm.runtime: who answered (the x-crm-runtime header).
    pub runtime: Option<String>,
    /// The whole run.
    pub overall: Option<Figures>,
    /// By k6 scenario name.
    pub scenarios: NullableMap<Figures>,
    /// "<metric> <expression>" of every threshold k6 marked failed (in any sample).
    pub thresholds_failed: Vec<String>,
    /// When the suite ran several times (a full local run measures each figure three times,
    /// the stacks interleaved): each run as parsed, in run order, and the figures above are
    /// the median of each figure over them. Empty: one run, whose figures are above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<K6Result>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Figures {
    /// http_reqs count (per scenario: its tagged sub-metric).
    pub requests: Option<f64>,
    /// Per scenario: its configured duration; overall: k6's whole run.
    pub duration_s: Option<f64>,
    /// Per scenario: requests / duration_s; overall: k6's own rate over the whole run.
    pub throughput_rps: Option<f64>,
    /// http_req_duration (`count` is left out: it is `requests`).
    pub latency_ms: Option<Stats>,
    /// http_req_failed rate, a fraction.
    pub error_rate: Option<f64>,
    pub failed_requests: Option<f64>,
    pub checks_rate: Option<f64>,
    /// The Server-Timing trends that have samples (st_conn, st_query, st_ser, st_total,
    /// st_verify, st_gw, st_compute).
    pub server_timing: NullableMap<Stats>,
}

/// Percentiles of a k6 trend, in ms.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Stats {
    pub count: Option<f64>,
    pub avg: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

/// A distribution of repeated timings (cold starts), in ms. `median` is P50.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct MinMedMax {
    pub count: Option<u32>,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Every value, in run order (for the chart).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<f64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Coldstart {
    /// "coldstart".
    pub test: Option<String>,
    pub stack: Option<String>,
    /// k3d: the service scaled 0 -> 1; local: the whole stack.
    pub target: Option<String>,
    pub probe_url: Option<String>,
    pub probe_interval_ms: Option<f64>,
    /// First 200 of `probe_url` (a database route).
    pub first_200_ms: Option<MinMedMax>,
    /// Local runs: first 200 of the gateway's /healthz.
    pub healthz_first_200_ms: Option<MinMedMax>,
    pub healthz_url: Option<String>,
    /// Local runs: the first request to `probe_url` once the stack answered it, timed alone
    /// (what the first user after a start waits on a ready stack).
    pub first_request_ms: Option<MinMedMax>,
    /// Local runs: a request to `probe_url` after a few warm-up requests. On Spin this still
    /// pays a component instantiation: Spin instantiates one per request.
    pub warm_request_ms: Option<MinMedMax>,
    /// What a reader should know beside the figures (e.g. the compile cache).
    pub note: Option<String>,
    /// k3d: first 200 of the new pod's own /healthz (through the API server's pod proxy).
    pub direct_first_200_ms: Option<MinMedMax>,
    /// How `direct_first_200_ms` was probed.
    pub direct_probe: Option<String>,
    pub valid_runs: Option<u32>,
    /// Every run started from zero (no pod or process before it).
    pub all_from_zero: Option<bool>,
    /// One record per run, as the runner wrote it (free-form: it differs between runners).
    pub runs: Vec<Value>,
    pub namespace: Option<String>,
    pub compile_cache: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Resources {
    /// "resources".
    pub test: Option<String>,
    pub stack: Option<String>,
    pub namespace: Option<String>,
    /// false: nothing was measured (see `reason`), and there are no figures.
    pub available: Option<bool>,
    pub reason: Option<String>,
    /// How the figures were sampled (kubectl top, procfs).
    pub source: Option<String>,
    /// Local runs: the raw sample files.
    pub idle_file: Option<String>,
    pub load_file: Option<String>,
    /// By service (local runs add "total"); null: no metrics for that service.
    pub idle: NullableMap<ServiceResources>,
    pub load: NullableMap<ServiceResources>,
    /// Services with no figures in either phase.
    pub without_metrics: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ServiceResources {
    /// Number of samples the figures come from.
    pub samples: Option<u32>,
    /// CPU in millicores.
    pub cpu_m: Option<AvgMax>,
    pub memory_bytes: Option<AvgMax>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct AvgMax {
    pub avg: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Artifacts {
    /// The stack label.
    pub stack: Option<String>,
    /// Sum over `items`; null when any item could not be measured.
    pub total_bytes: Option<f64>,
    /// By service.
    pub items: NullableMap<Artifact>,
    /// What runs the artifacts and is not counted in total_bytes (the Spin CLI).
    pub runtime: Option<Artifact>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Artifact {
    /// "oci-image", "binary", "wasm", "spin-cli".
    pub kind: Option<String>,
    /// The image reference (oci-image).
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The spin.toml the components were read from (wasm), when it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// By component id: the size of each Wasm file a spin.toml names (wasm).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub components: NullableMap<f64>,
    /// Uncompressed image size or file size; null when it could not be measured.
    pub bytes: Option<f64>,
    /// Why it could not be measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Compute {
    /// "compute".
    pub test: Option<String>,
    pub stack: Option<String>,
    pub points: Vec<ComputePoint>,
    /// k6 summaries that could not be read.
    pub problems: Vec<String>,
}

/// A service's pod killed under load, and how answers through the gateway fared (k3d).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Availability {
    /// "availability".
    pub test: Option<String>,
    pub stack: Option<String>,
    pub namespace: Option<String>,
    pub target: Option<String>,
    pub probe_url: Option<String>,
    pub probe_interval_ms: Option<f64>,
    pub duration_s: Option<f64>,
    pub kill_after_s: Option<f64>,
    /// How the pod was killed ("force-delete").
    pub kill: Option<String>,
    pub killed_pods: Vec<String>,
    pub replacement_pod: Option<String>,
    /// From the kill to the replacement pod's Ready.
    pub replacement_ready_ms: Option<f64>,
    pub probe: Option<ProbeOutcome>,
    /// The background k6 load.
    pub load: Option<K6Result>,
    pub probe_log: Option<String>,
}

/// The probe log of an availability test, read against the kill time.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ProbeOutcome {
    pub requests_total: u64,
    pub requests_after_kill: u64,
    /// Failures before the kill (0, or the baseline was unhealthy).
    pub failed_before_kill: u64,
    /// Probes started at or after the kill that did not get a 2xx.
    pub failed_requests: u64,
    /// Failed probes by HTTP status ("000": no HTTP answer).
    pub failure_codes: BTreeMap<String, u64>,
    /// Kill -> end of the first 2xx after the first failure (0 when nothing failed).
    pub time_to_first_success_ms: Option<f64>,
    /// Kill -> end of the first 2xx after the last failure.
    pub time_to_recovery_ms: Option<f64>,
    /// Start of the first failure -> end of the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage_window_ms: Option<f64>,
    pub recovered: bool,
}

/// One (algo, n) of the CPU-bound endpoint: client latency and the handler's own time.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ComputePoint {
    pub algo: Option<String>,
    pub n: Option<f64>,
    pub file: Option<String>,
    pub requests: Option<f64>,
    pub throughput_rps: Option<f64>,
    pub latency_ms: Option<Stats>,
    pub compute_ms: Option<Stats>,
    pub error_rate: Option<f64>,
    /// As [`K6Result::samples`]: each run's point, the figures above their medians.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<ComputePoint>,
}

/// N copies of customer-service started at once, per layout: the time until every copy
/// serves data, and the memory of them all (local runs, `density/density.json`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Density {
    /// "density".
    pub test: Option<String>,
    /// The N measured, in order.
    pub counts: Vec<u32>,
    /// The route every copy must answer 200 on to count as up (a database read).
    pub probe_path: Option<String>,
    /// Seconds between the last copy up and the memory reading.
    pub settle_s: Option<f64>,
    /// By layout: `axum`, `spin-one-up`, `spin-n-ups`; null: not measured.
    pub layouts: NullableMap<DensityLayout>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct DensityLayout {
    /// What runs: processes, manifests.
    pub description: Option<String>,
    /// One per N, in order.
    pub points: Vec<DensityPoint>,
    /// Why the layout has no figures (not in this run, could not start).
    pub error: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct DensityPoint {
    /// N, the copies of customer-service.
    pub instances: Option<u32>,
    /// Operating-system processes the memory figures sum (`spin up` serves from a child).
    pub processes: Option<u32>,
    /// From the first spawn (all at once) to the last copy's first 200 on `probe_path`, ms.
    pub up_ms: Option<f64>,
    /// RSS summed over every process: pages shared between processes counted in each.
    pub rss_bytes: Option<f64>,
    /// PSS summed over every process: a shared page split between the processes sharing it.
    pub pss_bytes: Option<f64>,
    /// Anonymous memory summed over every process (heap, stacks; no file-backed page): what
    /// no other process shares, so unlike PSS it does not move with what else runs.
    pub anon_bytes: Option<f64>,
    /// (rss(N) − rss(base)) / (N − base), base the smallest N measured in this layout; null
    /// at the base itself.
    pub rss_per_extra_bytes: Option<f64>,
    pub pss_per_extra_bytes: Option<f64>,
    pub anon_per_extra_bytes: Option<f64>,
    /// Why this N has no figures.
    pub error: Option<String>,
}

impl Summary {
    pub fn from_json(text: &str) -> Result<Summary, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Stack labels in report order: the known columns in [`Label::ALL`]'s order (the
    /// baseline, axum, first; the process shape before the container shape), then the rest by
    /// name.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.stacks.keys().cloned().collect();
        let rank = |l: &str| {
            crate::results::label::Label::ALL
                .iter()
                .position(|k| k.as_str() == l)
                .unwrap_or(usize::MAX)
        };
        labels.sort_by_key(|l| (rank(l), l.clone()));
        labels
    }

    pub fn stack(&self, label: &str) -> Option<&Stack> {
        self.stacks.get(label).and_then(Option::as_ref)
    }
}

impl Stack {
    /// The stack as each sample of its repeated figures saw it: the k6 results and /compute
    /// points of sample `r` in view `r`, nothing else (the figures measured once have no
    /// samples). Empty when every figure is a single run.
    pub fn sample_views(&self) -> Vec<Stack> {
        let k6_samples = self.k6.values().flatten().map(|k| k.samples.len());
        let points = self.compute.iter().flat_map(|c| &c.points);
        let count = k6_samples
            .chain(points.map(|p| p.samples.len()))
            .max()
            .unwrap_or(0);
        (0..count)
            .map(|r| Stack {
                label: self.label.clone(),
                k6: self
                    .k6
                    .iter()
                    .map(|(test, k)| {
                        let sample = k.as_ref().and_then(|k| k.samples.get(r)).cloned();
                        (test.clone(), sample)
                    })
                    .collect(),
                compute: self.compute.as_ref().map(|c| Compute {
                    points: c
                        .points
                        .iter()
                        .map(|p| p.samples.get(r).cloned().unwrap_or_default())
                        .collect(),
                    ..c.clone()
                }),
                ..Stack::default()
            })
            .collect()
    }

    pub fn k6(&self, test: &str) -> Option<&K6Result> {
        self.k6.get(test).and_then(Option::as_ref)
    }

    pub fn scenario(&self, test: &str, scenario: &str) -> Option<&Figures> {
        self.k6(test)?.scenarios.get(scenario)?.as_ref()
    }
}

impl Figures {
    pub fn st(&self, trend: &str) -> Option<&Stats> {
        self.server_timing.get(trend).and_then(Option::as_ref)
    }
}
