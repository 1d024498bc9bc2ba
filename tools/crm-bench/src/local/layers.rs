//! `crm-bench layers [--seconds N] [--samples K] [--out DIR] [--axum-bin-dir DIR]`: what each of
//! Axum's middleware layers costs (issue #28; docs/benchmark.md, "Axum's middleware, layer by
//! layer").
//!
//! Axum's customer-service alone, under the same CPU budget as `crm-bench run` (the service on
//! its own core, crm-bench, wrk and a Postgres it starts on the others), in several
//! configurations switched by the service's measurement-only `CRM_BENCH_LAYERS_OFF`
//! (axum-crm/common/src/layers.rs): every layer on (the service as deployed), each layer off
//! alone, every layer off, and the runtime floor (`axum-floor`: no middleware, no contract).
//! For each: wrk's read capacity at `GET /customers/{id}` (1 thread, 10 connections, `--seconds`
//! after a 1 s warm-up) and the service's CPU per request from the budget's counter (the same
//! [`Window`] as the run's capacity figures). Samples are interleaved (every configuration,
//! then every configuration again), each figure is the median of its samples with their range.
//! A table on stdout; `layers.json` in `--out`.
//!
//! What a layer costs is read as "its configuration against all on": a layer whose absence
//! raises the rate or lowers the CPU per request beyond the samples' spread costs that much.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use crm_harness::pg::{self, Server};
use crm_harness::probe::wait_for_200;
use crm_harness::procs::{self, Proc};
use crm_harness::stack::{self, Binaries, Runtime, ServiceConfig, START_LIMIT};
use crm_harness::wrk::{self, Route, WrkRun};
use serde::Serialize;

use crate::local::run::budget::{self as run_budget, Window};
use crate::local::tooling;
use crate::results::budget::{CpuBudget, StepCpu};
use crate::results::collect::write_json;
use crate::results::samples::{median, range};

#[derive(Args, Debug)]
pub struct LayersArgs {
    /// Seconds of wrk per configuration and sample (after a 1 s warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// Samples of every configuration, interleaved (A B C … then A B C … again).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub samples: u32,
    /// Where layers.json and the logs go [default: results/layers-<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The release binaries to measure (`axum-customer-service`, `axum-floor`) [default:
    /// `cargo build --release --locked -p axum-customer-service -p axum-floor`].
    #[arg(long)]
    pub axum_bin_dir: Option<PathBuf>,
}

/// The layers `CRM_BENCH_LAYERS_OFF` names, outermost first: axum_common::layers::ContractLayer's
/// names (crm-bench does not build axum-common; a name that drifted would stop the service at
/// start with its own message, which the start below reports).
pub const LAYERS: [&str; 8] = [
    "metrics",
    "trace",
    "headers",
    "errors",
    "catch_panic",
    "timeout",
    "server_timing",
    "admission",
];

/// Customers seeded; the read picks its id uniformly among them.
const SEED_CUSTOMERS: u32 = 1000;
/// wrk's shape, as `crm-bench run`'s capacity figures.
const WRK_CONNECTIONS: u32 = 10;
const WARM_UP: Duration = Duration::from_secs(1);

/// One configuration measured.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// customer-service with these layers off (none: the service as deployed).
    Service { off: Vec<&'static str> },
    /// The runtime floor, axum-floor.
    Floor,
}

#[derive(Clone, Debug)]
struct Configuration {
    name: String,
    target: Target,
}

/// All on, each layer off alone, every layer off, the floor.
fn configurations() -> Vec<Configuration> {
    let service = |name: String, off: Vec<&'static str>| Configuration {
        name,
        target: Target::Service { off },
    };
    let mut all = vec![service(ALL_ON.into(), Vec::new())];
    all.extend(LAYERS.iter().map(|l| service(format!("{l} off"), vec![*l])));
    all.push(service(ALL_OFF.into(), LAYERS.to_vec()));
    all.push(Configuration {
        name: FLOOR.into(),
        target: Target::Floor,
    });
    all
}

const ALL_ON: &str = "all layers on";
const ALL_OFF: &str = "every layer off";
const FLOOR: &str = "axum-floor";

/// layers.json.
#[derive(Debug, Serialize)]
struct Layers {
    generated_at: String,
    /// What was measured and how, in one paragraph.
    method: String,
    route: String,
    wrk_threads: u32,
    wrk_connections: u32,
    seconds: u64,
    samples: u32,
    cpu_budget: CpuBudget,
    /// Per configuration: the medians, their ranges and the shares.
    configurations: Vec<Summary>,
    /// Every sample of every configuration, in the order measured.
    points: Vec<Point>,
}

