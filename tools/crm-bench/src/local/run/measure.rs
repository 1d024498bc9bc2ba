//! The measurements of one stack, each writing its result file in the results folder's
//! layout (docs/results-schema.md) and returning the figure worth printing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crm_harness::k6::{self as k6run, K6Outcome, K6Run};
use crm_harness::probe::{first_200_after, fresh_client, timed_get};
use crm_harness::procfs::{self, Sample, Usage};
use crm_harness::stack::{Stack, UPSTREAM_TIMEOUT_MS};
use serde_json::{json, Value};

use super::progress::Progress;
use super::settings::{Settings, StackColumn, MAIN_COMPUTE_PAIR, SAMPLE_INTERVAL_S};
use crate::results::collect::write_json;
use crate::results::label::Label;
use crate::results::model::{
    AvgMax, Coldstart, Compute, ComputePoint, MinMedMax, Resources, ServiceResources,
};

/// How often the cold-start probe asks.
const PROBE_INTERVAL: Duration = Duration::from_millis(5);
/// Requests before the warm request is timed, and how many warm requests are timed.
const WARM_UP_REQUESTS: usize = 10;
const WARM_TIMED_REQUESTS: usize = 10;

/// The database route a cold start waits for: gateway → customer-service → Postgres.
const DB_ROUTE: &str = "/customers/1";

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// P50/P90/P99 of repeated timings (nearest rank), with every value in run order.
pub fn distribution(values: &[f64]) -> Option<MinMedMax> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank =
        |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    Some(MinMedMax {
        count: Some(values.len() as u32),
        min: sorted.first().copied(),
        median: Some(median),
        p90: Some(rank(0.90)),
        p99: Some(rank(0.99)),
        max: sorted.last().copied(),
        values: values.to_vec(),
    })
}

/// One cold start: every process of the stack started at once, then the time to the first
/// 200 on the gateway's /healthz and on the database route; then one request timed alone
/// (the first a user sends to the ready stack) and the median of a few after warming up.
async fn one_cold_start(label: Label, db: &str) -> Result<Value> {
    let started = Instant::now();
    let mut stack = Stack::spawn(label.runtime(), label.shape(), db, UPSTREAM_TIMEOUT_MS)?;
    let deadline = started + Duration::from_secs(90);
    let healthz = format!("{}/healthz", stack.gateway_url);
    let route = format!("{}{DB_ROUTE}", stack.gateway_url);
    let (healthz_at, healthz_failed) =
        first_200_after(&healthz, started, PROBE_INTERVAL, deadline).await;
    let (route_at, route_failed) = first_200_after(&route, started, PROBE_INTERVAL, deadline).await;
    let first = timed_get(&fresh_client(Duration::from_secs(5)), &route).await;
    let warm_client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()?;
    for _ in 0..WARM_UP_REQUESTS {
        timed_get(&warm_client, &route).await;
    }
    let mut warm = Vec::new();
    for _ in 0..WARM_TIMED_REQUESTS {
        if let Some(d) = timed_get(&warm_client, &route).await {
            warm.push(ms(d));
        }
    }
    stack.stop(Duration::from_secs(5));
    Ok(json!({
        "healthz_first_200_ms": healthz_at.map(ms),
        "first_200_ms": route_at.map(ms),
        "failed_probes_before_200": healthz_failed + route_failed,
        "first_request_ms": first.map(ms),
        "warm_request_ms": distribution(&warm).and_then(|d| d.median),
    }))
}

