//! The CPU budget's measurements (results/budget.rs, docs/benchmark.md "One CPU budget"):
//! the budget set up before anything starts, each target's capacity under wrk, the open-loop
//! ladder at equal offered rates, the stack's CPU per request in the k6 load suite, and the
//! threads the runtimes start under the budget. Every figure carries the CPU of the stack, the
//! generator and Postgres while it was measured ([`Window`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crm_harness::budget::{self, Budget, CoreTimes, Mode};
use crm_harness::k6::K6Outcome;
use crm_harness::wrk::{self, Route, WrkRun};
use serde_json::Value;

use super::measure::Suite;
use super::Run;
use crate::results::budget::{
    plan_rates, Capacity, CapacityPoint, CpuBudget, CpuPerRequest, CpuPoint, Ladder, LadderPoint,
    ProcessThreads, StepCpu,
};
use crate::results::collect::{write_json, BUDGET_DIR};
use crate::results::label::Label;
use crate::results::model::Stats;

/// The raw points so far (one per sample), rewritten after each measurement.
#[derive(Default)]
pub(super) struct Raw {
    capacity: Vec<CapacityPoint>,
    ladder: Vec<LadderPoint>,
    cpu: Vec<CpuPoint>,
    threads: BTreeMap<String, ProcessThreads>,
}

impl Raw {
    /// Every capacity point so far, every sample's.
    pub(super) fn capacity_points(&self) -> &[CapacityPoint] {
        &self.capacity
    }
}

/// Sets the budget up and pins this process (and so k6, wrk, a Postgres it starts) to the
/// generator's CPUs. Call before any thread starts.
pub fn set_up() -> &'static Budget {
    let mut b = Budget::create("run");
    if let Err(e) = b.pin_self() {
        eprintln!("crm-bench run: cannot pin itself to the generator CPUs: {e:#}");
    }
    budget::install(b)
}

/// The budget as environment.json records it (and `crm-bench layers`' layers.json).
pub(crate) fn describe(postgres_started_here: bool) -> CpuBudget {
    let Some(b) = budget::installed() else {
        return CpuBudget::default();
    };
    let postgres = if b.mode == Mode::Shared {
        "shares every CPU with the stack (no budget)".to_string()
    } else if postgres_started_here {
        format!(
            "confined with the generators on CPU {} (a throwaway cluster this run started)",
            budget::cpu_list(&b.generator_cpus)
        )
    } else {
        "unconfined: a server this run did not start (DATABASE_URL, CRM_PG_ADMIN_URL or one on \
         5432) may run on the stack's CPU too; unset them and stop it for a confined one"
            .to_string()
    };
    CpuBudget {
        mode: Some(b.mode.as_str().into()),
        stack_cpus: Some(budget::cpu_list(&b.stack_cpus)),
        generator_cpus: Some(budget::cpu_list(&b.generator_cpus)),
        description: Some(b.describe()),
        note: b.note.clone(),
        postgres: Some(postgres),
        cpu_source: Some(if b.stack_cpu_s().is_some() {
            "the stack cgroup's own CPU counter (every process that ran in it)".into()
        } else {
            "procfs utime+stime of the stack's live processes".into()
        }),
        threads: BTreeMap::new(),
    }
}

/// CPU counters at the start of a measurement (`crm-bench run`'s figures and `crm-bench
/// layers`').
pub(crate) struct Window {
    started: Instant,
    stack_cpu: Option<f64>,
    pids: Vec<(String, i32)>,
    postgres: f64,
    children: Option<f64>,
    cores: CoreTimes,
}

/// The stack's CPU seconds: the cgroup's counter, else procfs over its process trees.
fn stack_cpu_s(pids: &[(String, i32)]) -> Option<f64> {
    if let Some(s) = budget::installed().and_then(Budget::stack_cpu_s) {
        return Some(s);
    }
    let sample = crm_harness::procfs::sample_once(pids);
    let trees: Vec<f64> = sample.trees.values().flatten().map(|t| t.cpu_s).collect();
    (!trees.is_empty()).then(|| trees.iter().sum())
}

