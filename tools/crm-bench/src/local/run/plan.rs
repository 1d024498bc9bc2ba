//! The plan of a run: every step in order, with which sample of the k6 figures it belongs to
//! and an estimate for the progress display. Pure: the tests below check the order (the
//! stacks interleaved sample by sample, the floors beside their runtime, the variant after the
//! spin stack, density last) without running anything.

use std::collections::BTreeSet;

use crm_harness::stack::Shape;

use super::density;
use super::settings::{Settings, StackColumn};
use crate::results::label::Label;

/// One step of the plan.
#[derive(Clone, Copy, Debug)]
pub(super) enum Step {
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
    /// wrk's maximum throughput at the stack's customer-service and gateway, read and write.
    Capacity(Label),
    /// The open-loop ladder at the stack's gateway, up to its capacity.
    Ladder(Label),
    Stop(Label),
    /// The runtime floor of this label's runtime (on its database): the read and /hello.
    Floor(Label),
    Artifacts(Label),
    /// The `spin-size` variant: its gateway alone, the cpu-bound suite.
    SizeCompute,
    /// The `spin-size` variant: its module sizes.
    SizeArtifacts,
    /// The stack started on its own, soaked at half of its gateway's read capacity for
    /// `--soak` (sampled every `--soak-interval`), stopped (soak.rs).
    Soak(Label),
    /// The container shape's own figures (crm-bench containers): cold starts after a pull
    /// and cached, working set and PSS with the shims, density, musl as a process.
    ContainerShape,
    /// N copies of customer-service at once, per layout (density.rs).
    Density,
    Report,
}

impl Step {
    pub(super) fn label(self) -> Option<Label> {
        match self {
            Step::Build
            | Step::Environment
            | Step::Report
            | Step::SizeCompute
            | Step::SizeArtifacts
            | Step::ContainerShape
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
            | Step::Capacity(l)
            | Step::Ladder(l)
            | Step::Stop(l)
            | Step::Floor(l)
            | Step::Artifacts(l)
            | Step::Soak(l) => Some(l),
        }
    }

    /// Nothing can be measured without the builds or the environment, nor reported without
    /// the report: the run stops there. Any other step fails alone.
    pub(super) fn fatal(self) -> bool {
        matches!(self, Step::Build | Step::Environment | Step::Report)
    }
}

/// One entry of the plan: the step, which sample of the k6 figures it belongs to (1 for the
/// steps measured once), what the progress calls it and its estimate in seconds.
#[derive(Clone, Debug)]
pub(super) struct Planned {
    pub(super) step: Step,
    pub(super) sample: u32,
    pub(super) name: String,
    pub(super) estimate_s: u64,
}