/// `runs` cold starts after one warm-up start (pages the binaries in; fills wasmtime's
/// compile cache), written to coldstart.json. Returns the headline.
pub async fn cold_starts(
    label: Label,
    db: &str,
    runs: u32,
    dir: &Path,
    progress: &mut Progress,
) -> Result<String> {
    let mut all = Vec::new();
    for run in 0..=runs {
        progress.tick("cold starts");
        let timing = one_cold_start(label, db).await?;
        all.push(json!({"run": run, "warmup": run == 0, "from_zero": true, "timing": timing}));
    }
    let counted = |key: &str| -> Vec<f64> {
        all.iter()
            .filter(|r| r["warmup"] == false)
            .filter_map(|r| r["timing"][key].as_f64())
            .collect()
    };
    let route = distribution(&counted("first_200_ms"));
    // Said beside the Spin figures: what their starts include. (The report explains the warm
    // request, which on Spin still pays an instantiation, for every stack.)
    let compile_cache = (label.runtime() == crm_harness::stack::Runtime::Spin).then(|| {
        "Spin's own defaults: spin up keeps compiled components in wasmtime's cache \
         (~/.cache/wasmtime), which the warm-up start filled; a start with an empty cache also \
         compiles them (docs/benchmark.md)"
            .to_string()
    });
    let result = Coldstart {
        target: Some(
            "stack (every process started at once; gateway, customer-service, order-service)"
                .into(),
        ),
        probe_url: Some(format!("http://127.0.0.1:<gateway port>{DB_ROUTE}")),
        healthz_url: Some("http://127.0.0.1:<gateway port>/healthz".into()),
        probe_interval_ms: Some(ms(PROBE_INTERVAL)),
        valid_runs: route.as_ref().and_then(|d| d.count),
        first_200_ms: route.clone(),
        healthz_first_200_ms: distribution(&counted("healthz_first_200_ms")),
        first_request_ms: distribution(&counted("first_request_ms")),
        warm_request_ms: distribution(&counted("warm_request_ms")),
        compile_cache,
        runs: all,
        ..Coldstart::default()
    };
    write_json(&dir.join("coldstart.json"), &result).map_err(anyhow::Error::msg)?;
    let fmt = |d: &Option<MinMedMax>| match d {
        Some(d) => format!(
            "P50 {:.0} ms, P90 {:.0} ms, P99 {:.0} ms",
            d.median.unwrap_or(f64::NAN),
            d.p90.unwrap_or(f64::NAN),
            d.p99.unwrap_or(f64::NAN)
        ),
        None => "no successful start".into(),
    };
    Ok(format!(
        "to the database route, {runs} starts: {}",
        fmt(&route)
    ))
}

/// Samples the stack's processes for `seconds` while it idles.
pub async fn idle(pids: Vec<(String, i32)>, seconds: u64) -> Vec<Sample> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sampler = procfs::Sampler::start(pids, Duration::from_secs_f64(SAMPLE_INTERVAL_S));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    sampler.finish()
}

fn service_resources(
    usage: BTreeMap<String, Option<Usage>>,
) -> BTreeMap<String, Option<ServiceResources>> {
    usage
        .into_iter()
        .map(|(name, u)| {
            let r = u.map(|u| ServiceResources {
                samples: Some(u.samples),
                memory_bytes: Some(AvgMax {
                    avg: Some(u.rss_avg_bytes),
                    max: Some(u.rss_max_bytes),
                }),
                cpu_m: u.cpu_avg_m.map(|avg| AvgMax {
                    avg: Some(avg),
                    max: u.cpu_max_m,
                }),
            });
            (name, r)
        })
        .collect()
}

