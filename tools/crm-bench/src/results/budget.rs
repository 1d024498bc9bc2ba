//! The figures of the CPU budget (local runs, `budget/`): how the stack was confined
//! (`budget.json`), each target's capacity under wrk (`capacity.json`), latency at equal
//! offered load (`ladder.json`) and the stack's CPU per request in every scenario
//! (`cpu.json`). `crm-bench run` writes one point per sample; collect merges the samples of a
//! point into their medians ([`merge_points`]), keeping each sample beside them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::results::model::Stats;
use crate::results::samples::median_value;

/// How the stack under test was confined, and what that did to its runtimes' thread pools.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CpuBudget {
    /// "cgroup cpuset (v1)", "cgroup cpuset (v2)", "affinity" or "shared".
    pub mode: Option<String>,
    /// The CPUs of the stack under test, in the kernel's list format ("1").
    pub stack_cpus: Option<String>,
    /// The CPUs of the generators (k6, wrk), the harness and a Postgres the run started.
    pub generator_cpus: Option<String>,
    /// The budget in one sentence (the report's top).
    pub description: Option<String>,
    /// Why the mode is not a cgroup, when it is not.
    pub note: Option<String>,
    /// Where Postgres ran: confined with the generators (started by this run) or unconfined.
    pub postgres: Option<String>,
    /// Where the stack's CPU time comes from: the cgroup's own counter or procfs.
    pub cpu_source: Option<String>,
    /// By process ("axum gateway", "spin trigger http (spin customer-service)"): its threads
    /// under the budget.
    pub threads: BTreeMap<String, ProcessThreads>,
}

/// One confined process's threads, read from /proc while it served.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ProcessThreads {
    /// Its Cpus_allowed_list.
    pub cpus_allowed: Option<String>,
    /// Every thread, by name, with a count (tokio-runtime-w: the Tokio workers).
    pub by_name: BTreeMap<String, u32>,
    pub total: Option<u32>,
}

/// CPU while one measurement ran: the stack's, the generator's, Postgres's and each side's
/// core, with what was saturated.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct StepCpu {
    /// The stack's CPU time ÷ wall time, in cores (1.0: its whole core).
    pub stack_cores: Option<f64>,
    /// The stack's CPU time ÷ requests served, in µs.
    pub stack_us_per_request: Option<f64>,
    /// The generator's own process (wrk; k6), in cores.
    pub generator_cores: Option<f64>,
    /// Every Postgres process together, in cores.
    pub postgres_cores: Option<f64>,
    /// Busy share (0..1) of the stack's CPUs and of the generator's CPUs (/proc/stat).
    pub stack_cpus_busy: Option<f64>,
    pub generator_cpus_busy: Option<f64>,
    /// What was saturated: "stack", "generator", "postgres", "machine"; empty: none.
    pub saturated: Vec<String>,
}

/// Above this busy share a core (or a single-threaded process) counts as saturated.
pub const SATURATED: f64 = 0.9;

impl StepCpu {
    /// Fills `saturated` from the figures: the stack, the generator and Postgres by their own
    /// CPU time (a core kept busy by something else, such as another build on a shared
    /// machine, does not make the stack saturated); "machine" when both sides' CPUs were busy
    /// whoever used them.
    pub fn judge(mut self) -> StepCpu {
        let over = |v: Option<f64>| v.is_some_and(|v| v >= SATURATED);
        let mut saturated = Vec::new();
        if over(self.stack_cores) {
            saturated.push("stack".to_string());
        }
        if over(self.generator_cores) {
            saturated.push("generator".to_string());
        }
        if over(self.postgres_cores) {
            saturated.push("postgres".to_string());
        }
        if over(self.stack_cpus_busy) && over(self.generator_cpus_busy) {
            saturated.push("machine".to_string());
        }
        self.saturated = saturated;
        self
    }

    /// Which limit a capacity figure hit, in words.
    pub fn limit(&self) -> &'static str {
        let has = |s: &str| self.saturated.iter().any(|x| x == s);
        if has("machine") && !has("stack") && !has("generator") && !has("postgres") {
            return "both CPUs busy, not with this run (a shared machine)";
        }
        match (has("stack"), has("generator"), has("postgres")) {
            (true, false, _) => "the stack's core",
            (true, true, _) => "both cores (stack and generator)",
            (false, true, _) => "the generator's core",
            (false, false, true) => "Postgres",
            (false, false, false) => "no core saturated (latency-bound)",
        }
    }
}