impl Window {
    pub(crate) fn open(pids: Vec<(String, i32)>) -> Window {
        Window {
            started: Instant::now(),
            stack_cpu: stack_cpu_s(&pids),
            postgres: budget::cpu_s_of_command("postgres"),
            children: budget::reaped_children_cpu_s(),
            cores: CoreTimes::now(),
            pids,
        }
    }

    /// The CPU of the window, `requests` served in it; the generator is whatever child of
    /// this process exited meanwhile (wrk, k6).
    pub(crate) fn close(self, requests: Option<f64>) -> StepCpu {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let cores = CoreTimes::now();
        let stack = stack_cpu_s(&self.pids)
            .zip(self.stack_cpu)
            .map(|(b, a)| (b - a).max(0.0));
        let generator = budget::reaped_children_cpu_s()
            .zip(self.children)
            .map(|(b, a)| (b - a).max(0.0));
        let postgres = (budget::cpu_s_of_command("postgres") - self.postgres).max(0.0);
        let (stack_cpus, generator_cpus) = budget::installed()
            .map(|b| (b.stack_cpus.clone(), b.generator_cpus.clone()))
            .unwrap_or_default();
        StepCpu {
            stack_cores: stack.map(|s| s / secs),
            stack_us_per_request: stack
                .zip(requests.filter(|r| *r > 0.0))
                .map(|(s, r)| s * 1e6 / r),
            generator_cores: generator.map(|g| g / secs),
            postgres_cores: Some(postgres / secs),
            stack_cpus_busy: self.cores.busy_between(&cores, &stack_cpus),
            generator_cpus_busy: self.cores.busy_between(&cores, &generator_cpus),
            saturated: Vec::new(),
        }
        .judge()
    }
}

fn one(v: f64) -> String {
    format!("{v:.2}")
}

/// "cores 0.98 (saturated: stack)".
fn cpu_line(cpu: &StepCpu) -> String {
    let mut line = format!(
        "stack {} cores{}, generator {} cores, Postgres {} cores",
        cpu.stack_cores.map_or("?".into(), one),
        cpu.stack_us_per_request
            .map_or(String::new(), |u| format!(" ({u:.0} µs/request)")),
        cpu.generator_cores.map_or("?".into(), one),
        cpu.postgres_cores.map_or("?".into(), one),
    );
    if !cpu.saturated.is_empty() {
        line.push_str(&format!(" — saturated: {}", cpu.saturated.join(", ")));
    }
    line
}

