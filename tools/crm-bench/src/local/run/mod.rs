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

pub(crate) mod budget;
mod density;
mod environment;
mod measure;
mod plan;
mod progress;
mod running;
mod settings;
mod soak;
mod variant;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use crm_harness::k6::K6Outcome;
use crm_harness::pg::{self, Server};
use crm_harness::procfs::{Sample, Sampler};
use crm_harness::procs;
use crm_harness::stack::Binaries;

use crate::local::tooling;
use crate::results::label::Label;
use measure::Suite;
use plan::{plan, Planned, Step};
use progress::{clock, Progress};
use running::Running;
pub use settings::RunArgs;
use settings::{Settings, SAMPLE_INTERVAL_S};

pub fn execute(args: &RunArgs) -> Result<(), String> {
    let settings = Settings::from_args(args)?;
    let root = crm_harness::node::running_as_root();
    let labels: Vec<Label> = {
        let mut seen = BTreeSet::new();
        args.stacks
            .clone()
            .unwrap_or_else(|| settings::default_stacks(root))
            .into_iter()
            .filter(|l| seen.insert(l.as_str()))
            .collect()
    };
    if labels.is_empty() {
        return Err("nothing to measure (--stacks)".into());
    }
    let containers: Vec<&str> = labels
        .iter()
        .filter(|l| l.is_container())
        .map(|l| l.as_str())
        .collect();
    if !root && !containers.is_empty() {
        return Err(format!(
            "{} run on the node runtime (a private containerd), which needs root: run as root \
             or through sudo, or leave them out of --stacks",
            containers.join(" and ")
        ));
    }
    if !root && args.stacks.is_none() {
        eprintln!(
            "crm-bench run: not root, so the container shape (axum-container, spin-shim) is \
             left out; run as root or through sudo to measure it"
        );
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
    // Before the async runtime starts any thread: every thread of this process, and all it
    // spawns (k6, wrk, a Postgres it starts), on the generator's CPUs.
    let cpu_budget = budget::set_up();
    let clean = tooling::block_on_interruptible(run(args, settings, labels, out));
    cpu_budget.cleanup();
    let clean = clean.map_err(|e| format!("{e:#}"))?;
    if clean {
        Ok(())
    } else {
        Err("the run was not clean (above)".into())
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
    running: Option<Running>,
    idle: Vec<Sample>,
    /// The plan, and the sample the current step belongs to.
    plan: Vec<Planned>,
    sample: u32,
    /// Stacks that failed to come up: their later steps would measure nothing.
    down: BTreeSet<&'static str>,
    failures: Vec<String>,
    progress: Progress,
    /// wrk, found or installed on first use.
    wrk: Option<PathBuf>,
    /// The CPU budget's raw points (budget.rs).
    budget: budget::Raw,
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
        wrk: None,
        budget: budget::Raw::default(),
    };
    run.progress.say(&format!(
        "crm-bench run: {} steps, stacks {}{}; Postgres {}; CPU budget: {}; results in {}",
        steps.len(),
        run.labels
            .iter()
            .map(|l| l.as_str())
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
        crm_harness::budget::installed().map_or("none".into(), |b| b.describe()),
        run.out.display()
    ));
    let outcome = run.execute_plan(&steps).await;
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
    /// Every step of the plan in order; a failed step is recorded and the run goes on, unless
    /// it is one the rest cannot do without.
    async fn execute_plan(&mut self, steps: &[Planned]) -> Result<()> {
        for Planned {
            step, sample, name, ..
        } in steps
        {
            self.sample = *sample;
            self.progress.step(name);
            let label = step.label();
            let skip = label.is_some_and(|l| self.down.contains(l.as_str()))
                && !matches!(step, Step::Stop(_) | Step::Artifacts(_));
            if skip {
                self.progress.say(&format!(
                    "skipped: {name} ({} is not running)",
                    label.map_or("", Label::as_str)
                ));
            } else if let Err(e) = self.execute_step(*step).await {
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
                    self.down.insert(label.as_str());
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
        self.out.join(label.as_str())
    }

    fn say(&self, label: Label, what: &str, line: &str) {
        self.say_for(label.as_str(), what, line);
    }

    /// A progress line about a results target that is not (only) a stack column: a variant,
    /// a floor target (`axum-floor`, `spin-direct`), named as its results directory is.
    fn say_for(&self, name: &str, what: &str, line: &str) {
        self.progress.say(&format!("{name} {what}: {line}"));
    }

    async fn execute_step(&mut self, step: Step) -> Result<()> {
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
                let stack = Running::start(l, &db, self.spin.as_deref()).await?;
                self.say(l, "up", &format!("gateway {}", stack.gateway_url()));
                let pids = stack.pids();
                self.running = Some(stack);
                if self.sample == 1 {
                    self.record_threads(l.as_str(), &pids)?;
                }
                Ok(())
            }
            Step::Idle(_) => {
                let stack = self.running.as_ref().context("the stack is not running")?;
                self.idle = measure::idle(stack.pids(), self.settings.idle_seconds).await;
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
            Step::Capacity(l) => self.capacity(l).await,
            Step::Ladder(l) => self.ladder(l).await,
            Step::Floor(l) => self.floor(l).await,
            Step::Artifacts(l) => self.artifacts(l),
            Step::Soak(l) => self.soak(l).await,
            Step::SizeCompute => self.size_compute().await,
            Step::SizeArtifacts => self.size_artifacts(),
            Step::ContainerShape => self.container_shape().await,
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
            .get(label.as_str())
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
                    Label::SpinSize.as_str()
                ));
                tooling::build(
                    "scripts/build-wasm.sh --size",
                    variant::build_command(),
                    &logs.join("build-wasm-size.log"),
                )?;
            }
        }
        if self.labels.contains(&Label::AxumContainer) {
            // Built (or found cached) before anything is measured, so that no start times a
            // musl build; every later use finds them by CRM_AXUM_IMAGES.
            self.progress
                .say("scripts/build-axum-images.sh (the axum-container images)");
            let images = crm_harness::node::axum_images()?;
            // SAFETY (of the environment): set once, before any step reads it; the runtime's
            // threads do not read or write the environment meanwhile.
            std::env::set_var("CRM_AXUM_IMAGES", &images);
        }
        self.install_binaries()
    }

    /// The binaries every stack starts from (crm_harness::stack::Binaries), checked.
    fn install_binaries(&self) -> Result<()> {
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

    /// The container shape's own figures, `containers.json` in the results folder (the report
    /// reads it through summary.json).
    async fn container_shape(&mut self) -> Result<()> {
        let runtimes: Vec<crm_harness::stack::Runtime> = self
            .labels
            .iter()
            .filter(|l| l.is_container())
            .map(|l| l.runtime())
            .collect();
        // The glibc build the musl binary is set beside: the run's own when it was given one
        // (CI's debug build: its figures only check the pipeline), else a stripped release
        // build, as the images' binaries are stripped.
        let glibc = self.axum_bin_dir.clone();
        let doc =
            crate::local::containers::measure(&self.out, self.settings.quick, &runtimes, glibc)
                .await;
        // It installs the binaries it needs; the steps after it get the run's back.
        self.install_binaries()?;
        for line in crate::local::containers::table(&doc?) {
            self.progress.say(&line);
        }
        Ok(())
    }

    async fn database(&mut self, label: Label) -> Result<()> {
        let dir = self.dir(label);
        std::fs::create_dir_all(&dir)?;
        let prefix = format!("crm_bench_{}", label.as_str().replace('-', "_"));
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
        self.databases.insert(label.as_str(), url);
        Ok(())
    }

    async fn suite(&mut self, label: Label, suite: &Suite<'_>) -> Result<()> {
        let stack = self.running.as_ref().context("the stack is not running")?;
        let url = stack.gateway_url();
        self.suite_at(label.as_str(), &url, &self.dir(label), suite)
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
            K6Outcome::Passed => self.say_for(name, &what, &headline),
            K6Outcome::ThresholdsCrossed => {
                self.say_for(
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
        let window = budget::Window::open(stack.pids());
        let suite = Suite {
            test: "load",
            suffix: String::new(),
            sample: self.sample,
            estimate_s: self.estimate_of(Step::Load(label)),
            env: Vec::new(),
        };
        let outcome = self.suite(label, &suite).await;
        let summary = suite.summary_path(&self.dir(label));
        if outcome.is_ok() {
            let scenario = "k6 load (read, write, inter_service, mixed)";
            if let Err(e) = self.record_suite_cpu(label, scenario, window, &summary) {
                self.progress
                    .say(&format!("note: no CPU per request for {scenario}: {e:#}"));
            }
        }
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
        if let Some(cs) = stack.customer_service_url() {
            targets.push((format!("{}-direct", label.as_str()), cs));
        }
        targets.push((format!("{}-gateway", label.as_str()), stack.gateway_url()));
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
        let target = format!("{}-floor", runtime.as_str());
        let estimate = self.estimate_of(Step::Floor(label));
        let mut outcome = self
            .floor_suite(&target, &floor.url, "read,hello", estimate)
            .await;
        if self.sample == 1 {
            self.record_threads(&target, &floor.pids())?;
        }
        let ids = self.settings.seed_customers.min(1000);
        for route in [
            crm_harness::wrk::Route::Read { ids },
            crm_harness::wrk::Route::Hello,
        ] {
            let measured = self
                .capacity_of(&target, runtime.as_str(), &floor.url, route, floor.pids())
                .await;
            if let Err(e) = measured {
                outcome = outcome.and(Err(e));
            }
        }
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
        let dir = self.out.join(crate::results::collect::FLOORS).join(target);
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
        let url = stack.gateway_url();
        let estimate = self.estimate_of(Step::Compute(label));
        self.compute_at(label.as_str(), &url, &self.dir(label), estimate)
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
        self.say_for(name, "compute", &line);
        Ok(())
    }

    /// The size variant's /compute: its gateway alone under `spin up`, from a copy of the
    /// gateway manifest (in the results folder) whose component is the size-optimised module.
    async fn size_compute(&mut self) -> Result<()> {
        let name = Label::SpinSize.as_str();
        let dir = self.out.join(name);
        std::fs::create_dir_all(&dir)?;
        let manifest = variant::write_gateway_manifest(&dir, &variant::wasm_dir())?;
        let (gateway, url) = variant::start_gateway(&manifest).await?;
        self.say_for(
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
        self.write_artifacts(Label::SpinSize.as_str(), &artifacts)
    }

    fn artifacts(&mut self, label: Label) -> Result<()> {
        let bins = Binaries::current();
        let artifacts = match label.runtime() {
            crm_harness::stack::Runtime::Axum => {
                crate::results::artifacts::axum_binaries(&bins.axum_dir)
            }
            crm_harness::stack::Runtime::Spin => crate::results::artifacts::spin_wasm(
                &crm_harness::repo_root(),
                bins.spin.as_deref(),
            ),
        };
        self.write_artifacts(label.as_str(), &artifacts)
    }

    fn write_artifacts(
        &self,
        name: &str,
        artifacts: &crate::results::model::Artifacts,
    ) -> Result<()> {
        let dir = self.out.join(name);
        std::fs::create_dir_all(&dir)?;
        crate::results::collect::write_json(&dir.join("artifacts.json"), artifacts)
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
        self.say_for(name, "sizes", &total);
        Ok(())
    }

    fn report(&mut self) -> Result<()> {
        let summary =
            crate::results::collect::write_summary(&self.out).map_err(anyhow::Error::msg)?;
        self.progress.say(&format!(
            "summary.json written{}",
            if summary.problems.is_empty() {
                String::new()
            } else {
                format!(" ({} problem(s) recorded)", summary.problems.len())
            }
        ));
        crate::report::write(&self.out, None).map_err(anyhow::Error::msg)?;
        Ok(())
    }
}
