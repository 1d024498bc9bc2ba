//! The step-load scenario's result (`<stack>/step-load.json`, carried into summary.json as
//! `step_load`; k3d only): replicas over time on the load's clock, the time to the first extra
//! ready replica, and per step the achieved rate per ready replica. The cluster side computes
//! it (cluster/step_load.rs); the report reads it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One sample of the replicas file: every Deployment of the namespace at one instant.
#[derive(Debug, Default, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct ReplicaSample {
    /// Seconds since the first step began (negative: before the load).
    pub t_s: f64,
    /// Ready replicas by Deployment (0 when the API reports none).
    pub ready: BTreeMap<String, u32>,
    /// The replica count asked for (the HPA's decision), by Deployment.
    pub desired: BTreeMap<String, u32>,
}

impl ReplicaSample {
    pub fn total_ready(&self) -> u32 {
        self.ready.values().sum()
    }
}

/// One step of the load, as k6 measured it, with the replicas that served it.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Step {
    pub step: u32,
    /// The arrival rate asked of k6 (requests/s).
    pub offered_rps: Option<f64>,
    pub start_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub requests: Option<f64>,
    /// Completed requests/s over the step.
    pub rps: Option<f64>,
    pub p95_ms: Option<f64>,
    pub failed_rate: Option<f64>,
    /// Mean over the step's samples of the ready replicas of all the stack's Deployments.
    pub mean_ready_replicas: Option<f64>,
    /// `rps` / `mean_ready_replicas`.
    pub rps_per_replica: Option<f64>,
}

#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct StepLoad {
    /// "step-load".
    pub test: Option<String>,
    pub stack: Option<String>,
    pub namespace: Option<String>,
    /// The k6 summary the steps come from.
    pub k6_file: Option<String>,
    /// Wall clock (µs since the epoch) when the first step began.
    pub load_start_us: Option<u64>,
    pub steps: Vec<Step>,
    pub samples: Vec<ReplicaSample>,
    /// Seconds from the load's start to the first sample in which a Deployment had more ready
    /// replicas than before the load; null: none scaled out.
    pub first_extra_ready_s: Option<f64>,
    /// The Deployment that got it.
    pub first_extra_ready_deployment: Option<String>,
    /// The most ready replicas seen, by Deployment.
    pub max_ready: BTreeMap<String, u32>,
}
