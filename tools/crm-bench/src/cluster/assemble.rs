//! The result files of the k3d tests (tests/cluster/*.sh), assembled from what they recorded:
//! a cold-start run and the cold-start summary, the resources summary, and the one-line
//! descriptions the scripts print. The scripts drive the cluster; this does the arithmetic.

use crate::cluster::parse::{self, FirstSuccess, TopRow};
use crate::results::model::{Availability, Coldstart, MinMedMax, Resources};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// The pod that answered a cold start, from `kubectl get pod -o json`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: Option<String>,
    pub created: Option<String>,
    pub started: Option<String>,
    pub ready: Option<String>,
    pub restarts: Option<u64>,
}

/// One cold start (a line of the runs file).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ColdstartRun {
    pub run: u32,
    pub pods_before: u32,
    pub scale_up_us: u64,
    /// Through the gateway.
    pub timing: FirstSuccess,
    /// The new pod's own /healthz.
    pub direct_timing: FirstSuccess,
    pub pod: Option<PodInfo>,
    pub probe_log: String,
    pub direct_log: String,
    /// No pod before, the pod created at or after the scale-up, no restarts.
    pub from_zero: bool,
}

pub fn pod_info(pod: &Value) -> PodInfo {
    let text = |p: &str| pod.pointer(p).and_then(Value::as_str).map(str::to_string);
    let container = |p: &str| pod.pointer(&format!("/status/containerStatuses/0{p}"));
    let ready = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(str::to_string);
    PodInfo {
        name: text("/metadata/name"),
        created: text("/metadata/creationTimestamp"),
        started: container("/state/running/startedAt")
            .and_then(Value::as_str)
            .map(str::to_string),
        ready,
        restarts: container("/restartCount").and_then(Value::as_u64),
    }
}

/// Assembles one run from its probe logs (timed from `scale_up_us`) and the pod that answered.
pub fn coldstart_run(
    run: u32,
    pods_before: u32,
    scale_up_us: u64,
    probe_log: &Path,
    direct_log: &Path,
    pod: Option<PodInfo>,
) -> Result<ColdstartRun, String> {
    let timing = |log: &Path| -> Result<FirstSuccess, String> {
        let text = std::fs::read_to_string(log)
            .map_err(|e| format!("cannot read {}: {e}", log.display()))?;
        Ok(parse::first_success(
            &parse::parse_probe_log(&text),
            scale_up_us,
        ))
    };
    let created_s = pod
        .as_ref()
        .and_then(|p| p.created.as_deref())
        .and_then(epoch_seconds);
    let restarts = pod.as_ref().and_then(|p| p.restarts);
    // creationTimestamp has 1 s resolution: created at or after the scale-up second counts.
    let from_zero = pods_before == 0
        && created_s.is_some_and(|c| c >= scale_up_us / 1_000_000)
        && restarts == Some(0);
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(ColdstartRun {
        run,
        pods_before,
        scale_up_us,
        timing: timing(probe_log)?,
        direct_timing: timing(direct_log)?,
        pod,
        probe_log: name(probe_log).unwrap_or_default(),
        direct_log: name(direct_log).unwrap_or_default(),
        from_zero,
    })
}

/// "2026-11-21T08:40:02Z" -> seconds since the epoch (Kubernetes' timestamp format).
fn epoch_seconds(ts: &str) -> Option<u64> {
    let b = ts.as_bytes();
    let shape_ok = b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z';
    if !shape_ok {
        return None;
    }
    let n = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// median/min/max of the values (the median of an even count is the mean of the middle two).
pub fn min_med_max(values: &[f64]) -> Option<MinMedMax> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = match n {
        0 => return None,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    };
    Some(MinMedMax {
        median: Some(median),
        min: v.first().copied(),
        max: v.last().copied(),
        ..MinMedMax::default()
    })
}

/// Where a cold-start test ran (the summary's header fields).
pub struct ColdstartTarget<'a> {
    pub stack: &'a str,
    pub namespace: &'a str,
    pub target: &'a str,
    pub probe_url: &'a str,
}

/// The runs -> the coldstart object: figures over the runs that really started from zero.
pub fn coldstart_summary(runs: &[ColdstartRun], at: &ColdstartTarget) -> Result<Coldstart, String> {
    let valid = |f: fn(&ColdstartRun) -> &FirstSuccess| -> Vec<f64> {
        runs.iter()
            .filter(|r| r.from_zero)
            .filter_map(|r| f(r).first_200_ms)
            .collect()
    };
    let through = valid(|r| &r.timing);
    let raw_runs = runs
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(Coldstart {
        test: Some("coldstart".into()),
        stack: Some(at.stack.into()),
        namespace: Some(at.namespace.into()),
        target: Some(at.target.into()),
        probe_url: Some(at.probe_url.into()),
        direct_probe: Some("pod /healthz via the API server's pod proxy".into()),
        probe_interval_ms: Some(20.0),
        valid_runs: u32::try_from(through.len()).ok(),
        first_200_ms: min_med_max(&through),
        direct_first_200_ms: min_med_max(&valid(|r| &r.direct_timing)),
        all_from_zero: Some(runs.iter().all(|r| r.from_zero)),
        runs: raw_runs,
        ..Coldstart::default()
    })
}

