//! summary.json as written by `scripts/lib/summarize.py` (docs/results-schema.md).
//!
//! Every field is optional and every map may hold nulls: a figure that was not measured is
//! `null` in the file and `None` here, never 0. Unknown fields are ignored, so the report keeps
//! working when the schema grows.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A map whose values may be `null` in the file.
pub type NullableMap<T> = BTreeMap<String, Option<T>>;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Summary {
    pub schema_version: Option<u32>,
    pub run_id: Option<String>,
    pub generated_at: Option<String>,
    pub environment: Option<Environment>,
    pub stacks: NullableMap<Stack>,
    pub problems: Vec<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Environment {
    pub kind: Option<String>,
    pub cpu: Option<Cpu>,
    pub memory_bytes: Option<f64>,
    pub os: Option<String>,
    pub tools: NullableMap<String>,
    pub pins: NullableMap<Value>,
    pub settings: NullableMap<Value>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Cpu {
    pub model: Option<String>,
    pub cores: Option<u32>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Stack {
    pub label: Option<String>,
    pub k6: NullableMap<K6Result>,
    pub coldstart: Option<Coldstart>,
    pub resources: Option<Resources>,
    pub artifacts: Option<Artifacts>,
    /// Local runs only: /compute timed at several n (scripts/lib/bench-local.py compute).
    pub compute: Option<Compute>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct K6Result {
    pub file: Option<String>,
    pub script: Option<String>,
    pub runtime: Option<String>,
    pub overall: Option<Figures>,
    pub scenarios: NullableMap<Figures>,
    pub thresholds_failed: Vec<String>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Figures {
    pub requests: Option<f64>,
    pub duration_s: Option<f64>,
    pub throughput_rps: Option<f64>,
    pub latency_ms: Option<Stats>,
    pub error_rate: Option<f64>,
    pub failed_requests: Option<f64>,
    pub checks_rate: Option<f64>,
    pub server_timing: NullableMap<Stats>,
}

/// Percentiles of a k6 trend, in ms.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MinMedMax {
    pub count: Option<u32>,
    pub min: Option<f64>,
    pub median: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
    /// Every value, in run order (for the chart).
    pub values: Vec<f64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Coldstart {
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
    pub valid_runs: Option<u32>,
    pub runs: Vec<Value>,
    pub namespace: Option<String>,
    pub compile_cache: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Resources {
    pub available: Option<bool>,
    pub reason: Option<String>,
    pub source: Option<String>,
    pub idle: NullableMap<ServiceResources>,
    pub load: NullableMap<ServiceResources>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct ServiceResources {
    pub samples: Option<u32>,
    pub cpu_m: Option<AvgMax>,
    pub memory_bytes: Option<AvgMax>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct AvgMax {
    pub avg: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Artifacts {
    pub total_bytes: Option<f64>,
    pub items: NullableMap<Artifact>,
    /// What runs the artifacts and is not counted in total_bytes (the Spin CLI).
    pub runtime: Option<Artifact>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Artifact {
    pub kind: Option<String>,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub path: Option<String>,
    pub bytes: Option<f64>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Compute {
    pub points: Vec<ComputePoint>,
}

/// One (algo, n) of the CPU-bound endpoint: client latency and the handler's own time.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
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
}

impl Summary {
    pub fn from_json(text: &str) -> Result<Summary, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Stack labels in report order: the baseline (axum) first, then the rest by name.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.stacks.keys().cloned().collect();
        labels.sort_by_key(|l| (l != "axum", l.clone()));
        labels
    }

    pub fn stack(&self, label: &str) -> Option<&Stack> {
        self.stacks.get(label).and_then(Option::as_ref)
    }
}

impl Stack {
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