/// One configuration's figures over its samples.
#[derive(Debug, Serialize)]
struct Summary {
    name: String,
    /// "customer-service" or "axum-floor".
    target: &'static str,
    /// `CRM_BENCH_LAYERS_OFF` (customer-service only).
    layers_off: Vec<&'static str>,
    samples: usize,
    throughput_rps: Option<f64>,
    /// (min, max) over the samples; none with one sample or when they agree.
    throughput_range: Option<(f64, f64)>,
    /// Median req/s ÷ all layers on's median.
    share_of_all_on: Option<f64>,
    /// Median req/s ÷ axum-floor's median.
    share_of_floor: Option<f64>,
    cpu_us_per_request: Option<f64>,
    cpu_us_per_request_range: Option<(f64, f64)>,
    /// Non-2xx answers and socket errors, over every sample.
    errors: f64,
    /// Samples in which the service's core was saturated (≥ 90 % of it): a CPU-bound rate.
    saturated_samples: usize,
    /// The service's CPU ÷ wall time, in cores (median).
    stack_cores: Option<f64>,
    /// The busy share of the generator's CPUs (wrk, crm-bench, a Postgres it started; median).
    generator_cpus_busy: Option<f64>,
}

/// One sample of one configuration.
#[derive(Debug, Serialize)]
struct Point {
    configuration: String,
    sample: u32,
    requests: f64,
    duration_s: f64,
    throughput_rps: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    errors: f64,
    cpu: StepCpu,
    /// wrk's output, relative to the results folder.
    log: String,
}

pub fn execute(args: &LayersArgs) -> Result<(), String> {
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => crm_harness::repo_root()
            .join("results")
            .join(format!("layers-{}", tooling::utc_stamp())),
    };
    let out = std::path::absolute(&out).map_err(|e| e.to_string())?;
    if out.join("layers.json").exists() {
        return Err(format!("{} already holds a layers run", out.display()));
    }
    // As `crm-bench run`: before the async runtime starts any thread, this process (and wrk, a
    // Postgres it starts) on the generator's CPUs, the service on the stack's.
    let cpu_budget = run_budget::set_up();
    let measured = tooling::block_on_interruptible(measure(args, &out));
    cpu_budget.cleanup();
    let doc = measured.map_err(|e| format!("{e:#}"))?;
    for line in table(&doc.configurations) {
        crate::output::say(&line)?;
    }
    crate::output::say(&format!(
        "crm-bench layers: wrote {}",
        out.join("layers.json").display()
    ))
}