/// Where a resources test ran.
pub struct ResourcesTarget<'a> {
    pub stack: &'a str,
    pub namespace: &'a str,
    pub services: &'a [String],
}

/// The `kubectl top` samples of each phase (one JSON array of rows per line) -> the resources
/// object; a service no sample reported is null, and none at all makes it unavailable.
pub fn resources_summary(
    idle: &[Vec<TopRow>],
    load: &[Vec<TopRow>],
    at: &ResourcesTarget,
) -> Resources {
    let phase = |samples: &[Vec<TopRow>]| {
        let agg = parse::aggregate_top(samples);
        at.services
            .iter()
            .map(|s| (s.clone(), agg.get(s).cloned()))
            .collect::<crate::results::model::NullableMap<_>>()
    };
    let (idle, load) = (phase(idle), phase(load));
    let without_metrics: Vec<String> = at
        .services
        .iter()
        .filter(|s| idle[*s].is_none() || load[*s].is_none())
        .cloned()
        .collect();
    let none_measured = without_metrics.len() == at.services.len();
    Resources {
        test: Some("resources".into()),
        stack: Some(at.stack.into()),
        namespace: Some(at.namespace.into()),
        available: Some(!none_measured),
        reason: none_measured.then(|| "kubectl top listed none of this stack's pods".into()),
        source: Some("kubectl top pod".into()),
        idle,
        load,
        without_metrics,
        ..Resources::default()
    }
}

/// Reads a JSON-lines file of `kubectl top` samples.
pub fn read_samples(path: &Path) -> Result<Vec<Vec<TopRow>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("{}: {e}", path.display())))
        .collect()
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or("none".into(), |v| v.to_string())
}

/// The line resource-test.sh prints per phase and service.
pub fn describe_resources(r: &Resources) -> Vec<String> {
    let stack = r.stack.as_deref().unwrap_or("?");
    let mut lines = Vec::new();
    for (phase, map) in [("idle", &r.idle), ("load", &r.load)] {
        for (svc, v) in map {
            let figures = match v {
                None => "unavailable".to_string(),
                Some(v) => {
                    let cpu = v.cpu_m.as_ref();
                    let mem = v.memory_bytes.as_ref().and_then(|m| m.avg);
                    format!(
                        "cpu avg {:.0}m max {:.0}m, memory avg {:.1} MiB",
                        cpu.and_then(|c| c.avg).unwrap_or(f64::NAN),
                        cpu.and_then(|c| c.max).unwrap_or(f64::NAN),
                        mem.unwrap_or(f64::NAN) / f64::from(1u32 << 20)
                    )
                }
            };
            lines.push(format!("resources {stack} {phase:<5} {svc:<17} {figures}"));
        }
    }
    lines
}

/// The line availability-test.sh prints.
pub fn describe_availability(a: &Availability) -> String {
    let p = a.probe.clone().unwrap_or_default();
    format!(
        "availability {}/{}: {} failed probes, first success after {} ms, recovered after {} ms, replacement ready after {} ms",
        a.stack.as_deref().unwrap_or("?"),
        a.target.as_deref().unwrap_or("?"),
        p.failed_requests,
        opt(p.time_to_first_success_ms),
        opt(p.time_to_recovery_ms),
        opt(a.replacement_ready_ms)
    )
}

/// The line coldstart-test.sh prints for a run.
pub fn describe_run(r: &ColdstartRun) -> String {
    format!(
        "first 200 after {} ms through the gateway, {} ms from the pod itself, from zero: {}",
        opt(r.timing.first_200_ms),
        opt(r.direct_timing.first_200_ms),
        r.from_zero
    )
}

