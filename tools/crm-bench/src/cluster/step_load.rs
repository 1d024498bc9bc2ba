//! The step-load scenario (tests/cluster/step-load-test.sh): a stack with HPAs under request
//! rates held in steps (tests/k6/step-load-test.js) while its Deployments' ready replicas are
//! sampled. This computes its result (the types: results/step_load.rs) from the k6 summary and
//! the replica samples: replicas over time on the load's clock, the time to the first extra
//! ready replica, and per step the achieved rate per ready replica.

use serde_json::Value;
use std::collections::BTreeMap;

use crate::results::step_load::{ReplicaSample, Step, StepLoad};

/// What a run records, where it is.
pub struct StepLoadTarget {
    pub stack: String,
    pub namespace: String,
    pub k6_file: String,
}

/// The replicas file: lines `<t_us> <deployment> <ready> <desired>` (ready and desired may be
/// empty: the API leaves readyReplicas out when it is 0), several lines per sample, one sample
/// per timestamp. Returns the samples in time order, with their wall-clock time in µs.
pub fn parse_replicas(text: &str) -> Result<Vec<(u64, ReplicaSample)>, String> {
    let mut by_time: BTreeMap<u64, ReplicaSample> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.trim_end().split(' ').collect();
        let [t, name, ready, desired] = fields[..] else {
            return Err(format!(
                "replicas line {}: expected 4 fields: {line:?}",
                n + 1
            ));
        };
        let count = |v: &str| -> Result<u32, String> {
            if v.is_empty() {
                Ok(0)
            } else {
                v.parse()
                    .map_err(|_| format!("replicas line {}: {v:?} is not a count", n + 1))
            }
        };
        let t: u64 = t
            .parse()
            .map_err(|_| format!("replicas line {}: {t:?} is not a time in µs", n + 1))?;
        let sample = by_time.entry(t).or_default();
        sample.ready.insert(name.to_string(), count(ready)?);
        sample.desired.insert(name.to_string(), count(desired)?);
    }
    Ok(by_time.into_iter().collect())
}

/// The step-load result from the k6 summary (its `crm.steps` and `crm.load_start_ms`) and the
/// replica samples.
pub fn step_load(
    k6_summary: &Value,
    samples: Vec<(u64, ReplicaSample)>,
    at: &StepLoadTarget,
) -> Result<StepLoad, String> {
    let crm = &k6_summary["crm"];
    let start_ms = crm["load_start_ms"]
        .as_f64()
        .ok_or("the k6 summary has no crm.load_start_ms (not a step-load-test.js summary?)")?;
    let load_start_us = (start_ms * 1000.0) as u64;
    let samples: Vec<ReplicaSample> = samples
        .into_iter()
        .map(|(t_us, mut s)| {
            s.t_s = (t_us as f64 - load_start_us as f64) / 1e6;
            s
        })
        .collect();
    let steps = crm["steps"]
        .as_array()
        .ok_or("the k6 summary has no crm.steps")?
        .iter()
        .map(|row| step(row, &samples))
        .collect();
    let (first_extra_ready_s, first_extra_ready_deployment) = first_extra_ready(&samples).unzip();
    let mut max_ready = BTreeMap::new();
    for s in &samples {
        for (name, &n) in &s.ready {
            let m = max_ready.entry(name.clone()).or_insert(0);
            *m = (*m).max(n);
        }
    }
    Ok(StepLoad {
        test: Some("step-load".to_string()),
        stack: Some(at.stack.clone()),
        namespace: Some(at.namespace.clone()),
        k6_file: Some(at.k6_file.clone()),
        load_start_us: Some(load_start_us),
        steps,
        samples,
        first_extra_ready_s,
        first_extra_ready_deployment,
        max_ready,
    })
}

fn step(row: &Value, samples: &[ReplicaSample]) -> Step {
    let num = |k: &str| row[k].as_f64();
    let mut s = Step {
        step: row["step"].as_u64().unwrap_or(0) as u32,
        offered_rps: num("offered_rps"),
        start_s: num("start_s"),
        duration_s: num("duration_s"),
        requests: num("requests"),
        rps: num("rps"),
        p95_ms: num("p95_ms"),
        failed_rate: num("failed_rate"),
        ..Step::default()
    };
    if let (Some(from), Some(len)) = (s.start_s, s.duration_s) {
        let within: Vec<f64> = samples
            .iter()
            .filter(|x| x.t_s >= from && x.t_s < from + len)
            .map(|x| f64::from(x.total_ready()))
            .collect();
        if !within.is_empty() {
            s.mean_ready_replicas = Some(within.iter().sum::<f64>() / within.len() as f64);
        }
    }
    s.rps_per_replica = match (s.rps, s.mean_ready_replicas) {
        (Some(rps), Some(r)) if r > 0.0 => Some(rps / r),
        _ => None,
    };
    s
}