async fn measure(args: &LayersArgs, out: &Path) -> Result<Layers> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    procs::set_log_dir(&out.join("logs"))?;
    let say = |line: &str| eprintln!("crm-bench layers: {line}");
    let axum_dir = match &args.axum_bin_dir {
        Some(dir) => {
            say(&format!("the binaries as built in {}", dir.display()));
            dir.clone()
        }
        None => {
            say(&format!(
                "cargo build --release (axum-customer-service, axum-floor; target {})",
                tooling::target_dir().display()
            ));
            let mut cargo = Command::new("cargo");
            cargo
                .args(["build", "--release", "--locked"])
                .args(["-p", "axum-customer-service", "-p", "axum-floor"])
                .current_dir(crm_harness::repo_root());
            tooling::build(
                "cargo build --release",
                cargo,
                &procs::log_dir().join("build.log"),
            )?;
            tooling::target_dir().join("release")
        }
    };
    let bins = Binaries {
        axum_dir,
        spin: None,
        spin_dir: crm_harness::repo_root().join("spin-crm"),
    };
    let service_bin = bins.axum_dir.join("axum-customer-service");
    if !service_bin.exists() {
        bail!(
            "{} missing: build it with `cargo build --release -p axum-customer-service`, or \
             point --axum-bin-dir at the binaries",
            service_bin.display()
        );
    }
    bins.check_floor(Runtime::Axum)?;
    bins.install();
    let wrk = wrk::ensure_wrk()?;

    let mut server = Server::find_or_start().await?;
    let measured = async {
        let db = server.create_database("crm_bench_layers").await?;
        pg::migrate(&db).await?;
        say(&format!(
            "fresh database: {}",
            pg::seed(&db, SEED_CUSTOMERS, 0).await?
        ));
        let mut doc = Layers {
            generated_at: tooling::utc_stamp(),
            method: format!(
                "customer-service alone (Axum, release build) with CRM_BENCH_LAYERS_OFF naming \
                 the layers off, and axum-floor; per configuration and sample a fresh process, \
                 a {}-s warm-up, then wrk's read capacity at GET /customers/{{id}} and the \
                 service's CPU time per request from the CPU budget; configurations interleaved, \
                 figures the median of the samples",
                WARM_UP.as_secs()
            ),
            route: format!("GET /customers/{{id}}, id uniform over 1..{SEED_CUSTOMERS}"),
            wrk_threads: 1,
            wrk_connections: WRK_CONNECTIONS,
            seconds: args.seconds,
            samples: args.samples,
            cpu_budget: run_budget::describe(server.started_here()),
            configurations: Vec::new(),
            points: Vec::new(),
        };
        let configs = configurations();
        say(&format!(
            "{} configurations × {} sample(s) of {} s; Postgres {}; CPU budget: {}",
            configs.len(),
            args.samples,
            args.seconds,
            server.describe(),
            doc.cpu_budget.description.as_deref().unwrap_or("none")
        ));
        for sample in 1..=args.samples {
            for config in &configs {
                let point = measure_one(&wrk, config, sample, args.seconds, &db, out).await?;
                say(&format!(
                    "sample {sample} {}: {:.0} req/s, P99 {:.1} ms, errors {}, {} µs/request{}",
                    config.name,
                    point.throughput_rps,
                    point.p99_ms.unwrap_or(f64::NAN),
                    point.errors,
                    point
                        .cpu
                        .stack_us_per_request
                        .map_or("?".into(), |u| format!("{u:.0}")),
                    if point.cpu.saturated.is_empty() {
                        String::new()
                    } else {
                        format!(" (saturated: {})", point.cpu.saturated.join(", "))
                    }
                ));
                doc.points.push(point);
                doc.configurations = summarise(&configs, &doc.points);
                write_json(&out.join("layers.json"), &doc).map_err(anyhow::Error::msg)?;
            }
        }
        Ok::<_, anyhow::Error>(doc)
    }
    .await;
    server.cleanup().await;
    measured
}

/// One configuration, one sample: a fresh process, ready; a warm-up; wrk inside a CPU window;
/// the process stopped whatever the outcome.
async fn measure_one(
    wrk_bin: &Path,
    config: &Configuration,
    sample: u32,
    seconds: u64,
    db: &str,
    out: &Path,
) -> Result<Point> {
    let (mut proc, url) = start(&config.target, db).await?;
    let measured = async {
        let dir = out.join("wrk");
        std::fs::create_dir_all(&dir)?;
        // No dot in a stem: wrk::run names its files with `with_extension`.
        let stem = dir.join(format!("{}-s{sample}", slug(&config.name)));
        let route = Route::Read {
            ids: SEED_CUSTOMERS,
        };
        let run = |duration: Duration, stem: PathBuf| WrkRun {
            base_url: url.clone(),
            route,
            connections: WRK_CONNECTIONS,
            threads: 1,
            duration,
            stem,
            tag: format!("{}{sample}", crm_harness::unique_suffix()),
        };
        // The pool's connections opened and the code paths warm before anything is counted.
        let warm_up = dir.join(format!("{}-s{sample}-warm-up", slug(&config.name)));
        wrk::run(wrk_bin, &run(WARM_UP, warm_up)).await?;
        let window = Window::open(vec![(config.name.clone(), proc.pid())]);
        let result = wrk::run(wrk_bin, &run(Duration::from_secs(seconds), stem)).await?;
        let o = &result.output;
        let mut cpu = window.close(Some(o.requests));
        // wrk's own CPU over its own run (more exact than the window's), as the run does.
        if let Some(cpu_s) = result.cpu_s {
            cpu.generator_cores = Some(cpu_s / result.wall_s.max(1e-3));
            cpu = cpu.judge();
        }
        Ok::<_, anyhow::Error>(Point {
            configuration: config.name.clone(),
            sample,
            requests: o.requests,
            duration_s: o.duration_s,
            throughput_rps: o.rps,
            p50_ms: o.p50_ms,
            p99_ms: o.p99_ms,
            errors: o.non_2xx + o.socket_errors,
            cpu,
            log: result
                .log
                .strip_prefix(out)
                .unwrap_or(&result.log)
                .to_string_lossy()
                .into_owned(),
        })
    }
    .await;
    proc.stop(Duration::from_secs(5));
    measured.with_context(|| format!("{} (sample {sample})", config.name))
}