/// The line coldstart-test.sh prints at the end.
pub fn describe_coldstart(c: &Coldstart) -> String {
    let mmm = |m: &Option<MinMedMax>| match m {
        Some(m) => format!(
            "median {} ms (min {}, max {})",
            opt(m.median),
            opt(m.min),
            opt(m.max)
        ),
        None => "no valid run".into(),
    };
    format!(
        "coldstart {}/{}: through the gateway {}; the pod itself {}",
        c.stack.as_deref().unwrap_or("?"),
        c.target.as_deref().unwrap_or("?"),
        mmm(&c.first_200_ms),
        mmm(&c.direct_first_200_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_timestamps() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2026-11-21T08:40:02Z"), Some(1_795_250_402));
        assert_eq!(epoch_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(epoch_seconds("2026-11-21 08:40:02"), None);
    }

    #[test]
    fn medians() {
        assert!(min_med_max(&[]).is_none());
        let m = min_med_max(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((m.min, m.median, m.max), (Some(1.0), Some(2.0), Some(3.0)));
        assert_eq!(min_med_max(&[1.0, 4.0]).unwrap().median, Some(2.5));
    }

    fn pod_json(created: &str, restarts: u64) -> Value {
        serde_json::json!({
            "metadata": {"name": "customer-service-7d9f8b6c5d-x2x9q", "creationTimestamp": created},
            "status": {
                "containerStatuses": [{"restartCount": restarts,
                                       "state": {"running": {"startedAt": "2026-11-21T08:40:03Z"}}}],
                "conditions": [{"type": "Initialized", "lastTransitionTime": "x"},
                               {"type": "Ready", "lastTransitionTime": "2026-11-21T08:40:04Z"}]
            }
        })
    }

    #[test]
    fn runs_and_their_summary() {
        let dir = std::env::temp_dir().join(format!("crm-cluster-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (log, direct) = (dir.join("run1.probe.log"), dir.join("run1.direct.log"));
        // Scale-up at 1795250402.000000 s; the gateway answers after 1.5 s, the pod after 1 s.
        std::fs::write(
            &log,
            "1795250402000000 1795250402010000 502\n1795250402100000 1795250403500000 200\n",
        )
        .unwrap();
        std::fs::write(&direct, "1795250402200000 1795250403000000 200\n").unwrap();
        let pod = pod_info(&pod_json("2026-11-21T08:40:02Z", 0));
        assert_eq!(pod.ready.as_deref(), Some("2026-11-21T08:40:04Z"));
        assert_eq!(pod.restarts, Some(0));
        let run = coldstart_run(1, 0, 1_795_250_402_000_000, &log, &direct, Some(pod)).unwrap();
        assert!(run.from_zero);
        assert_eq!(run.timing.first_200_ms, Some(1500.0));
        assert_eq!(run.timing.failed_probes_before_200, 1);
        assert_eq!(run.probe_log, "run1.probe.log");
        // A pod older than the scale-up, or one that restarted, is not a cold start.
        let old = pod_info(&pod_json("2026-11-21T08:40:01Z", 0));
        let run2 = coldstart_run(2, 0, 1_795_250_402_000_000, &log, &direct, Some(old)).unwrap();
        let restarted = pod_info(&pod_json("2026-11-21T08:40:02Z", 1));
        let run3 =
            coldstart_run(3, 0, 1_795_250_402_000_000, &log, &direct, Some(restarted)).unwrap();
        let run4 = coldstart_run(4, 0, 1_795_250_402_000_000, &log, &direct, None).unwrap();
        assert!(!run2.from_zero && !run3.from_zero && !run4.from_zero);
        let at = ColdstartTarget {
            stack: "spin",
            namespace: "wasm",
            target: "customer-service",
            probe_url: "http://127.0.0.1:18081/customers/ping",
        };
        let c = coldstart_summary(&[run.clone(), run2], &at).unwrap();
        assert_eq!(c.valid_runs, Some(1));
        assert_eq!(c.first_200_ms.as_ref().unwrap().median, Some(1500.0));
        assert_eq!(c.direct_first_200_ms.as_ref().unwrap().median, Some(1000.0));
        assert_eq!(c.all_from_zero, Some(false));
        assert_eq!(c.runs.len(), 2);
        assert!(describe_coldstart(&c).contains("through the gateway median 1500 ms"));
        assert!(describe_run(&run).contains("from zero: true"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn resources_per_service_and_unavailable() {
        let row = |svc: &str, cpu: f64| TopRow {
            pod: format!("{svc}-abcde12-xyz12"),
            service: svc.into(),
            cpu_m: cpu,
            memory_bytes: 1_048_576.0,
        };
        let services = ["gateway".to_string(), "order-service".to_string()];
        let at = ResourcesTarget {
            stack: "axum",
            namespace: "containers",
            services: &services,
        };
        let r = resources_summary(
            &[vec![row("gateway", 2.0)]],
            &[vec![row("gateway", 4.0)]],
            &at,
        );
        assert_eq!(r.available, Some(true));
        assert_eq!(r.without_metrics, ["order-service"]);
        assert!(r.idle["order-service"].is_none());
        let lines = describe_resources(&r);
        assert!(
            lines[0].contains("cpu avg 2m max 2m, memory avg 1.0 MiB"),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("unavailable"));
        let none = resources_summary(&[vec![]], &[], &at);
        assert_eq!(none.available, Some(false));
        assert!(none.reason.is_some());
    }
}