/// Every step of a run, in order: the builds; per stack its database and cold starts; then the
/// samples, each running every stack's k6 suites in turn (A B A B A B, so that drift over the
/// run hits every stack alike), the floors beside the first stack of each runtime; the sizes
/// and the report last.
pub(super) fn plan(settings: &Settings, labels: &[Label]) -> Vec<Planned> {
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
        let n = l.as_str();
        add(
            Step::Database(l),
            1,
            format!("{n}: fresh database, seed rows"),
            3,
        );
        // The container columns' cold starts are the container shape step's (after a pull
        // and cached, from `ctr run`).
        if !l.is_container() {
            let cold = u64::from(settings.cold_runs + 1) * 2;
            let what = format!("{n}: cold starts ({} + a warm-up)", settings.cold_runs);
            add(Step::ColdStarts(l), 1, what, cold);
        }
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
            if floored.insert(l.runtime().as_str()) {
                let what = format!(
                    "{}-floor: the runtime floor, k6 read and /hello",
                    l.runtime().as_str()
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
                    Label::SpinSize.as_str(),
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
            format!("{}: artifact sizes", l.as_str()),
            1,
        );
        if l == Label::Spin && settings.size_variant {
            add(
                Step::SizeArtifacts,
                1,
                format!("{}: artifact sizes", Label::SpinSize.as_str()),
                1,
            );
        }
    }
    // Once per stack column, after every sample: the soak is its own long measurement, not a
    // figure to repeat.
    if let Some(soak) = settings.soak {
        for &l in labels {
            add(
                Step::Soak(l),
                1,
                format!(
                    "{}: soak {} at half of the gateway's read capacity, a sample every {}",
                    l.as_str(),
                    seconds_text(soak.as_secs()),
                    seconds_text(settings.soak_interval.as_secs())
                ),
                soak.as_secs() + SOAK_OVERHEAD_S,
            );
        }
    }
    let containers: Vec<&str> = labels
        .iter()
        .filter(|l| l.is_container())
        .map(|l| l.as_str())
        .collect();
    if !containers.is_empty() {
        let what = format!(
            "{}: cold starts after a pull and cached, working set and PSS with the shims, \
             density, musl as a process (crm-bench containers{})",
            containers.join(", "),
            if settings.quick { " --quick" } else { "" }
        );
        let estimate = if settings.quick { 150 } else { 600 };
        add(Step::ContainerShape, 1, what, estimate);
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

/// A soak step's seconds beyond the soak itself: the start, the stop, the last answers.
const SOAK_OVERHEAD_S: u64 = 6;

/// 600 -> "10m", 90 -> "1m30s", 40 -> "40s".
fn seconds_text(s: u64) -> String {
    match (s / 60, s % 60) {
        (0, sec) => format!("{sec}s"),
        (m, 0) => format!("{m}m"),
        (m, sec) => format!("{m}m{sec}s"),
    }
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

/// The floor test's two scenarios, read and hello, then wrk on both.
fn floor_estimate(settings: &Settings) -> u64 {
    let s = Settings::secs;
    2 * (s(&settings.duration) + s(&settings.scenario_gap))
        + 5
        + 2 * (settings.capacity_seconds + 1)
}

/// One stack's steps in one sample: started, measured, stopped.
fn sample_steps(settings: &Settings, l: Label, sample: u32) -> Vec<(Step, String, u64)> {
    let s = Settings::secs;
    let (d, gap) = (s(&settings.duration), s(&settings.scenario_gap));
    let one = d + gap + 3;
    let n = l.as_str();
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
    // customer-service is reachable on its own in every shape but the combined one.
    let targets = if l.shape() == Shape::Combined { 1 } else { 2 };
    steps.push((
        Step::Hop(l),
        format!("{n}: k6 floor-test read, customer-service directly and through the gateway"),
        targets * one,
    ));
    steps.push((
        Step::Capacity(l),
        format!(
            "{n}: wrk capacity, read and write, {} ({} connections)",
            if targets == 2 {
                "customer-service directly and the gateway"
            } else {
                "the gateway"
            },
            settings.wrk_connections
        ),
        targets * 2 * (settings.capacity_seconds + 1),
    ));
    let rungs = settings.ladder_rates.len() as u64;
    steps.push((
        Step::Ladder(l),
        format!(
            "{n}: k6 open-loop ladder at the gateway, up to {} rates of {} up to its capacity",
            rungs, settings.ladder_duration
        ),
        rungs * (s(&settings.ladder_duration) + 2),
    ));
    steps.push((Step::Stop(l), format!("{n}: stop"), 1));
    steps
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::settings::RunArgs;
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
        let stacks = cli
            .run
            .stacks
            .clone()
            .unwrap_or_else(|| super::super::settings::default_stacks(false));
        plan(&settings, &stacks)
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

    pub(in crate::local::run) fn quick() -> Settings {
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
            capacity_seconds: 3,
            wrk_connections: 10,
            ladder_rates: vec![50, 200, 800],
            ladder_duration: "4s".into(),
            p99_target_ms: 50.0,
            soak: None,
            soak_interval: std::time::Duration::from_secs(10),
        }
    }

    #[test]
    fn the_container_columns_take_the_shape_steps_and_one_container_shape_step() {
        let labels = [
            Label::Axum,
            Label::Spin,
            Label::AxumContainer,
            Label::SpinShim,
        ];
        let steps = plan(&quick(), &labels);
        let names: Vec<String> = steps.iter().map(|p| format!("{:?}", p.step)).collect();
        let has = |n: &str| names.iter().any(|x| x == n);
        for c in ["AxumContainer", "SpinShim"] {
            for step in [
                "Database", "Start", "Idle", "Load", "Hop", "Capacity", "Ladder", "Stop",
            ] {
                assert!(
                    has(&format!("{step}({c})")),
                    "{step}({c}) missing: {names:?}"
                );
            }
            // Their starts are the container shape step's; the CPU-bound, scale, error and
            // ping-db suites are the process columns'.
            for step in [
                "ColdStarts",
                "Compute",
                "Scale",
                "Errors",
                "PingDb",
                "Artifacts",
            ] {
                assert!(!has(&format!("{step}({c})")), "{step}({c}) planned");
            }
        }
        // No floor of their own: the runtimes' floors sit beside the process columns.
        assert_eq!(names.iter().filter(|n| n.starts_with("Floor(")).count(), 2);
        let at = |n: &str| names.iter().position(|x| x == n).unwrap();
        assert_eq!(names.iter().filter(|n| *n == "ContainerShape").count(), 1);
        assert!(at("ContainerShape") > at("Stop(SpinShim)"));
        assert!(at("ContainerShape") < at("Density"));
        let without = plan(&quick(), &[Label::Axum, Label::Spin]);
        assert!(!without
            .iter()
            .any(|p| matches!(p.step, Step::ContainerShape)));
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
    fn a_soak_is_planned_once_per_stack_after_the_samples_when_asked() {
        let stacks = "axum,spin,spin-combined";
        let without = steps(&["--stacks", stacks]);
        assert!(!without.iter().any(|s| s.contains(": soak")), "{without:?}");
        let with = steps(&["--stacks", stacks, "--samples", "2", "--soak", "10m"]);
        let soaks: Vec<usize> = with
            .iter()
            .enumerate()
            .filter(|(_, s)| s.contains(": soak"))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(soaks.len(), 3, "{with:?}");
        assert!(with[soaks[0]].starts_with(
            "axum: soak 10m at half of the gateway's read capacity, a sample every 1m"
        ));
        assert!(with[soaks[1]].starts_with("spin: soak"));
        assert!(with[soaks[2]].starts_with("spin-combined: soak"));
        // After the last sample's stacks, before density and the report.
        let last_stop = with.iter().rposition(|s| s.contains(": stop")).unwrap();
        assert!(soaks[0] > last_stop);
        let density = with.iter().position(|s| s.starts_with("density")).unwrap();
        assert!(soaks[2] < density);
        // Its estimate: the soak and a few seconds.
        let settings = Settings {
            soak: Some(std::time::Duration::from_secs(600)),
            ..quick()
        };
        let planned = plan(&settings, &[Label::Axum]);
        let soak = planned
            .iter()
            .find(|p| matches!(p.step, Step::Soak(Label::Axum)))
            .unwrap();
        assert_eq!(soak.estimate_s, 600 + SOAK_OVERHEAD_S);
        assert_eq!(soak.sample, 1);
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