/// wrk's maximum throughput against each target and route (`capacity.json`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Capacity {
    /// "wrk 4.1.0, 1 thread, 10 connections, 4 s per target".
    pub generator: Option<String>,
    pub points: Vec<CapacityPoint>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CapacityPoint {
    /// `<runtime>-floor`, `<label>-direct` (its customer-service), `<label>-gateway`.
    pub target: Option<String>,
    /// The stack label (or runtime, for a floor) the target belongs to.
    pub stack: Option<String>,
    /// "read" (GET /customers/{id}), "write" (POST /customers), "hello" (GET /hello).
    pub route: Option<String>,
    /// Which sample (1-based); in summary.json the merged point has none.
    pub sample: Option<u32>,
    pub connections: Option<u32>,
    pub duration_s: Option<f64>,
    pub requests: Option<f64>,
    pub throughput_rps: Option<f64>,
    /// From wrk's --latency: p50, p90, p99 (closed-loop: not comparable across stacks).
    pub latency_ms: Option<Stats>,
    /// Non-2xx answers and socket errors.
    pub errors: Option<f64>,
    pub cpu: Option<StepCpu>,
    /// The raw wrk output, relative to the results folder.
    pub log: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<CapacityPoint>,
}

/// Latency at fixed offered rates, open-loop (`ladder.json`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Ladder {
    /// "k6 constant-arrival-rate, GET /customers/{id} at the gateway, 5 s per rate".
    pub method: Option<String>,
    /// The p99 a rate must stay under to count as served well.
    pub p99_target_ms: Option<f64>,
    pub points: Vec<LadderPoint>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct LadderPoint {
    pub stack: Option<String>,
    pub route: Option<String>,
    /// The offered rate, requests/s.
    pub rate_rps: Option<f64>,
    pub sample: Option<u32>,
    pub duration_s: Option<f64>,
    pub requests: Option<f64>,
    /// Served requests/s.
    pub throughput_rps: Option<f64>,
    pub latency_ms: Option<Stats>,
    pub error_rate: Option<f64>,
    /// k6's dropped_iterations: > 0 means the rate was not offered in full (not plotted).
    pub dropped_iterations: Option<f64>,
    pub cpu: Option<StepCpu>,
    /// The k6 summary, relative to the results folder.
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<LadderPoint>,
}

impl LadderPoint {
    /// The rate was offered in full (k6 dropped at most 1 % of the iterations it was to start:
    /// a busy machine makes k6 drop one now and then at any rate) and answered without errors
    /// above 1 %. The table shows every dropped iteration either way.
    pub fn plotted(&self) -> bool {
        let offered = self
            .rate_rps
            .zip(self.duration_s)
            .map_or(0.0, |(r, d)| r * d);
        self.dropped_iterations.unwrap_or(0.0) <= 0.01 * offered
            && self.error_rate.unwrap_or(0.0) < 0.01
    }
}

/// The stack's CPU per request in the k6 scenarios (`cpu.json`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CpuPerRequest {
    pub points: Vec<CpuPoint>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct CpuPoint {
    pub stack: Option<String>,
    /// "k6 load (read, write, inter_service, mixed)".
    pub scenario: Option<String>,
    pub sample: Option<u32>,
    pub requests: Option<f64>,
    pub seconds: Option<f64>,
    pub cpu: Option<StepCpu>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<CpuPoint>,
}

/// A point measured once per sample: its key (what it is the figure of) and its samples.
pub trait Sampled: Clone + Serialize + DeserializeOwned {
    fn key(&self) -> String;
    fn set_samples(&mut self, samples: Vec<Self>);
    fn clear_sample(&mut self);
}

impl Sampled for CapacityPoint {
    fn key(&self) -> String {
        format!("{:?} {:?}", self.target, self.route)
    }
    fn set_samples(&mut self, samples: Vec<Self>) {
        self.samples = samples;
    }
    fn clear_sample(&mut self) {
        self.sample = None;
    }
}

impl Sampled for LadderPoint {
    fn key(&self) -> String {
        format!("{:?} {:?} {:?}", self.stack, self.route, self.rate_rps)
    }
    fn set_samples(&mut self, samples: Vec<Self>) {
        self.samples = samples;
    }
    fn clear_sample(&mut self) {
        self.sample = None;
    }
}

impl Sampled for CpuPoint {
    fn key(&self) -> String {
        format!("{:?} {:?}", self.stack, self.scenario)
    }
    fn set_samples(&mut self, samples: Vec<Self>) {
        self.samples = samples;
    }
    fn clear_sample(&mut self) {
        self.sample = None;
    }
}