/// The first sample at or after the load's start in which a Deployment had more ready
/// replicas than in the last sample before the load (or, without one, the first sample).
fn first_extra_ready(samples: &[ReplicaSample]) -> Option<(f64, String)> {
    let baseline = samples
        .iter()
        .rev()
        .find(|s| s.t_s < 0.0)
        .or_else(|| samples.first())?;
    samples.iter().filter(|s| s.t_s >= 0.0).find_map(|s| {
        s.ready
            .iter()
            .find(|(name, &n)| n > baseline.ready.get(*name).copied().unwrap_or(0))
            .map(|(name, _)| (s.t_s, name.clone()))
    })
}

/// One line for the script's log.
pub fn describe(r: &StepLoad) -> String {
    let first = match (&r.first_extra_ready_s, &r.first_extra_ready_deployment) {
        (Some(t), Some(d)) => format!("first extra ready replica after {t:.1} s ({d})"),
        _ => "no extra ready replica".to_string(),
    };
    let max: Vec<String> = r
        .max_ready
        .iter()
        .map(|(d, n)| format!("{d}={n}"))
        .collect();
    format!(
        "step-load {}: {} steps, {} replica samples, {first}, most ready: {}",
        r.stack.as_deref().unwrap_or("?"),
        r.steps.len(),
        r.samples.len(),
        if max.is_empty() {
            "none".to_string()
        } else {
            max.join(" ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const REPLICAS: &str = "\
1000000000 gateway 1 1
1000000000 customer-service 1 1
1002000000 gateway 1 2
1002000000 customer-service  1
1004000000 gateway 2 2
1004000000 customer-service 1 1
1006000000 gateway 3 3
1006000000 customer-service 1 1
";

    fn summary() -> Value {
        json!({"crm": {"load_start_ms": 1001000.0, "steps": [
            {"step": 1, "offered_rps": 10, "start_s": 0, "duration_s": 4, "requests": 40, "rps": 10.0, "p95_ms": 5.0, "failed_rate": 0.0},
            {"step": 2, "offered_rps": 50, "start_s": 4, "duration_s": 4, "requests": 200, "rps": 50.0, "p95_ms": 9.0, "failed_rate": 0.0}
        ]}})
    }

    fn target() -> StepLoadTarget {
        StepLoadTarget {
            stack: "axum".into(),
            namespace: "containers".into(),
            k6_file: "step-load.k6.json".into(),
        }
    }

    #[test]
    fn samples_are_grouped_by_time_and_an_absent_count_is_zero() {
        let s = parse_replicas(REPLICAS).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].1.ready["customer-service"], 0);
        assert_eq!(s[1].1.desired["gateway"], 2);
        assert!(parse_replicas("1 gateway 1\n").is_err());
        assert!(parse_replicas("x gateway 1 1\n").is_err());
    }

    #[test]
    fn first_extra_replica_and_rps_per_replica() {
        let r = step_load(&summary(), parse_replicas(REPLICAS).unwrap(), &target()).unwrap();
        // The load starts at 1001 s: the sample at 1000 s is the baseline; the gateway's second
        // ready replica shows at 1004 s.
        assert_eq!(r.first_extra_ready_s, Some(3.0));
        assert_eq!(r.first_extra_ready_deployment.as_deref(), Some("gateway"));
        assert_eq!(r.samples[0].t_s, -1.0);
        // Step 1 (0–4 s) saw the samples at 1 s (1+0 ready) and 3 s (2+1); step 2 the one at 5 s (3+1).
        assert_eq!(r.steps[0].mean_ready_replicas, Some(2.0));
        assert_eq!(r.steps[0].rps_per_replica, Some(5.0));
        assert_eq!(r.steps[1].rps_per_replica, Some(12.5));
        assert_eq!(r.max_ready["gateway"], 3);
        assert!(describe(&r).contains("first extra ready replica after 3.0 s (gateway)"));
    }

    #[test]
    fn no_scale_out_is_null_not_zero() {
        let flat = "1000000000 gateway 1 1\n1005000000 gateway 1 1\n";
        let r = step_load(&summary(), parse_replicas(flat).unwrap(), &target()).unwrap();
        assert_eq!(r.first_extra_ready_s, None);
        assert!(describe(&r).contains("no extra ready replica"));
        // A step without a sample has no replica figures.
        assert_eq!(r.steps[0].mean_ready_replicas, None);
        assert_eq!(r.steps[0].rps_per_replica, None);
        assert_eq!(r.steps[1].rps_per_replica, Some(50.0));
    }

    #[test]
    fn a_summary_of_another_script_is_refused() {
        assert!(step_load(&json!({"crm": {}}), vec![], &target()).is_err());
    }
}