/// resources.json from the idle and the under-load samples. Returns the headline.
pub fn write_resources(
    label: Label,
    dir: &Path,
    idle: &[Sample],
    load: &[Sample],
) -> Result<String> {
    let idle = service_resources(procfs::usage(idle));
    let load = service_resources(procfs::usage(load));
    let total_mib = |m: &BTreeMap<String, Option<ServiceResources>>, max: bool| {
        let mem = m.get("total")?.as_ref()?.memory_bytes.as_ref()?;
        Some((if max { mem.max } else { mem.avg })? / 1048576.0)
    };
    let headline = format!(
        "RSS idle {:.1} MiB, under load peak {:.1} MiB",
        total_mib(&idle, false).unwrap_or(f64::NAN),
        total_mib(&load, true).unwrap_or(f64::NAN)
    );
    let without_metrics = idle
        .iter()
        .chain(&load)
        .filter(|(_, r)| r.is_none())
        .map(|(name, _)| name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let result = Resources {
        test: Some("resources".into()),
        stack: Some(label.as_str().into()),
        available: Some(!(idle.is_empty() && load.is_empty())),
        source: Some(format!(
            "procfs: VmRSS of /proc/<pid>/status (process and descendants), CPU from \
             /proc/<pid>/stat utime+stime, sampled every {SAMPLE_INTERVAL_S}s"
        )),
        idle,
        load,
        without_metrics,
        ..Resources::default()
    };
    write_json(&dir.join("resources.json"), &result).map_err(anyhow::Error::msg)?;
    Ok(headline)
}

/// One k6 suite against the running stack: `k6-<test><suffix>.json` and `.log` in `dir`
/// (`k6-<test><suffix>.s<sample>.json` from the second sample on: [`crate::results::samples`]).
pub struct Suite<'a> {
    pub test: &'a str,
    pub suffix: String,
    /// Which sample of the suite (1-based).
    pub sample: u32,
    pub estimate_s: u64,
    /// The suite's own settings, after (and over) the common ones.
    pub env: Vec<(String, String)>,
}

impl Suite<'_> {
    pub fn summary_path(&self, dir: &Path) -> PathBuf {
        let first = dir.join(format!("k6-{}{}.json", self.test, self.suffix));
        crate::results::samples::sample_path(&first, self.sample)
    }

    pub fn log_path(&self, dir: &Path) -> PathBuf {
        self.summary_path(dir).with_extension("log")
    }
}

/// Runs a suite, ticking the progress while it runs. The outcome, for the caller to judge.
pub async fn k6_suite(
    k6: &Path,
    stack_url: &str,
    settings: &Settings,
    suite: &Suite<'_>,
    dir: &Path,
    progress: &mut Progress,
) -> Result<K6Outcome> {
    let mut env: Vec<(String, String)> = vec![
        ("BASE_URL".into(), stack_url.into()),
        ("VUS".into(), settings.vus.to_string()),
        ("DURATION".into(), settings.duration.clone()),
        ("SCENARIO_GAP".into(), settings.scenario_gap.clone()),
        (
            "SEED_CUSTOMERS".into(),
            settings.k6_seed_customers.to_string(),
        ),
        ("SEED_ORDERS".into(), settings.k6_seed_orders.to_string()),
    ];
    env.extend(suite.env.iter().cloned());
    let run = K6Run {
        script: crm_harness::repo_root().join(format!("tests/k6/{}-test.js", suite.test)),
        env,
        summary: suite.summary_path(dir),
        log: suite.log_path(dir),
        limit: Duration::from_secs(suite.estimate_s * 2 + 120),
    };
    let what = format!("k6 {}{}", suite.test, suite.suffix);
    let running = k6run::run(k6, &run);
    tokio::pin!(running);
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            outcome = &mut running => return outcome.with_context(|| what.clone()),
            _ = ticker.tick() => progress.tick(&what),
        }
    }
}

