//! `crm-bench run`: the main job, the side-by-side benchmark on this machine, no cluster.
//! Axum (native release binaries) against the Spin components on the real Spin CLI, measured
//! one after the other with the same k6 scripts, data and settings, ending in
//! `results/<UTC timestamp>/report.md` with SVG charts.
//!
//! Per stack: a fresh database with the same seed rows, cold starts (every process started at
//! once, to the first 200 on /healthz and on a database route, as a distribution), idle RSS,
//! the k6 suites (load with RSS/CPU sampling, cpu-bound at several n, scale, error, ping-db),
//! sizes; then summary.json (`crm-bench collect`'s code) and the report. Both stacks are built
//! for speed; the size-optimised Spin build is measured as the `spin-size` variant (variant.rs)
//! after the spin stack. Everything started is stopped at the end, on failure and on Ctrl-C.
//! Method and caveats: docs/benchmark.md.

mod density;
mod measure;
mod progress;
mod settings;
pub mod tooling;
mod variant;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use crm_harness::k6::K6Outcome;
use crm_harness::pg::{self, Server};
use crm_harness::procs;
use crm_harness::sample::{Sample, Sampler};
use crm_harness::stack::{Binaries, Shape, Stack, START_LIMIT, UPSTREAM_TIMEOUT_MS};
use serde_json::Value;

use measure::Suite;
use progress::{clock, Progress};
pub use settings::RunArgs;
use settings::{Label, Settings, SAMPLE_INTERVAL_S};

pub fn execute(args: &RunArgs) -> Result<(), String> {
    let settings = Settings::from_args(args)?;
    let labels: Vec<Label> = {
        let mut seen = BTreeSet::new();
        args.stacks
            .iter()
            .copied()
            .filter(|l| seen.insert(l.name()))
            .collect()
    };
    if labels.is_empty() {
        return Err("nothing to measure (--stacks)".into());
    }
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => crm_harness::repo_root()
            .join("results")
            .join(tooling::utc_stamp()),
    };
    let out = std::path::absolute(&out).map_err(|e| e.to_string())?;
    if out.join("summary.json").exists() {
        return Err(format!("{} already holds a run", out.display()));
    }
    let clean = tooling::block_on_interruptible(run(args, settings, labels, out))
        .map_err(|e| format!("{e:#}"))?;
    if clean {
        Ok(())
    } else {
        Err("the run was not clean (above)".into())
    }
}

/// One step of the plan.
#[derive(Clone, Copy, Debug)]
enum Step {
    Build,
    Environment,
    Database(Label),
    ColdStarts(Label),
    Start(Label),
    Idle(Label),
    Load(Label),
    Compute(Label),
    Scale(Label),
    Errors(Label),
    PingDb(Label),
    /// The floor test's read at the stack's customer-service directly and at its gateway.
    Hop(Label),
    Stop(Label),
    /// The runtime floor of this label's runtime (on its database): the read and /hello.
    Floor(Label),
    Artifacts(Label),
    /// The `spin-size` variant: its gateway alone, the cpu-bound suite.
    SizeCompute,
    /// The `spin-size` variant: its module sizes.
    SizeArtifacts,
    /// N copies of customer-service at once, per layout (density.rs).
    Density,
    Report,
}

impl Step {
    fn label(self) -> Option<Label> {
        match self {
            Step::Build
            | Step::Environment
            | Step::Report
            | Step::SizeCompute
            | Step::SizeArtifacts
            | Step::Density => None,
            Step::Database(l)
            | Step::ColdStarts(l)
            | Step::Start(l)
            | Step::Idle(l)
            | Step::Load(l)
            | Step::Compute(l)
            | Step::Scale(l)
            | Step::Errors(l)
            | Step::PingDb(l)
            | Step::Hop(l)
            | Step::Stop(l)
            | Step::Floor(l)
            | Step::Artifacts(l) => Some(l),
        }
    }

    /// Nothing can be measured without the builds or the environment, nor reported without
    /// the report: the run stops there. Any other step fails alone.
    fn fatal(self) -> bool {
        matches!(self, Step::Build | Step::Environment | Step::Report)
    }
}

/// What the run holds between steps.
struct Run {
    settings: Settings,
    out: PathBuf,
    labels: Vec<Label>,
    no_build: bool,
    axum_bin_dir: Option<PathBuf>,
    k6: PathBuf,
    spin: Option<PathBuf>,
    server: Server,
    databases: BTreeMap<&'static str, String>,
    running: Option<Stack>,
    idle: Vec<Sample>,
    /// The plan, and the sample the current step belongs to.
    plan: Vec<Planned>,
    sample: u32,
    /// Stacks that failed to come up: their later steps would measure nothing.
    down: BTreeSet<&'static str>,
    failures: Vec<String>,
    progress: Progress,
}

/// One entry of the plan: the step, which sample of the k6 figures it belongs to (1 for the
/// steps measured once), what the progress calls it and its estimate in seconds.
#[derive(Clone, Debug)]
struct Planned {
    step: Step,
    sample: u32,
    name: String,
    estimate_s: u64,
}