/// The configuration's process on a free port, confined by the budget, answering `/healthz`
/// and `/readyz` (the floor: `/healthz`).
async fn start(target: &Target, db: &str) -> Result<(Proc, String)> {
    match target {
        Target::Floor => {
            let floor = crm_harness::floor::start(Runtime::Axum, db).await?;
            Ok((floor.proc, floor.url))
        }
        Target::Service { off } => {
            let config = ServiceConfig::customer_service_alone(Runtime::Axum, db)?;
            // Always set, so a value in this process's environment cannot leak in ("" is
            // unset to the service: every layer on).
            let env = [("CRM_BENCH_LAYERS_OFF".to_string(), off.join(","))];
            let mut proc = stack::spawn_service_with_env(&config, "layers", &env)?;
            for path in ["healthz", "readyz"] {
                let url = format!("{}/{path}", config.url());
                wait_for_200(&url, START_LIMIT, Some(&mut proc)).await?;
            }
            Ok((proc, config.url()))
        }
    }
}

/// "catch_panic off" → "catch_panic-off": a file name.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Each configuration's medians and ranges over the points so far, and its shares of all on
/// and of the floor.
fn summarise(configs: &[Configuration], points: &[Point]) -> Vec<Summary> {
    let of =
        |name: &str| -> Vec<&Point> { points.iter().filter(|p| p.configuration == name).collect() };
    let rps = |name: &str| {
        median(
            &of(name)
                .iter()
                .map(|p| p.throughput_rps)
                .collect::<Vec<_>>(),
        )
    };
    let all_on = rps(ALL_ON);
    let floor = rps(FLOOR);
    let share =
        |v: Option<f64>, base: Option<f64>| v.zip(base.filter(|b| *b > 0.0)).map(|(v, b)| v / b);
    configs
        .iter()
        .map(|config| {
            let points = of(&config.name);
            let rates: Vec<f64> = points.iter().map(|p| p.throughput_rps).collect();
            let cpu: Vec<f64> = points
                .iter()
                .filter_map(|p| p.cpu.stack_us_per_request)
                .collect();
            let throughput = median(&rates);
            let (target, layers_off) = match &config.target {
                Target::Service { off } => ("customer-service", off.clone()),
                Target::Floor => ("axum-floor", Vec::new()),
            };
            Summary {
                name: config.name.clone(),
                target,
                layers_off,
                samples: points.len(),
                throughput_rps: throughput,
                throughput_range: range(&rates),
                share_of_all_on: share(throughput, all_on),
                share_of_floor: share(throughput, floor),
                cpu_us_per_request: median(&cpu),
                cpu_us_per_request_range: range(&cpu),
                errors: points.iter().map(|p| p.errors).sum(),
                saturated_samples: points
                    .iter()
                    .filter(|p| p.cpu.saturated.iter().any(|s| s == "stack"))
                    .count(),
                stack_cores: median_of(&points, |c| c.stack_cores),
                generator_cpus_busy: median_of(&points, |c| c.generator_cpus_busy),
            }
        })
        .collect()
}

/// The median of one CPU figure over some points.
fn median_of(points: &[&Point], figure: impl Fn(&StepCpu) -> Option<f64>) -> Option<f64> {
    median(
        &points
            .iter()
            .filter_map(|p| figure(&p.cpu))
            .collect::<Vec<_>>(),
    )
}