impl Run {
    fn budget_dir(&self) -> Result<std::path::PathBuf> {
        let dir = self.out.join(BUDGET_DIR);
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// Rewrites budget/*.json from the raw points so far.
    fn write_budget_files(&self) -> Result<()> {
        let dir = self.budget_dir()?;
        let s = &self.settings;
        let capacity = Capacity {
            generator: Some(format!(
                "wrk (1 thread, {} connections, {} s per target and route; --latency)",
                s.wrk_connections, s.capacity_seconds
            )),
            points: self.budget.capacity.clone(),
        };
        let ladder = Ladder {
            method: Some(format!(
                "k6 constant-arrival-rate (open-loop), GET /customers/{{id}} at the gateway, {} \
                 per rate, rates up to the gateway's capacity under wrk in the same sample",
                s.ladder_duration
            )),
            p99_target_ms: Some(s.p99_target_ms),
            points: self.budget.ladder.clone(),
        };
        let cpu = CpuPerRequest {
            points: self.budget.cpu.clone(),
        };
        let err = anyhow::Error::msg;
        write_json(&dir.join("capacity.json"), &capacity).map_err(err)?;
        write_json(&dir.join("ladder.json"), &ladder).map_err(err)?;
        write_json(&dir.join("cpu.json"), &cpu).map_err(err)?;
        write_json(&dir.join("threads.json"), &self.budget.threads).map_err(err)?;
        Ok(())
    }

    /// The threads of every process tree of `pids`, filed under `owner` (first sample only).
    pub(super) fn record_threads(&mut self, owner: &str, pids: &[(String, i32)]) -> Result<()> {
        for (name, pid) in pids {
            let tree = budget::with_descendants(*pid);
            let by_name = budget::thread_names(&tree);
            let leaf = tree.last().copied().unwrap_or(*pid);
            let total = by_name.values().sum();
            let key = format!("{owner} {name}");
            let workers = by_name
                .iter()
                // Tokio's name for its threads: "tokio-rt-worker" for the workers in recent
                // releases, "tokio-runtime-worker" (cut to 15 characters) for workers and
                // blocking-pool threads alike in older ones.
                .filter(|(n, _)| n.starts_with("tokio-runtime-w") || *n == "tokio-rt-worker")
                .map(|(_, c)| c)
                .sum::<u32>();
            self.say_for(
                owner,
                "threads",
                &format!(
                    "{name}: {total} threads over {} process(es), {workers} tokio workers, CPUs {}",
                    tree.len(),
                    budget::cpus_allowed(leaf).unwrap_or_else(|| "?".into())
                ),
            );
            self.budget.threads.insert(
                key,
                ProcessThreads {
                    cpus_allowed: budget::cpus_allowed(leaf),
                    by_name,
                    total: Some(total),
                },
            );
        }
        self.write_budget_files()
    }

    /// wrk against one target and route; the point is recorded and said.
    pub(super) async fn capacity_of(
        &mut self,
        target: &str,
        stack: &str,
        url: &str,
        route: Route,
        pids: Vec<(String, i32)>,
    ) -> Result<f64> {
        let wrk = match &self.wrk {
            Some(w) => w.clone(),
            None => {
                let w = wrk::ensure_wrk()?;
                self.wrk = Some(w.clone());
                w
            }
        };
        let dir = self.budget_dir()?.join("wrk");
        std::fs::create_dir_all(&dir)?;
        let stem = dir.join(format!("{target}.{}.s{}", route.as_str(), self.sample));
        let run = WrkRun {
            base_url: url.to_string(),
            route,
            connections: self.settings.wrk_connections,
            threads: 1,
            duration: Duration::from_secs(self.settings.capacity_seconds),
            stem: stem.clone(),
            tag: format!("{}{}", crm_harness::unique_suffix(), self.sample),
        };
        self.progress
            .tick(&format!("wrk {target} {}", route.as_str()));
        let window = Window::open(pids);
        let result = wrk::run(&wrk, &run).await?;
        let out = &result.output;
        let mut cpu = window.close(Some(out.requests));
        // wrk's own CPU over its own run (more exact than the window's).
        if let Some(cpu_s) = result.cpu_s {
            cpu.generator_cores = Some(cpu_s / result.wall_s.max(1e-3));
            cpu = cpu.judge();
        }
        let rel = result
            .log
            .strip_prefix(&self.out)
            .unwrap_or(&result.log)
            .to_string_lossy()
            .into_owned();
        let errors = out.non_2xx + out.socket_errors;
        self.say_for(
            target,
            &format!("wrk {}", route.as_str()),
            &format!(
                "{:.0} req/s, P99 {:.1} ms, errors {errors}; {}",
                out.rps,
                out.p99_ms.unwrap_or(f64::NAN),
                cpu_line(&cpu)
            ),
        );
        self.budget.capacity.push(CapacityPoint {
            target: Some(target.into()),
            stack: Some(stack.into()),
            route: Some(route.as_str().into()),
            sample: Some(self.sample),
            connections: Some(self.settings.wrk_connections),
            duration_s: Some(out.duration_s),
            requests: Some(out.requests),
            throughput_rps: Some(out.rps),
            latency_ms: Some(Stats {
                p50: out.p50_ms,
                p90: out.p90_ms,
                p99: out.p99_ms,
                ..Stats::default()
            }),
            errors: Some(errors),
            cpu: Some(cpu),
            log: Some(rel),
            samples: Vec::new(),
        });
        self.write_budget_files()?;
        Ok(out.rps)
    }

    /// The Capacity step: read and write at customer-service directly (services shape) and at
    /// the gateway.
    pub(super) async fn capacity(&mut self, label: Label) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let pids = stack.pids();
        let mut targets = Vec::new();
        if let Some(cs) = stack.customer_service_url() {
            targets.push((format!("{}-direct", label.as_str()), cs));
        }
        targets.push((format!("{}-gateway", label.as_str()), stack.gateway_url()));
        let ids = self.settings.seed_customers.min(1000);
        for (target, url) in targets {
            for route in [Route::Read { ids }, Route::Write] {
                self.capacity_of(&target, label.as_str(), &url, route, pids.clone())
                    .await?;
            }
        }
        Ok(())
    }