/// Every step of a run, in order: the builds; per stack its database and cold starts; then the
/// samples, each running every stack's k6 suites in turn (A B A B A B, so that drift over the
/// run hits every stack alike), the floors beside the first stack of each runtime; the sizes
/// and the report last.
fn plan(settings: &Settings, labels: &[Label]) -> Vec<Planned> {
    let mut plan = Vec::new();
    let mut add = |step: Step, sample: u32, name: String, estimate_s: u64| {
        plan.push(Planned {
            step,
            sample,
            name,
            estimate_s,
        })
    };
    add(
        Step::Build,
        1,
        "build (release) — incremental after the first time".into(),
        60,
    );
    add(Step::Environment, 1, "environment".into(), 2);
    for &l in labels {
        let n = l.name();
        add(
            Step::Database(l),
            1,
            format!("{n}: fresh database, seed rows"),
            3,
        );
        let cold = u64::from(settings.cold_runs + 1) * 2;
        let what = format!("{n}: cold starts ({} + a warm-up)", settings.cold_runs);
        add(Step::ColdStarts(l), 1, what, cold);
    }
    for sample in 1..=settings.samples {
        let of = if settings.samples > 1 {
            format!(" [sample {sample}/{}]", settings.samples)
        } else {
            String::new()
        };
        let mut floored = BTreeSet::new();
        for &l in labels {
            for (step, name, estimate) in sample_steps(settings, l, sample) {
                add(step, sample, format!("{name}{of}"), estimate);
            }
            if floored.insert(l.runtime().name()) {
                let what = format!(
                    "{}-floor: the runtime floor, k6 read and /hello",
                    l.runtime().name()
                );
                add(
                    Step::Floor(l),
                    sample,
                    format!("{what}{of}"),
                    floor_estimate(settings),
                );
            }
            if l == Label::Spin && settings.size_variant {
                let what = format!(
                    "{}: the size-optimised gateway alone, k6 cpu-bound at n = {}",
                    variant::LABEL,
                    pairs_text(settings)
                );
                add(
                    Step::SizeCompute,
                    sample,
                    format!("{what}{of}"),
                    compute_estimate(settings) + 3,
                );
            }
        }
    }
    for &l in labels.iter().filter(|l| l.full_suite()) {
        add(
            Step::Artifacts(l),
            1,
            format!("{}: artifact sizes", l.name()),
            1,
        );
        if l == Label::Spin && settings.size_variant {
            add(
                Step::SizeArtifacts,
                1,
                format!("{}: artifact sizes", variant::LABEL),
                1,
            );
        }
    }
    let with_spin = labels
        .iter()
        .any(|l| l.runtime() == crm_harness::stack::Runtime::Spin);
    if let Some((name, estimate)) = density::plan_entry(settings, with_spin) {
        add(Step::Density, 1, name, estimate);
    }
    add(Step::Report, 1, "summary.json and report".into(), 3);
    plan
}