/// One point per key, in first-seen order: one sample as it is, several as the median of
/// each number (samples kept beside). A `saturated` list is the union of the samples'.
pub fn merge_points<T: Sampled>(raw: Vec<T>) -> Vec<T> {
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<T>> = BTreeMap::new();
    for point in raw {
        let key = point.key();
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(point);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let group = groups.remove(&key)?;
            if group.len() == 1 {
                return group.into_iter().next();
            }
            let values: Vec<serde_json::Value> = group
                .iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .collect();
            let mut merged_value = median_value(&values);
            keep_integers(&values[0], &mut merged_value);
            let saturated: std::collections::BTreeSet<String> = group
                .iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .flat_map(|v| {
                    v["cpu"]["saturated"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .collect();
            if let Some(cpu) = merged_value.get_mut("cpu").and_then(|c| c.as_object_mut()) {
                cpu.insert(
                    "saturated".into(),
                    saturated
                        .into_iter()
                        .map(serde_json::Value::String)
                        .collect(),
                );
            }
            let mut merged: T = serde_json::from_value(merged_value).ok()?;
            merged.clear_sample();
            merged.set_samples(group);
            Some(merged)
        })
        .collect()
}

/// A median of integers may be a half (2.5): where the first sample holds an integer, the
/// merged value takes the first sample's, so the integer fields (sample, connections) still
/// read back as integers.
fn keep_integers(first: &serde_json::Value, merged: &mut serde_json::Value) {
    use serde_json::Value;
    match (first, merged) {
        (Value::Number(n), merged) if n.is_u64() || n.is_i64() => *merged = first.clone(),
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b.iter_mut() {
                if let Some(f) = a.get(k) {
                    keep_integers(f, v);
                }
            }
        }
        _ => {}
    }
}

/// The ladder's rates for a stack whose capacity is `capacity_rps`: every rate of `rates` up
/// to `cap_share` of the capacity, and always the lowest (a stack slower than every rate still
/// gets one rung, marked when it drops iterations).
pub fn plan_rates(rates: &[u32], capacity_rps: Option<f64>, cap_share: f64) -> Vec<u32> {
    let mut sorted = rates.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let Some(capacity) = capacity_rps.filter(|c| c.is_finite() && *c > 0.0) else {
        return sorted;
    };
    let limit = capacity * cap_share;
    let mut planned: Vec<u32> = sorted
        .iter()
        .copied()
        .filter(|&r| f64::from(r) <= limit)
        .collect();
    if planned.is_empty() {
        planned.extend(sorted.first());
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladders_stop_at_the_stack_capacity_and_keep_one_rung() {
        let rates = [50, 100, 200, 400, 800, 1600];
        assert_eq!(
            plan_rates(&rates, Some(1000.0), 1.0),
            [50, 100, 200, 400, 800]
        );
        assert_eq!(plan_rates(&rates, Some(1000.0), 0.7), [50, 100, 200, 400]);
        assert_eq!(plan_rates(&rates, Some(10.0), 1.0), [50]);
        assert_eq!(plan_rates(&[400, 50, 50], None, 1.0), [50, 400]);
        assert_eq!(plan_rates(&rates, Some(f64::NAN), 1.0), rates);
    }

    #[test]
    fn saturation_is_judged_from_the_shares() {
        let cpu = StepCpu {
            stack_cores: Some(0.95),
            stack_cpus_busy: Some(0.97),
            generator_cpus_busy: Some(0.5),
            generator_cores: Some(0.4),
            postgres_cores: Some(0.1),
            ..StepCpu::default()
        }
        .judge();
        assert_eq!(cpu.saturated, ["stack"]);
        assert_eq!(cpu.limit(), "the stack's core");
        let gen = StepCpu {
            stack_cpus_busy: Some(0.5),
            generator_cores: Some(0.95),
            ..StepCpu::default()
        }
        .judge();
        assert_eq!(gen.saturated, ["generator"]);
        assert_eq!(gen.limit(), "the generator's core");
        assert_eq!(
            StepCpu::default().judge().limit(),
            "no core saturated (latency-bound)"
        );
        // Both CPUs busy with other work: the machine, not the stack nor the generator.
        let shared = StepCpu {
            stack_cores: Some(0.2),
            generator_cores: Some(0.1),
            stack_cpus_busy: Some(0.99),
            generator_cpus_busy: Some(0.95),
            ..StepCpu::default()
        }
        .judge();
        assert_eq!(shared.saturated, ["machine"]);
        assert_eq!(
            shared.limit(),
            "both CPUs busy, not with this run (a shared machine)"
        );
    }

    #[test]
    fn samples_merge_into_medians_by_key_and_keep_saturation_of_any() {
        let point = |sample, rps: f64, saturated: &[&str]| CapacityPoint {
            target: Some("axum-gateway".into()),
            route: Some("read".into()),
            sample: Some(sample),
            throughput_rps: Some(rps),
            cpu: Some(StepCpu {
                saturated: saturated.iter().map(|s| s.to_string()).collect(),
                ..StepCpu::default()
            }),
            ..CapacityPoint::default()
        };
        let other = CapacityPoint {
            route: Some("write".into()),
            ..point(1, 5.0, &[])
        };
        let merged = merge_points(vec![
            point(1, 100.0, &[]),
            other,
            point(2, 300.0, &["stack"]),
            point(3, 200.0, &[]),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].throughput_rps, Some(200.0));
        assert_eq!(merged[0].sample, None);
        assert_eq!(merged[0].samples.len(), 3);
        assert_eq!(merged[0].cpu.as_ref().unwrap().saturated, ["stack"]);
        assert_eq!(merged[1].samples.len(), 0);
        assert_eq!(merged[1].sample, Some(1));
    }
}