    /// The gateway's read capacity in this sample, as wrk measured it.
    fn gateway_capacity(&self, label: Label) -> Option<f64> {
        let target = format!("{}-gateway", label.as_str());
        self.budget
            .capacity
            .iter()
            .filter(|p| p.sample == Some(self.sample))
            .find(|p| p.target.as_deref() == Some(&target) && p.route.as_deref() == Some("read"))
            .and_then(|p| p.throughput_rps)
    }

    /// The Ladder step: k6 at each fixed rate up to the gateway's capacity.
    pub(super) async fn ladder(&mut self, label: Label) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let url = stack.gateway_url();
        let pids = stack.pids();
        let capacity = self.gateway_capacity(label);
        let rates = plan_rates(&self.settings.ladder_rates, capacity, 1.0);
        let dir = self.budget_dir()?.join("ladder").join(label.as_str());
        std::fs::create_dir_all(&dir)?;
        let per_rate = crate::local::run::settings::Settings::secs(&self.settings.ladder_duration);
        for rate in rates {
            let suite = Suite {
                test: "ladder",
                suffix: format!(".r{rate}"),
                sample: self.sample,
                estimate_s: per_rate + 2,
                env: vec![
                    ("RATE".into(), rate.to_string()),
                    ("DURATION".into(), self.settings.ladder_duration.clone()),
                    (
                        "LADDER_IDS".into(),
                        self.settings.seed_customers.min(100).to_string(),
                    ),
                ],
            };
            let window = Window::open(pids.clone());
            let outcome = super::measure::k6_suite(
                &self.k6,
                &url,
                &self.settings,
                &suite,
                &dir,
                &mut self.progress,
            )
            .await?;
            let path = suite.summary_path(&dir);
            if !outcome.has_figures() {
                anyhow::bail!(
                    "k6 ladder at {rate} req/s: {outcome:?} (log {})",
                    suite.log_path(&dir).display()
                );
            }
            let mut point = ladder_point(&path, &self.out)?;
            let cpu = window.close(point.requests);
            point.stack = Some(label.as_str().into());
            point.route = Some("read".into());
            point.rate_rps = Some(f64::from(rate));
            point.sample = Some(self.sample);
            let marked = if point.plotted() {
                ""
            } else {
                " — not offered in full (dropped iterations or errors): marked, not plotted"
            };
            self.say(
                label,
                &format!("ladder {rate} req/s"),
                &format!(
                    "served {:.0} req/s, P50 {:.1} ms, P99 {:.1} ms, dropped {:.0}{marked}; {}",
                    point.throughput_rps.unwrap_or(f64::NAN),
                    point
                        .latency_ms
                        .as_ref()
                        .and_then(|l| l.p50)
                        .unwrap_or(f64::NAN),
                    point
                        .latency_ms
                        .as_ref()
                        .and_then(|l| l.p99)
                        .unwrap_or(f64::NAN),
                    point.dropped_iterations.unwrap_or(0.0),
                    cpu_line(&cpu)
                ),
            );
            point.cpu = Some(cpu);
            if outcome == K6Outcome::ThresholdsCrossed {
                self.progress.say(&format!(
                    "  (k6 thresholds crossed at {rate} req/s: errors above 1 %; kept, marked)"
                ));
            }
            self.budget.ladder.push(point);
            self.write_budget_files()?;
        }
        Ok(())
    }

    /// The stack's CPU over a k6 suite, per request served (the load suite).
    pub(super) fn record_suite_cpu(
        &mut self,
        label: Label,
        scenario: &str,
        window: Window,
        summary: &Path,
    ) -> Result<()> {
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(summary)?)?;
        let requests = raw["metrics"]["http_reqs"]["values"]["count"].as_f64();
        let seconds = window.started.elapsed().as_secs_f64();
        let cpu = window.close(requests);
        self.say(
            label,
            "CPU per request",
            &format!("{scenario}: {}", cpu_line(&cpu)),
        );
        self.budget.cpu.push(CpuPoint {
            stack: Some(label.as_str().into()),
            scenario: Some(scenario.into()),
            sample: Some(self.sample),
            requests,
            seconds: Some(seconds),
            cpu: Some(cpu),
            samples: Vec::new(),
        });
        self.write_budget_files()
    }
}