fn pairs_text(settings: &Settings) -> String {
    settings
        .compute_pairs
        .iter()
        .map(|(i, r)| format!("{i}:{r}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn compute_estimate(settings: &Settings) -> u64 {
    let s = Settings::secs;
    let cpu = 2 * (s(&settings.compute_duration) + s(&settings.scenario_gap)) + 3;
    settings.compute_pairs.len() as u64 * cpu
}

/// The floor test's two scenarios, read and hello.
fn floor_estimate(settings: &Settings) -> u64 {
    let s = Settings::secs;
    2 * (s(&settings.duration) + s(&settings.scenario_gap)) + 5
}

/// One stack's steps in one sample: started, measured, stopped.
fn sample_steps(settings: &Settings, l: Label, sample: u32) -> Vec<(Step, String, u64)> {
    let s = Settings::secs;
    let (d, gap) = (s(&settings.duration), s(&settings.scenario_gap));
    let one = d + gap + 3;
    let n = l.name();
    let mut steps = vec![(Step::Start(l), format!("{n}: start the stack"), 3)];
    if sample == 1 {
        let what = format!("{n}: idle RSS ({}s)", settings.idle_seconds);
        steps.push((Step::Idle(l), what, settings.idle_seconds + 1));
    }
    let rss = if sample == 1 { " + RSS under load" } else { "" };
    steps.push((
        Step::Load(l),
        format!(
            "{n}: k6 load (read, write, inter_service, mixed; {} VUs × {}){rss}",
            settings.vus, settings.duration
        ),
        4 * (d + gap) + 5,
    ));
    if l.full_suite() {
        let pairs = pairs_text(settings);
        steps.push((
            Step::Compute(l),
            format!("{n}: k6 cpu-bound at n = {pairs}"),
            compute_estimate(settings),
        ));
        let scale = settings.scale_level_count()
            * (s(&settings.level_duration) + s(&settings.level_gap))
            + 4;
        steps.push((
            Step::Scale(l),
            format!(
                "{n}: k6 scale (clients {} × {})",
                settings.scale_levels, settings.level_duration
            ),
            scale,
        ));
        steps.push((Step::Errors(l), format!("{n}: k6 error paths"), one));
        steps.push((Step::PingDb(l), format!("{n}: k6 ping-db"), one));
    }
    let targets = if l.shape() == Shape::Services { 2 } else { 1 };
    steps.push((
        Step::Hop(l),
        format!("{n}: k6 floor-test read, customer-service directly and through the gateway"),
        targets * one,
    ));
    steps.push((Step::Stop(l), format!("{n}: stop"), 1));
    steps
}

async fn run(args: &RunArgs, settings: Settings, labels: Vec<Label>, out: PathBuf) -> Result<bool> {
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    procs::set_log_dir(&out.join("logs"))?;
    let k6 = crm_harness::k6::ensure_k6()?;
    let spin = if labels
        .iter()
        .any(|l| l.runtime() == crm_harness::stack::Runtime::Spin)
    {
        Some(tooling::spin_cli()?)
    } else {
        None
    };
    let server = Server::find_or_start().await?;
    let steps = plan(&settings, &labels);
    let mut run = Run {
        progress: Progress::new(steps.iter().map(|p| p.estimate_s).collect()),
        sample: 1,
        plan: steps.clone(),
        settings,
        out,
        labels,
        no_build: args.no_build,
        axum_bin_dir: args.axum_bin_dir.clone(),
        k6,
        spin,
        server,
        databases: BTreeMap::new(),
        running: None,
        idle: Vec::new(),
        down: BTreeSet::new(),
        failures: Vec::new(),
    };
    run.progress.say(&format!(
        "crm-bench run: {} steps, stacks {}{}; Postgres {}; results in {}",
        steps.len(),
        run.labels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(", "),
        if run.settings.samples > 1 {
            format!(
                " ({} samples of every k6 figure, the stacks interleaved)",
                run.settings.samples
            )
        } else {
            " (one sample per figure, indicative only)".to_string()
        },
        run.server.describe(),
        run.out.display()
    ));
    let outcome = run.all(&steps).await;
    if let Some(mut stack) = run.running.take() {
        stack.stop(Duration::from_secs(5));
    }
    run.server.cleanup().await;
    run.progress.finish();
    outcome?;
    let took = clock(run.progress.total_elapsed().as_secs());
    eprintln!(
        "\ncrm-bench run: done in {took}; results in {}",
        run.out.display()
    );
    let report = run.out.join("report.md");
    if report.exists() {
        eprintln!("  report: {} (charts in charts/)", report.display());
    }
    for failure in &run.failures {
        eprintln!("  not clean: {failure}");
    }
    Ok(run.failures.is_empty())
}

impl Run {
    async fn all(&mut self, steps: &[Planned]) -> Result<()> {
        for Planned {
            step, sample, name, ..
        } in steps
        {
            self.sample = *sample;
            self.progress.step(name);
            let label = step.label();
            let skip = label.is_some_and(|l| self.down.contains(l.name()))
                && !matches!(step, Step::Stop(_) | Step::Artifacts(_));
            if skip {
                self.progress.say(&format!(
                    "skipped: {name} ({} is not running)",
                    label.map_or("", Label::name)
                ));
            } else if let Err(e) = self.one(*step).await {
                if step.fatal() {
                    return Err(e.context(format!("cannot go on without: {name}")));
                }
                self.progress.say(&format!("FAILED: {name}: {e:#}"));
                self.failures.push(name.clone());
                // Without its database or its processes, a stack's later steps would
                // measure nothing.
                let stack_down = matches!(
                    step,
                    Step::Database(_) | Step::Start(_) | Step::ColdStarts(_)
                );
                if let Some(label) = label.filter(|_| stack_down) {
                    self.down.insert(label.name());
                    if let Some(mut stack) = self.running.take() {
                        stack.stop(Duration::from_secs(5));
                    }
                }
            }
            self.progress.step_done();
        }
        Ok(())
    }

    fn dir(&self, label: Label) -> PathBuf {
        self.out.join(label.name())
    }

    fn say(&self, label: Label, what: &str, line: &str) {
        self.say_as(label.name(), what, line);
    }

    fn say_as(&self, name: &str, what: &str, line: &str) {
        self.progress.say(&format!("{name} {what}: {line}"));
    }

    async fn one(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Build => self.build(),
            Step::Environment => self.environment(),
            Step::Database(l) => self.database(l).await,
            Step::ColdStarts(l) => {
                let db = self.database_of(l)?;
                let dir = self.dir(l);
                let line =
                    measure::cold_starts(l, &db, self.settings.cold_runs, &dir, &mut self.progress)
                        .await?;
                self.say(l, "cold start", &line);
                Ok(())
            }
            Step::Start(l) => {
                let db = self.database_of(l)?;
                let mut stack = Stack::spawn(l.runtime(), l.shape(), &db, UPSTREAM_TIMEOUT_MS)?;
                stack.wait_ready(START_LIMIT).await?;
                self.say(l, "up", &format!("gateway {}", stack.gateway_url));
                self.running = Some(stack);
                Ok(())
            }
            Step::Idle(_) => {
                let stack = self.running.as_ref().context("the stack is not running")?;
                self.idle = measure::idle(stack, self.settings.idle_seconds).await;
                Ok(())
            }
            Step::Load(l) => self.load(l).await,
            Step::Compute(l) => self.compute(l).await,
            Step::Scale(l) => {
                let est = self.estimate_of(step);
                let suite = Suite {
                    test: "scale",
                    suffix: String::new(),
                    sample: self.sample,
                    estimate_s: est,
                    env: vec![
                        ("SCALE_LEVELS".into(), self.settings.scale_levels.clone()),
                        (
                            "LEVEL_DURATION".into(),
                            self.settings.level_duration.clone(),
                        ),
                        ("LEVEL_GAP".into(), self.settings.level_gap.clone()),
                    ],
                };
                self.suite(l, &suite).await
            }
            Step::Errors(l) | Step::PingDb(l) => {
                let test = if matches!(step, Step::Errors(_)) {
                    "error"
                } else {
                    "ping-db"
                };
                let suite = Suite {
                    test,
                    suffix: String::new(),
                    sample: self.sample,
                    estimate_s: self.estimate_of(step),
                    env: Vec::new(),
                };
                self.suite(l, &suite).await
            }
            Step::Stop(l) => {
                if let Some(mut stack) = self.running.take() {
                    stack.stop(Duration::from_secs(5));
                    self.say(l, "stopped", "every process of the stack");
                }
                Ok(())
            }
            Step::Hop(l) => self.hop(l).await,
            Step::Floor(l) => self.floor(l).await,
            Step::Artifacts(l) => self.artifacts(l),
            Step::SizeCompute => self.size_compute().await,
            Step::SizeArtifacts => self.size_artifacts(),
            Step::Density => self.density().await,
            Step::Report => self.report(),
        }
    }

    fn estimate_of(&self, step: Step) -> u64 {
        let key = format!("{step:?}");
        self.plan
            .iter()
            .find(|p| p.sample == self.sample && format!("{:?}", p.step) == key)
            .map_or(60, |p| p.estimate_s)
    }

    /// The size variant is asked for and the spin stack, which it sits beside, is measured.
    fn measures_size_variant(&self) -> bool {
        self.settings.size_variant && self.labels.contains(&Label::Spin)
    }

    fn database_of(&self, label: Label) -> Result<String> {
        self.databases
            .get(label.name())
            .cloned()
            .context("no database for this stack")
    }

    /// Where the Axum binaries measured are: `--axum-bin-dir`, else the release build.
    fn axum_dir(&self) -> PathBuf {
        self.axum_bin_dir
            .clone()
            .unwrap_or_else(|| tooling::target_dir().join("release"))
    }

    fn build(&mut self) -> Result<()> {
        let logs = procs::log_dir();
        if self.no_build {
            self.progress.say("--no-build: using the binaries as built");
        } else if let Some(dir) = &self.axum_bin_dir {
            self.progress.say(&format!(
                "--axum-bin-dir: the Axum services and floor as built in {}",
                dir.display()
            ));
        } else {
            let mut cargo = Command::new("cargo");
            cargo.args(["build", "--release", "--locked"]);
            // The Axum floor too (the floors section; spin-crm's floor is built with the
            // components by build-wasm.sh).
            for svc in [
                "axum-gateway",
                "axum-customer-service",
                "axum-order-service",
                "axum-floor",
            ] {
                cargo.args(["-p", svc]);
            }
            cargo.current_dir(crm_harness::repo_root());
            self.progress.say(&format!(
                "cargo build --release (the Axum services and floor; target {})",
                tooling::target_dir().display()
            ));
            tooling::build("cargo build --release", cargo, &logs.join("build.log"))?;
        }
        if !self.no_build {
            if self.spin.is_some() {
                self.progress
                    .say("scripts/build-wasm.sh (the Spin components)");
                let mut wasm = Command::new(crm_harness::repo_root().join("scripts/build-wasm.sh"));
                wasm.current_dir(crm_harness::repo_root());
                tooling::build("scripts/build-wasm.sh", wasm, &logs.join("build-wasm.log"))?;
            }
            if self.measures_size_variant() {
                self.progress.say(&format!(
                    "scripts/build-wasm.sh --size {} (the {} variant)",
                    variant::wasm_dir().display(),
                    variant::LABEL
                ));
                tooling::build(
                    "scripts/build-wasm.sh --size",
                    variant::build_command(),
                    &logs.join("build-wasm-size.log"),
                )?;
            }
        }
        Binaries {
            axum_dir: self.axum_dir(),
            spin: self.spin.clone(),
            spin_dir: crm_harness::repo_root().join("spin-crm"),
        }
        .install();
        for l in &self.labels {
            Binaries::current().check(l.runtime())?;
        }
        Ok(())
    }

    fn environment(&mut self) -> Result<()> {
        let s = &self.settings;
        let spin_column = self.spin.as_ref().map(|spin| {
            format!(
                "{} ({}); spin = three `spin up` (one per service manifest), spin-combined = one \
                 `spin up` of spin-crm/spin.toml{}",
                tooling::spin_version(spin),
                spin.display(),
                if self.measures_size_variant() {
                    format!(
                        ", {} = the size-optimised build of the same components (opt-level \
                         \"s\", wasm-opt -Oz; the headline columns are built for speed): its \
                         module sizes and /compute on its gateway alone",
                        variant::LABEL
                    )
                } else {
                    String::new()
                }
            )
        });
        let cluster_pins = crm_harness::repo_root().join("scripts/lib/cluster.sh");
        let pins_text = std::fs::read_to_string(&cluster_pins).unwrap_or_default();
        let pin = |name: &str| -> Value {
            pins_text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}=\"")))
                .and_then(|rest| rest.split('"').next())
                .map_or(Value::Null, |v| Value::String(v.to_string()))
        };
        let mut pins = BTreeMap::new();
        pins.insert("spin_cli".to_string(), pin("SPIN_CLI_VERSION"));
        pins.insert("spin_sdk".to_string(), pin("SPIN_SDK_VERSION"));
        pins.insert(
            "postgres_image".to_string(),
            Value::String(format!(
                "{} (k3d only)",
                pin("POSTGRES_IMAGE").as_str().unwrap_or("?")
            )),
        );
        let pairs = s
            .compute_pairs
            .iter()
            .map(|(i, r)| format!("{i}:{r}"))
            .collect::<Vec<_>>()
            .join(" ");
        let labels = self
            .labels
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>()
            .join(" ");
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let settings: BTreeMap<String, Value> = [
            ("stacks", labels),
            ("spin_column", spin_column.unwrap_or_default()),
            ("quick", u8::from(s.quick).to_string()),
            ("vus", s.vus.to_string()),
            ("duration", s.duration.clone()),
            ("scenario_gap", s.scenario_gap.clone()),
            ("scale_levels", s.scale_levels.clone()),
            ("level_duration", s.level_duration.clone()),
            ("compute_pairs", pairs),
            ("compute_duration", s.compute_duration.clone()),
            ("coldstart_runs", format!("{} (+1 warm-up)", s.cold_runs)),
            (
                "seed_rows",
                format!(
                    "{}:{} (customers:orders, SQL generate_series)",
                    s.seed_customers, s.seed_orders
                ),
            ),
            (
                "k6_seed",
                format!(
                    "{} customers, {} orders (through the API)",
                    s.k6_seed_customers, s.k6_seed_orders
                ),
            ),
            (
                "build",
                match &self.axum_bin_dir {
                    None => "for speed on both sides: cargo --release, opt-level 3 (axum-crm); \
                             wasm32-wasip1 release, opt-level 3, then wasm-opt -O3 (spin-crm)"
                        .into(),
                    Some(dir) => format!(
                        "axum-crm: the binaries in {} as they were built (--axum-bin-dir; not \
                         necessarily a release build: figures only check the pipeline); \
                         spin-crm: wasm32-wasip1 release, opt-level 3, then wasm-opt -O3",
                        dir.display()
                    ),
                },
            ),
            (
                "size_variant",
                if self.measures_size_variant() {
                    format!(
                        "{}: spin-crm's release-size profile (opt-level \"s\") + wasm-opt -Oz; \
                         module sizes and the cpu-bound suite on its gateway alone",
                        variant::LABEL
                    )
                } else if s.size_variant {
                    "not measured (the spin stack is not in this run)".into()
                } else {
                    "not measured (--quick or --no-size-variant; --size-variant adds it)".into()
                },
            ),
            (
                "db_pool_max_axum",
                std::env::var("DB_POOL_MAX").unwrap_or_else(|_| "5 (default)".into()),
            ),
            (
                "postgres_server",
                pg::hide_password(self.server.admin_url()),
            ),
            (
                "cpu_sharing",
                format!(
                    "k6 and the stack share {cores} cores; stacks measured one after the other"
                ),
            ),
            (
                "samples_per_figure",
                if s.samples > 1 {
                    format!(
                        "{} (every k6 suite, the stacks interleaved; figures are medians)",
                        s.samples
                    )
                } else {
                    "1 (indicative only)".into()
                },
            ),
            (crate::collect::DENSITY_SETTING, density::setting(s)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
        let env = crate::envinfo::environment("local", pins, settings);
        crate::collect::write_json(&self.out.join("environment.json"), &env)
            .map_err(anyhow::Error::msg)?;
        Ok(())
    }

    async fn database(&mut self, label: Label) -> Result<()> {
        let dir = self.dir(label);
        std::fs::create_dir_all(&dir)?;
        let prefix = format!("crm_bench_{}", label.name().replace('-', "_"));
        let url = self.server.create_database(&prefix).await?;
        pg::migrate(&url).await?;
        let counts = pg::seed(
            &url,
            self.settings.seed_customers,
            self.settings.seed_orders,
        )
        .await?;
        std::fs::write(dir.join("seed.txt"), format!("{counts}\n"))?;
        self.say(label, "fresh database", &counts);
        self.databases.insert(label.name(), url);
        Ok(())
    }

    async fn suite(&mut self, label: Label, suite: &Suite<'_>) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let url = stack.gateway_url.clone();
        self.suite_at(label.name(), &url, &self.dir(label), suite)
            .await
    }

    /// A k6 suite against the gateway at `url`, its files in `dir`, said and judged as the
    /// stack `name`'s.
    async fn suite_at(
        &mut self,
        name: &str,
        url: &str,
        dir: &Path,
        suite: &Suite<'_>,
    ) -> Result<()> {
        let outcome = measure::k6_suite(
            &self.k6,
            url,
            &self.settings,
            suite,
            dir,
            &mut self.progress,
        )
        .await?;
        let what = format!("k6 {}{}", suite.test, suite.suffix);
        let log = suite.log_path(dir);
        let headline = measure::k6_headline(&suite.summary_path(dir)).unwrap_or_default();
        match outcome {
            K6Outcome::Passed => self.say_as(name, &what, &headline),
            K6Outcome::ThresholdsCrossed => {
                self.say_as(
                    name,
                    &what,
                    &format!(
                        "{headline} — thresholds crossed (figures kept, flagged in the report; \
                         log {})",
                        log.display()
                    ),
                );
                self.failures.push(format!("{name} {what} (thresholds)"));
            }
            K6Outcome::Failed(_) | K6Outcome::TimedOut => {
                bail!("{what}: {outcome:?} (log {})", log.display());
            }
        }
        Ok(())
    }

    /// The load suite; in the first sample with the stack's RSS and CPU sampled meanwhile
    /// (memory is read once: the samples are for the k6 figures).
    async fn load(&mut self, label: Label) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let sampler = (self.sample == 1)
            .then(|| Sampler::start(stack.pids(), Duration::from_secs_f64(SAMPLE_INTERVAL_S)));
        let suite = Suite {
            test: "load",
            suffix: String::new(),
            sample: self.sample,
            estimate_s: self.estimate_of(Step::Load(label)),
            env: Vec::new(),
        };
        let outcome = self.suite(label, &suite).await;
        if let Some(sampler) = sampler {
            let load = sampler.finish();
            let line = measure::write_resources(label, &self.dir(label), &self.idle, &load)?;
            self.say(label, "memory", &line);
        }
        outcome
    }

    /// The floor test's read against the running stack's customer-service (services shape)
    /// and its gateway: with the floor's, the stack's cost over its floor and the gateway hop.
    async fn hop(&mut self, label: Label) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let mut targets = Vec::new();
        if let Some(cs) = &stack.customer_service {
            targets.push((format!("{}-direct", label.name()), cs.url()));
        }
        targets.push((
            format!("{}-gateway", label.name()),
            stack.gateway_url.clone(),
        ));
        let estimate = self.estimate_of(Step::Hop(label)) / targets.len() as u64;
        for (target, url) in targets {
            self.floor_suite(&target, &url, "read", estimate).await?;
        }
        Ok(())
    }

    /// The runtime floor of `label`'s runtime on `label`'s database: started, the floor test's
    /// read and hello, stopped.
    async fn floor(&mut self, label: Label) -> Result<()> {
        let db = self.database_of(label)?;
        let runtime = label.runtime();
        let floor = crm_harness::floor::start(runtime, &db).await?;
        let target = format!("{}-floor", runtime.name());
        let estimate = self.estimate_of(Step::Floor(label));
        let outcome = self
            .floor_suite(&target, &floor.url, "read,hello", estimate)
            .await;
        // Stopped before anything else is measured, whatever the outcome.
        drop(floor);
        outcome
    }

    /// The floor test (tests/k6/floor-test.js) against `url`, filed under floors/`target`.
    async fn floor_suite(
        &mut self,
        target: &str,
        url: &str,
        scenarios: &str,
        estimate_s: u64,
    ) -> Result<()> {
        let dir = self.out.join(crate::collect::FLOORS).join(target);
        std::fs::create_dir_all(&dir)?;
        let ids = self.settings.seed_customers.min(100);
        let suite = Suite {
            test: "floor",
            suffix: String::new(),
            sample: self.sample,
            estimate_s,
            env: vec![
                ("FLOOR_SCENARIOS".into(), scenarios.into()),
                ("FLOOR_IDS".into(), ids.to_string()),
            ],
        };
        self.suite_at(target, url, &dir, &suite).await
    }

    async fn compute(&mut self, label: Label) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let url = stack.gateway_url.clone();
        let estimate = self.estimate_of(Step::Compute(label));
        self.compute_at(label.name(), &url, &self.dir(label), estimate)
            .await
    }

    /// The cpu-bound suite at every n pair against the gateway at `url`, then compute.json.
    async fn compute_at(
        &mut self,
        name: &str,
        url: &str,
        dir: &Path,
        estimate_s: u64,
    ) -> Result<()> {
        let per_pair = estimate_s / self.settings.compute_pairs.len().max(1) as u64;
        let mut measured = false;
        for suite in measure::compute_suites(&self.settings, per_pair, self.sample) {
            match self.suite_at(name, url, dir, &suite).await {
                Ok(()) => measured = true,
                Err(e) => {
                    self.progress.say(&format!("FAILED: {e:#}"));
                    self.failures
                        .push(format!("{name} k6 cpu-bound{}", suite.suffix));
                }
            }
        }
        if !measured {
            bail!("no cpu-bound run produced figures");
        }
        // compute.json from every sample so far: each pair's first file and the samples
        // beside it.
        let firsts: Vec<PathBuf> = measure::compute_suites(&self.settings, per_pair, 1)
            .iter()
            .map(|suite| suite.summary_path(dir))
            .filter(|path| path.exists())
            .collect();
        let line = measure::write_compute(name, dir, &firsts)?;
        self.say_as(name, "compute", &line);
        Ok(())
    }

    /// The size variant's /compute: its gateway alone under `spin up`, from a copy of the
    /// gateway manifest (in the results folder) whose component is the size-optimised module.
    async fn size_compute(&mut self) -> Result<()> {
        let name = variant::LABEL;
        let dir = self.out.join(name);
        std::fs::create_dir_all(&dir)?;
        let manifest = variant::write_gateway_manifest(&dir, &variant::wasm_dir())?;
        let (gateway, url) = variant::start_gateway(&manifest).await?;
        self.say_as(
            name,
            "up",
            &format!("gateway alone {url} ({})", manifest.display()),
        );
        let estimate = self.estimate_of(Step::SizeCompute);
        let outcome = self.compute_at(name, &url, &dir, estimate).await;
        // Stopped before the next stack is measured, whatever the outcome.
        drop(gateway);
        outcome
    }

    fn size_artifacts(&mut self) -> Result<()> {
        let artifacts = variant::artifacts(&variant::wasm_dir(), self.spin.as_deref());
        self.write_artifacts(variant::LABEL, &artifacts)
    }

    fn artifacts(&mut self, label: Label) -> Result<()> {
        let bins = Binaries::current();
        let artifacts = match label.runtime() {
            crm_harness::stack::Runtime::Axum => crate::artifacts::axum_binaries(&bins.axum_dir),
            crm_harness::stack::Runtime::Spin => {
                crate::artifacts::spin_wasm(&crm_harness::repo_root(), bins.spin.as_deref())
            }
        };
        self.write_artifacts(label.name(), &artifacts)
    }

    fn write_artifacts(&self, name: &str, artifacts: &crate::model::Artifacts) -> Result<()> {
        let dir = self.out.join(name);
        std::fs::create_dir_all(&dir)?;
        crate::collect::write_json(&dir.join("artifacts.json"), artifacts)
            .map_err(anyhow::Error::msg)?;
        let gateway = artifacts
            .items
            .get("gateway")
            .and_then(|i| i.as_ref()?.bytes)
            .map_or(String::new(), |b| {
                format!(" (gateway {:.0} KiB)", b / 1024.0)
            });
        let total = artifacts.total_bytes.map_or("unknown".into(), |t| {
            format!("{:.1} MiB in all{gateway}", t / 1048576.0)
        });
        self.say_as(name, "sizes", &total);
        Ok(())
    }

    fn report(&mut self) -> Result<()> {
        let summary = crate::collect::write_summary(&self.out).map_err(anyhow::Error::msg)?;
        self.progress.say(&format!(
            "summary.json written{}",
            if summary.problems.is_empty() {
                String::new()
            } else {
                format!(" ({} problem(s) recorded)", summary.problems.len())
            }
        ));
        crate::run_report(&self.out, None).map_err(anyhow::Error::msg)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    /// The plan's step names for these arguments.
    fn steps(args: &[&str]) -> Vec<String> {
        let cli = Cli::try_parse_from(std::iter::once("crm-bench").chain(args.iter().copied()))
            .expect("valid arguments");
        let settings = Settings::from_args(&cli.run).expect("valid settings");
        plan(&settings, &cli.run.stacks)
            .into_iter()
            .map(|p| p.name)
            .collect()
    }

    #[test]
    fn the_size_variant_follows_the_spin_stack_when_it_is_measured() {
        let full = steps(&[]);
        let at = |name: &str| full.iter().position(|s| s.starts_with(name));
        let variant = at("spin-size: the size-optimised gateway alone").expect("in a full run");
        // In each sample right after the spin stack and its floor, before spin-combined.
        assert!(full[variant - 1].starts_with("spin-floor: the runtime floor"));
        assert!(full[variant + 1].starts_with("spin-combined: start the stack"));
        let sizes = at("spin-size: artifact sizes").unwrap();
        assert_eq!(at("spin: artifact sizes"), Some(sizes - 1));
        let has_variant = |args: &[&str]| steps(args).iter().any(|s| s.starts_with("spin-size"));
        assert!(!has_variant(&["--quick"]));
        assert!(has_variant(&["--quick", "--size-variant"]));
        assert!(!has_variant(&["--no-size-variant"]));
        // It sits beside the spin stack: without it, nothing to set it against.
        assert!(!has_variant(&["--stacks", "axum,spin-combined"]));
    }

    #[test]
    fn samples_interleave_the_stacks_and_the_floors_sit_beside_their_runtime() {
        let settings = Settings {
            samples: 3,
            ..quick()
        };
        let steps = plan(&settings, &[Label::Axum, Label::Spin, Label::SpinCombined]);
        let loads: Vec<(String, u32)> = steps
            .iter()
            .filter(|p| matches!(p.step, Step::Load(_)))
            .map(|p| (format!("{:?}", p.step), p.sample))
            .collect();
        let expected: Vec<(String, u32)> = (1..=3)
            .flat_map(|r| {
                ["Load(Axum)", "Load(Spin)", "Load(SpinCombined)"].map(|s| (s.to_string(), r))
            })
            .collect();
        assert_eq!(loads, expected);
        // Cold starts once per stack, before the samples; idle RSS in the first sample only.
        let count = |name: &str| {
            steps
                .iter()
                .filter(|p| format!("{:?}", p.step) == name)
                .count()
        };
        assert_eq!(count("ColdStarts(Spin)"), 1);
        assert_eq!(count("Idle(Axum)"), 1);
        assert_eq!(count("Hop(SpinCombined)"), 3);
        // One floor per runtime per sample, right after that runtime's first stack.
        assert_eq!(count("Floor(Axum)"), 3);
        assert_eq!(count("Floor(Spin)"), 3);
        assert_eq!(count("Floor(SpinCombined)"), 0);
        let at = |name: &str| steps.iter().position(|p| format!("{:?}", p.step) == name);
        assert_eq!(at("Floor(Axum)"), at("Stop(Axum)").map(|i| i + 1));
        assert!(steps
            .iter()
            .filter(|p| p.sample == 2)
            .all(|p| p.name.ends_with("[sample 2/3]")));
    }

    pub(super) fn quick() -> Settings {
        Settings {
            quick: true,
            samples: 1,
            vus: 4,
            duration: "3s".into(),
            scenario_gap: "500ms".into(),
            scale_levels: "1,4,8".into(),
            level_duration: "3s".into(),
            level_gap: "500ms".into(),
            compute_pairs: vec![(100_000, 20), (1_000_000, 25)],
            compute_duration: "3s".into(),
            cold_runs: 3,
            idle_seconds: 3,
            seed_customers: 10,
            seed_orders: 10,
            k6_seed_customers: 4,
            k6_seed_orders: 2,
            size_variant: false,
            density_counts: vec![1, 2],
        }
    }

    #[test]
    fn density_comes_after_every_stack_and_before_the_report() {
        let full = steps(&[]);
        let density = full.len() - 2;
        assert!(
            full[density].starts_with("density: N = 1, 5, 10, 20"),
            "{full:?}"
        );
        assert_eq!(full[density + 1], "summary.json and report");
        let quick = steps(&["--quick", "--stacks", "axum"]);
        assert!(quick
            .iter()
            .any(|s| s.starts_with("density: N = 1, 2 ") && !s.contains("spin")));
        let off = steps(&["--density-counts", "0"]);
        assert!(!off.iter().any(|s| s.starts_with("density")));
    }

    #[test]
    fn the_plan_gives_the_variant_row_only_its_steps() {
        let steps = plan(&quick(), &[Label::Axum, Label::SpinCombined]);
        let names: Vec<String> = steps.iter().map(|p| format!("{:?}", p.step)).collect();
        assert_eq!(names.first().map(String::as_str), Some("Build"));
        assert_eq!(names.last().map(String::as_str), Some("Report"));
        for step in [
            "Compute(Axum)",
            "Scale(Axum)",
            "Artifacts(Axum)",
            "Load(SpinCombined)",
        ] {
            assert!(
                names.iter().any(|n| n == step),
                "{step} missing from {names:?}"
            );
        }
        for step in [
            "Compute(SpinCombined)",
            "Scale(SpinCombined)",
            "Artifacts(SpinCombined)",
        ] {
            assert!(!names.iter().any(|n| n == step), "{step} planned");
        }
        // Estimates: the load step covers four scenarios of 3 s plus their gaps.
        let load = steps
            .iter()
            .find(|p| matches!(p.step, Step::Load(Label::Axum)));
        assert_eq!(load.map(|p| p.estimate_s), Some(4 * (3 + 1) + 5));
    }
}