/// compute.json: one point per (algorithm, n) from the cpu-bound summaries, each the median of
/// its samples (`files` are each pair's first; their further samples are read beside them).
pub fn write_compute(stack: &str, dir: &Path, files: &[PathBuf]) -> Result<String> {
    let mut points = Vec::new();
    for first in files {
        let mut samples: BTreeMap<&str, Vec<ComputePoint>> = BTreeMap::new();
        for path in
            std::iter::once(first.clone()).chain(crate::results::samples::further_samples(first))
        {
            for point in compute_points(stack, &path)? {
                let algo = if point.algo.as_deref() == Some("iterative") {
                    "iterative"
                } else {
                    "recursive"
                };
                samples.entry(algo).or_default().push(point);
            }
        }
        points.extend(
            samples
                .into_values()
                .map(crate::results::samples::merge_points),
        );
    }
    points.sort_by(|a, b| {
        (a.algo.clone(), a.n.unwrap_or(-1.0))
            .partial_cmp(&(b.algo.clone(), b.n.unwrap_or(-1.0)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let headline = points
        .iter()
        .filter(|p| p.algo.as_deref() == Some("iterative"))
        .filter_map(|p| {
            let c = p.compute_ms.as_ref()?.p50?;
            Some(format!("n={} {c:.2} ms", p.n? as u64))
        })
        .collect::<Vec<_>>()
        .join(", ");
    write_json(
        &dir.join("compute.json"),
        &Compute {
            test: Some("compute".into()),
            stack: Some(stack.into()),
            points,
            problems: Vec::new(),
        },
    )
    .map_err(anyhow::Error::msg)?;
    Ok(format!("/compute iterative, handler time P50: {headline}"))
}

/// The (up to two) points of one cpu-bound summary.
fn compute_points(stack: &str, path: &Path) -> Result<Vec<ComputePoint>> {
    let mut points = Vec::new();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let parsed = crate::results::k6_summary::parse_summary(&raw, name);
    let settings = &raw["crm"]["settings"];
    for (scenario, algo, key) in [
        ("compute_iterative", "iterative", "iterative_n"),
        ("compute_recursive", "recursive", "recursive_n"),
    ] {
        let Some(Some(fig)) = parsed.scenarios.get(scenario) else {
            continue;
        };
        let compute = raw["metrics"][format!("compute_ms{{scenario:{scenario}}}")].get("values");
        points.push(ComputePoint {
            algo: Some(algo.into()),
            n: settings[key].as_f64(),
            file: Some(format!("{stack}/{name}")),
            requests: fig.requests,
            throughput_rps: fig.throughput_rps,
            latency_ms: fig.latency_ms.clone(),
            compute_ms: crate::results::k6_summary::trend_stats(compute),
            error_rate: fig.error_rate,
            samples: Vec::new(),
        });
    }
    Ok(points)
}

/// The k6 runs of the cpu-bound suite, one per (iterative n, recursive n) pair; the main
/// pair's summary is the stack's `k6-cpu-bound.json`.
pub fn compute_suites(settings: &Settings, estimate_s: u64, sample: u32) -> Vec<Suite<'static>> {
    settings
        .compute_pairs
        .iter()
        .map(|&(iter_n, rec_n)| Suite {
            test: "cpu-bound",
            suffix: if (iter_n, rec_n) == MAIN_COMPUTE_PAIR {
                String::new()
            } else {
                format!(".n{iter_n}-{rec_n}")
            },
            sample,
            estimate_s,
            env: vec![
                ("COMPUTE_ITER_N".into(), iter_n.to_string()),
                ("COMPUTE_REC_N".into(), rec_n.to_string()),
                ("DURATION".into(), settings.compute_duration.clone()),
            ],
        })
        .collect()
}

/// A k6 summary's headline: the overall throughput and P50/P95.
pub fn k6_headline(path: &Path) -> Option<String> {
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    let parsed = crate::results::k6_summary::parse_summary(&raw, "");
    let overall = parsed.overall?;
    let lat = overall.latency_ms?;
    Some(format!(
        "{:.0} req/s, P50 {:.1} ms, P95 {:.1} ms, errors {:.2} %",
        overall.throughput_rps?,
        lat.p50?,
        lat.p95?,
        100.0 * overall.error_rate.unwrap_or(0.0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_use_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        let d = distribution(&values).unwrap();
        assert_eq!(d.count, Some(20));
        assert_eq!(d.median, Some(10.5));
        assert_eq!((d.p90, d.p99), (Some(18.0), Some(20.0)));
        assert_eq!((d.min, d.max), (Some(1.0), Some(20.0)));
        assert_eq!(d.values.len(), 20);
        let one = distribution(&[7.0]).unwrap();
        assert_eq!(
            (one.median, one.p90, one.p99),
            (Some(7.0), Some(7.0), Some(7.0))
        );
        assert!(distribution(&[]).is_none());
    }
}