/// A ladder rung's k6 summary → its point (figures only; the caller names it).
fn ladder_point(path: &Path, out: &Path) -> Result<LadderPoint> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    Ok(ladder_point_of(
        &raw,
        path.strip_prefix(out).unwrap_or(path),
    ))
}

fn ladder_point_of(raw: &Value, rel: &Path) -> LadderPoint {
    let m = &raw["metrics"];
    let scenario = |metric: &str| m[format!("{metric}{{scenario:read}}")]["values"].clone();
    let lat = scenario("http_req_duration");
    let requests = scenario("http_reqs")["count"].as_f64();
    let duration = raw["crm"]["settings"]["duration"]
        .as_str()
        .and_then(crate::results::k6_summary::duration_seconds);
    LadderPoint {
        duration_s: duration,
        requests,
        throughput_rps: requests.zip(duration).map(|(r, d)| r / d.max(1e-3)),
        latency_ms: Some(Stats {
            count: lat["count"].as_f64(),
            avg: lat["avg"].as_f64(),
            p50: lat["med"].as_f64(),
            p90: lat["p(90)"].as_f64(),
            p95: lat["p(95)"].as_f64(),
            p99: lat["p(99)"].as_f64(),
            max: lat["max"].as_f64(),
        }),
        error_rate: scenario("http_req_failed")["rate"].as_f64(),
        dropped_iterations: Some(
            m["dropped_iterations"]["values"]["count"]
                .as_f64()
                .unwrap_or(0.0),
        ),
        file: Some(rel.to_string_lossy().into_owned()),
        ..LadderPoint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ladder_summary_gives_served_rate_percentiles_and_drops() {
        let raw = json!({
            "crm": {"settings": {"duration": "5s"}},
            "metrics": {
                "http_reqs{scenario:read}": {"values": {"count": 1000}},
                "http_req_duration{scenario:read}": {"values": {
                    "count": 1000, "avg": 2.0, "med": 1.5, "p(90)": 3.0, "p(95)": 4.0,
                    "p(99)": 9.0, "max": 20.0}},
                "http_req_failed{scenario:read}": {"values": {"rate": 0.0}},
                "dropped_iterations": {"values": {"count": 3}}
            }
        });
        let p = ladder_point_of(&raw, Path::new("budget/ladder/axum/k6-ladder.r200.json"));
        assert_eq!(p.throughput_rps, Some(200.0));
        assert_eq!(p.latency_ms.as_ref().and_then(|l| l.p99), Some(9.0));
        assert_eq!(p.dropped_iterations, Some(3.0));
        assert!(!p.plotted());
        let clean = json!({"crm": {"settings": {"duration": "5s"}}, "metrics": {
            "http_reqs{scenario:read}": {"values": {"count": 500}}}});
        let p = ladder_point_of(&clean, Path::new("x.json"));
        assert_eq!(p.dropped_iterations, Some(0.0));
        assert!(p.plotted());
    }
}