/// The table on stdout: one row per configuration; then a note per row with errors, and one
/// naming the rows whose service core was never saturated (their rates are then not their
/// CPU's).
fn table(rows: &[Summary]) -> Vec<String> {
    let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("?".to_string(), f);
    let mut lines = vec![format!(
        "{:<20} {:>8} {:>15} {:>9} {:>9} {:>11} {:>11}",
        "configuration", "req/s", "range", "÷ all on", "÷ floor", "CPU µs/req", "range"
    )];
    let mut notes = Vec::new();
    for r in rows {
        let pair = |range: Option<(f64, f64)>, decimals: usize| {
            range.map_or("".to_string(), |(lo, hi)| {
                format!("{lo:.decimals$}–{hi:.decimals$}")
            })
        };
        lines.push(format!(
            "{:<20} {:>8} {:>15} {:>9} {:>9} {:>11} {:>11}",
            r.name,
            opt(r.throughput_rps, &|v| format!("{v:.0}")),
            pair(r.throughput_range, 0),
            opt(r.share_of_all_on, &|v| format!("{:.1} %", v * 100.0)),
            opt(r.share_of_floor, &|v| format!("{:.1} %", v * 100.0)),
            opt(r.cpu_us_per_request, &|v| format!("{v:.1}")),
            pair(r.cpu_us_per_request_range, 1),
        ));
        if r.errors > 0.0 {
            notes.push(format!("note: {}: {} errors", r.name, r.errors));
        }
    }
    let unsaturated: Vec<&Summary> = rows
        .iter()
        .filter(|r| r.samples > 0 && r.saturated_samples == 0)
        .collect();
    if !unsaturated.is_empty() {
        let percent = |v: Option<f64>| v.map_or("?".into(), |v| format!("{:.0} %", v * 100.0));
        let names: Vec<String> = unsaturated
            .iter()
            .map(|r| {
                format!(
                    "{} ({} of its core; generator CPUs {} busy)",
                    r.name,
                    percent(r.stack_cores),
                    percent(r.generator_cpus_busy)
                )
            })
            .collect();
        let which = if unsaturated.len() == rows.len() {
            "was never saturated (≥ 90 %)".to_string()
        } else {
            format!(
                "was not saturated (≥ 90 %) in {} configuration(s)",
                unsaturated.len()
            )
        };
        notes.push(format!(
            "note: the service's core {which}: the rate is bounded \
             elsewhere (wrk and Postgres on the generator's CPUs, latency at {WRK_CONNECTIONS} \
             connections, other load); read the CPU per request there, not the req/s: {}",
            names.join(", ")
        ));
    }
    lines.extend(notes);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(configuration: &str, rps: f64, us: f64) -> Point {
        Point {
            configuration: configuration.into(),
            sample: 1,
            requests: rps * 5.0,
            duration_s: 5.0,
            throughput_rps: rps,
            p50_ms: None,
            p99_ms: None,
            errors: 0.0,
            cpu: StepCpu {
                stack_us_per_request: Some(us),
                saturated: vec!["stack".into()],
                ..StepCpu::default()
            },
            log: String::new(),
        }
    }

    #[test]
    fn configurations_are_all_on_each_layer_alone_all_off_and_the_floor() {
        let configs = configurations();
        assert_eq!(configs.len(), LAYERS.len() + 3);
        assert_eq!(configs[0].name, ALL_ON);
        assert_eq!(configs[0].target, Target::Service { off: Vec::new() });
        assert_eq!(
            configs[5].target,
            Target::Service {
                off: vec!["catch_panic"]
            }
        );
        assert_eq!(configs[5].name, "catch_panic off");
        assert_eq!(
            configs[LAYERS.len() + 1].target,
            Target::Service {
                off: LAYERS.to_vec()
            }
        );
        assert_eq!(configs.last().unwrap().target, Target::Floor);
        assert_eq!(slug("catch_panic off"), "catch_panic-off");
        assert_eq!(slug(ALL_ON), "all-layers-on");
    }

    #[test]
    fn medians_ranges_and_shares() {
        let configs = configurations();
        let points = vec![
            point(ALL_ON, 1000.0, 100.0),
            point("trace off", 1100.0, 90.0),
            point(FLOOR, 2000.0, 50.0),
            point(ALL_ON, 1200.0, 80.0),
            point("trace off", 1300.0, 70.0),
            point(FLOOR, 2000.0, 50.0),
        ];
        let rows = summarise(&configs, &points);
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
        assert_eq!(row(ALL_ON).throughput_rps, Some(1100.0));
        assert_eq!(row(ALL_ON).throughput_range, Some((1000.0, 1200.0)));
        assert_eq!(row(ALL_ON).share_of_all_on, Some(1.0));
        assert_eq!(row(ALL_ON).share_of_floor, Some(0.55));
        assert_eq!(row("trace off").share_of_all_on, Some(1200.0 / 1100.0));
        assert_eq!(row("trace off").cpu_us_per_request, Some(80.0));
        assert_eq!(row(FLOOR).throughput_range, None);
        assert_eq!(row(FLOOR).layers_off, Vec::<&str>::new());
        let unmeasured = row("metrics off");
        assert_eq!((unmeasured.samples, unmeasured.throughput_rps), (0, None));
        let lines = table(&rows);
        assert_eq!(lines.len(), 1 + configs.len());
        assert!(
            lines[1].contains("1100") && lines[1].contains("100.0 %"),
            "{}",
            lines[1]
        );
    }
}
