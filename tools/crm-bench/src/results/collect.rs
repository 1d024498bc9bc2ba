//! `crm-bench collect DIR`: a results folder's raw files (docs/results-schema.md) -> summary.json.
//!
//! Both runners write the same layout: `crm-bench run` (local) and scripts/bench-all.sh (k3d).
//! A missing or unreadable raw file becomes an entry of `problems`, not an abort: a partial run
//! still gets a summary that says what is missing.

use crate::results::budget::{merge_points, Capacity, CpuPerRequest, Ladder, StepCpu};
use crate::results::k6_summary;
use crate::results::label::Label;
use crate::results::model::{
    Density, Environment, K6Result, NullableMap, Stack, Summary, SCHEMA_VERSION,
};
use crate::results::samples;
use crate::results::soak::{Soak, SoakRun};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::Path;

/// The k6 scripts of tests/k6/, by the test name used in file names (k6-<test>.json).
pub const K6_TESTS: [&str; 5] = ["load", "cpu-bound", "scale", "error", "ping-db"];
/// Where a local run keeps the runtime floors and the gateway hop (one directory per target).
pub const FLOORS: &str = "floors";
/// Directories a results folder may hold that are not stacks (`crm-bench report` writes
/// charts/, `crm-bench run` the processes' logs/, the floors and the density measurement's
/// density/).
const NOT_STACKS: [&str; 6] = ["charts", "logs", FLOORS, DENSITY_DIR, BUDGET_DIR, SOAK_DIR];
/// Where `crm-bench run` writes the CPU budget's figures (results/budget.rs).
pub const BUDGET_DIR: &str = "budget";
/// Where `crm-bench run` writes density.json (and the manifests it generated for it).
pub const DENSITY_DIR: &str = "density";
/// The environment setting a run that planned the density measurement records its N in.
pub const DENSITY_SETTING: &str = "density_counts";
/// Where `crm-bench run --soak` writes one file per stack (`soak/<label>.json`).
pub const SOAK_DIR: &str = "soak";
/// The environment setting that records the soak ("off" when not planned), and the one that
/// lists the run's stacks.
pub const SOAK_SETTING: &str = "soak";
const STACKS_SETTING: &str = "stacks";

/// Reads the raw files of `dir` into a [`Summary`]. Errs only when `dir` is not a readable
/// directory; every other failure is listed in `problems`.
pub fn collect(dir: &Path) -> Result<Summary, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut problems = Vec::new();
    let environment = load::<Environment>(&dir.join("environment.json"), &mut problems)
        .unwrap_or_else(|| Environment {
            kind: Some("unknown".into()),
            ..Environment::default()
        });
    let mut labels: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_label(n) && !NOT_STACKS.contains(&n.as_str()))
        .collect();
    labels.sort();
    if labels.is_empty() {
        problems.push(format!("{}: no stack directories", dir.display()));
    }
    let local = environment.kind.as_deref() == Some("local");
    let floors = floors(dir, &mut problems);
    let stacks = labels
        .iter()
        .map(|label| {
            let stack = stack_summary(dir, label, local, &mut problems);
            (label.clone(), Some(stack))
        })
        .collect();
    let density = density(dir, &environment, &mut problems);
    let soak = soak(dir, &environment, &mut problems);
    let mut environment = environment;
    let (capacity, ladder, cpu_per_request) = budget(dir, &mut environment, &mut problems);
    Ok(Summary {
        schema_version: Some(SCHEMA_VERSION),
        run_id: Some(run_id(dir)),
        generated_at: Some(now_utc()),
        environment: Some(environment),
        stacks,
        floors,
        density,
        capacity,
        ladder,
        cpu_per_request,
        containers: load_optional(&dir.join(CONTAINERS_FILE), &mut problems),
        soak,
        problems,
    })
}

/// Where the container shape's figures are (crm-bench containers' and the run's container
/// shape step's `containers.json`), when the run measured it.
pub const CONTAINERS_FILE: &str = "containers.json";

/// budget/: capacity, ladder and CPU per request, each point's samples merged; the threads
/// the runtimes started under the budget into the environment's budget. Absent in runs from
/// before the budget, which is no problem.
fn budget(
    dir: &Path,
    env: &mut Environment,
    problems: &mut Vec<String>,
) -> (Option<Capacity>, Option<Ladder>, Option<CpuPerRequest>) {
    let d = dir.join(BUDGET_DIR);
    // Saturation is judged again from each sample's figures, so every summary judges by the
    // same rule whichever crm-bench wrote the raw files.
    let judge = |cpu: &mut Option<StepCpu>| *cpu = cpu.take().map(StepCpu::judge);
    let capacity = load_optional::<Capacity>(&d.join("capacity.json"), problems).map(|mut c| {
        c.points.iter_mut().for_each(|p| judge(&mut p.cpu));
        c.points = merge_points(std::mem::take(&mut c.points));
        c
    });
    let ladder = load_optional::<Ladder>(&d.join("ladder.json"), problems).map(|mut l| {
        l.points.iter_mut().for_each(|p| judge(&mut p.cpu));
        l.points = merge_points(std::mem::take(&mut l.points));
        l
    });
    let cpu = load_optional::<CpuPerRequest>(&d.join("cpu.json"), problems).map(|mut c| {
        c.points.iter_mut().for_each(|p| judge(&mut p.cpu));
        c.points = merge_points(std::mem::take(&mut c.points));
        c
    });
    if let Some(threads) = load_optional(&d.join("threads.json"), problems) {
        if let Some(budget) = env.cpu_budget.as_mut() {
            budget.threads = threads;
        }
    }
    (capacity, ladder, cpu)
}

/// density/density.json: required only when the run recorded that it planned it (a
/// `density_counts` setting other than "off"); absent otherwise.
fn density(dir: &Path, env: &Environment, problems: &mut Vec<String>) -> Option<Density> {
    let path = dir.join(DENSITY_DIR).join("density.json");
    let planned = env
        .settings
        .get(DENSITY_SETTING)
        .and_then(|v| v.as_ref()?.as_str().map(str::to_string))
        .is_some_and(|v| !v.trim().is_empty() && v.trim() != "off");
    if planned {
        load(&path, problems)
    } else {
        load_optional(&path, problems)
    }
}

/// soak/*.json, by stack (the file's name). When the run recorded that it planned a soak (a
/// `soak` setting other than "off"), every stack of its `stacks` setting must have its file;
/// otherwise the folder is optional.
fn soak(dir: &Path, env: &Environment, problems: &mut Vec<String>) -> Option<Soak> {
    let d = dir.join(SOAK_DIR);
    let setting = |name: &str| {
        env.settings
            .get(name)
            .and_then(|v| v.as_ref()?.as_str().map(str::to_string))
    };
    let planned = setting(SOAK_SETTING).is_some_and(|v| {
        let v = v.trim();
        !v.is_empty() && v != "off" && !v.starts_with("off ")
    });
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|n| is_label(n))
        .collect();
    names.sort();
    if planned {
        for label in setting(STACKS_SETTING)
            .unwrap_or_default()
            .split_whitespace()
        {
            if !names.iter().any(|n| n == label) {
                problems.push(format!(
                    "{}: missing",
                    d.join(format!("{label}.json")).display()
                ));
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let stacks = names
        .into_iter()
        .map(|label| {
            let rel = format!("{SOAK_DIR}/{label}.json");
            let run = load::<SoakRun>(&dir.join(&rel), problems).map(|mut run| {
                run.file = Some(rel);
                run.stack.get_or_insert_with(|| label.clone());
                run
            });
            (label, run)
        })
        .collect();
    Some(Soak { stacks })
}

/// [`collect`], then writes `<dir>/summary.json`.
pub fn write_summary(dir: &Path) -> Result<Summary, String> {
    let summary = collect(dir)?;
    let out = dir.join("summary.json");
    write_json(&out, &summary)?;
    Ok(summary)
}

/// Pretty JSON plus a final newline, as every result file is written.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| format!("cannot serialise {}: {e}", path.display()))?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A stack directory's name: `[a-z0-9][a-z0-9_-]*`.
fn is_label(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn run_id(dir: &Path) -> String {
    let named = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    named
        .or_else(|| {
            let abs = std::fs::canonicalize(dir).ok()?;
            Some(abs.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

fn now_utc() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// Reads a JSON file into `T`; on failure notes it in `problems` and gives `None`.
fn load<T: DeserializeOwned>(path: &Path, problems: &mut Vec<String>) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            problems.push(format!("{}: missing", path.display()));
            return None;
        }
        Err(e) => {
            problems.push(format!("{}: unreadable ({e})", path.display()));
            return None;
        }
    };
    serde_json::from_str(&text)
        .map_err(|e| problems.push(format!("{}: unreadable ({e})", path.display())))
        .ok()
}

/// Like [`load`], but an absent file is simply `None` (results only some runners write).
fn load_optional<T: DeserializeOwned>(path: &Path, problems: &mut Vec<String>) -> Option<T> {
    path.exists().then(|| load(path, problems)).flatten()
}

/// A local run's variant rows ([`Label::is_variant`]) and container columns (their cold starts
/// are in containers.json) measure only some figures by design:
/// what they do not write is not a problem.
fn is_variant(label: &str, local: bool) -> bool {
    local && Label::parse(label).is_some_and(|l| l.is_variant() || l.is_container())
}

fn stack_summary(dir: &Path, label: &str, local: bool, problems: &mut Vec<String>) -> Stack {
    let mut stack = Stack {
        label: Some(label.to_string()),
        ..Stack::default()
    };
    let variant = is_variant(label, local);
    let required = |path: &Path, problems: &mut Vec<String>| -> Option<Value> {
        if variant {
            load_optional(path, problems)
        } else {
            load(path, problems)
        }
    };
    for test in K6_TESTS {
        let rel = format!("{label}/k6-{test}.json");
        let parsed = required(&dir.join(&rel), problems)
            .and_then(|raw| k6_result(&raw, &rel, problems))
            .map(|first| with_further_samples(dir, &rel, first, problems));
        if let Some(runtime) = parsed.as_ref().and_then(|p| p.runtime.as_deref()) {
            // A variant is answered by its runtime: "spin-combined" by "spin". A mismatch means
            // the wrong gateway was measured: it must not go unnoticed.
            let matches = runtime == "unknown"
                || label == runtime
                || Label::parse(label).is_some_and(|l| l.runtime().as_str() == runtime);
            if !matches {
                problems.push(format!(
                    "{rel}: answered by runtime '{runtime}', filed under '{label}'"
                ));
            }
        }
        stack.k6.insert(test.to_string(), parsed);
    }
    let d = dir.join(label);
    stack.coldstart = if variant {
        load_optional(&d.join("coldstart.json"), problems)
    } else {
        load(&d.join("coldstart.json"), problems)
    };
    // A local run has no pods to kill: availability is a cluster test.
    let availability = d.join("availability.json");
    stack.availability = if local {
        load_optional(&availability, problems)
    } else {
        load(&availability, problems)
    };
    stack.resources = if variant {
        load_optional(&d.join("resources.json"), problems)
    } else {
        load(&d.join("resources.json"), problems)
    };
    // Written only by some runners: absent means null, not a problem.
    stack.artifacts = load_optional(&d.join("artifacts.json"), problems);
    stack.compute = load_optional(&d.join("compute.json"), problems);
    // Only bench-all.sh's step-load scenario writes it.
    stack.step_load = load_optional(&d.join("step-load.json"), problems);
    stack
}

/// A raw k6 summary, parsed; `None` (and a problem) when it is not one.
fn k6_result(raw: &Value, rel: &str, problems: &mut Vec<String>) -> Option<K6Result> {
    if !raw.is_object() {
        problems.push(format!("{rel}: not a k6 summary (not a JSON object)"));
        return None;
    }
    Some(k6_summary::parse_summary(raw, rel))
}

/// `first` (the suite's file `rel`) merged with the suite's further samples beside it
/// (`k6-<test>.s2.json`, …; see [`crate::results::samples`]), when there are any.
fn with_further_samples(
    dir: &Path,
    rel: &str,
    first: K6Result,
    problems: &mut Vec<String>,
) -> K6Result {
    let mut all = vec![first];
    for path in samples::further_samples(&dir.join(rel)) {
        let rel = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        if let Some(sample) = load(&path, problems).and_then(|raw| k6_result(&raw, &rel, problems))
        {
            all.push(sample);
        }
    }
    samples::merge_k6(all)
}

/// A local run's floors and gateway hop: `floors/<target>/k6-floor.json` (and its samples).
fn floors(dir: &Path, problems: &mut Vec<String>) -> NullableMap<K6Result> {
    let Ok(entries) = std::fs::read_dir(dir.join(FLOORS)) else {
        return NullableMap::new();
    };
    let mut targets: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    targets.sort();
    targets
        .into_iter()
        .map(|target| {
            let rel = format!("{FLOORS}/{target}/k6-floor.json");
            let result = load(&dir.join(&rel), problems)
                .and_then(|raw| k6_result(&raw, &rel, problems))
                .map(|first| with_further_samples(dir, &rel, first, problems));
            (target, result)
        })
        .collect()
}

/// The short view `crm-bench collect` prints: one row per stack and k6 test (whole run).
pub fn table(summary: &Summary) -> String {
    let mut out = format!(
        "{:<8} {:<10} {:>10} {:>9} {:>9} {:>9} {:>8}",
        "stack", "test", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    let num = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
    for (label, stack) in &summary.stacks {
        let Some(stack) = stack else { continue };
        for test in K6_TESTS {
            let overall = stack.k6(test).and_then(|r| r.overall.as_ref());
            let lat = overall.and_then(|o| o.latency_ms.as_ref());
            let err = overall
                .and_then(|o| o.error_rate)
                .map_or("-".into(), |e| format!("{:.2}%", 100.0 * e));
            let _ = write!(
                out,
                "\n{:<8} {:<10} {:>10} {:>9} {:>9} {:>9} {:>8}",
                label,
                test,
                num(overall.and_then(|o| o.throughput_rps), 1),
                num(lat.and_then(|l| l.p50), 2),
                num(lat.and_then(|l| l.p95), 2),
                num(lat.and_then(|l| l.p99), 2),
                err
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A copy of a small raw results folder (tests/fixtures/raw-k3d) in a fresh temp dir.
    fn raw_folder(name: &str) -> PathBuf {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw-k3d");
        let dst = std::env::temp_dir().join(format!("crm-collect-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dst);
        copy_dir(&src, &dst.join("20260101T000000Z"));
        dst.join("20260101T000000Z")
    }

    fn copy_dir(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                copy_dir(&e.path(), &dst.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
            }
        }
    }

    #[test]
    fn stacks_tests_and_problems() {
        let dir = raw_folder("basic");
        std::fs::create_dir_all(dir.join("charts")).unwrap();
        std::fs::create_dir_all(dir.join("Not-A-Label")).unwrap();
        let s = write_summary(&dir).unwrap();
        assert_eq!(s.schema_version, Some(1));
        assert_eq!(s.run_id.as_deref(), Some("20260101T000000Z"));
        assert_eq!(s.environment.as_ref().unwrap().kind.as_deref(), Some("k3d"));
        assert_eq!(s.labels(), ["axum", "spin"]);
        let axum = s.stack("axum").unwrap();
        let tests: Vec<&String> = axum.k6.keys().collect();
        assert_eq!(tests, ["cpu-bound", "error", "load", "ping-db", "scale"]);
        let load = axum.k6("load").unwrap();
        assert_eq!(load.overall.as_ref().unwrap().requests, Some(3765.0));
        assert_eq!(load.file.as_deref(), Some("axum/k6-load.json"));
        assert!(axum.k6("scale").is_none());
        let cold = axum.coldstart.as_ref().unwrap();
        assert_eq!(cold.first_200_ms.as_ref().unwrap().median, Some(812.5));
        let spin = s.stack("spin").unwrap();
        assert_eq!(spin.resources.as_ref().unwrap().available, Some(false));
        let has = |needle: &str| s.problems.iter().any(|p| p.contains(needle));
        assert!(has("axum/k6-scale.json: missing"));
        // spin/k6-load.json was answered by axum.
        assert!(has(
            "spin/k6-load.json: answered by runtime 'axum', filed under 'spin'"
        ));
        // Optional results absent: null, not a problem; availability is required on k3d.
        assert!(axum.artifacts.is_none() && !has("artifacts"));
        assert!(has("axum/availability.json: missing"));
        // The file is the same summary, and the report's reader takes it.
        let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        let back = Summary::from_json(&text).unwrap();
        assert_eq!(back.problems, s.problems);
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn unreadable_files_are_problems_and_local_runs_need_no_availability() {
        let dir = raw_folder("local");
        std::fs::write(
            dir.join("environment.json"),
            r#"{"kind": "local", "cpu": {"cores": 2}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("axum/k6-error.json"), "{ not json").unwrap();
        std::fs::write(dir.join("axum/k6-ping-db.json"), "[]").unwrap();
        std::fs::write(dir.join("axum/compute.json"), r#"{"points": "wrong"}"#).unwrap();
        let s = collect(&dir).unwrap();
        let has = |needle: &str| s.problems.iter().any(|p| p.contains(needle));
        assert!(has("axum/k6-error.json: unreadable"));
        assert!(has("axum/k6-ping-db.json: not a k6 summary"));
        assert!(has("axum/compute.json: unreadable"));
        assert!(!has("availability"));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn further_samples_are_merged_into_medians_and_floors_are_collected() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/raw-local");
        let tmp = std::env::temp_dir().join(format!("crm-collect-samples-{}", std::process::id()));
        let dir = tmp.join("raw-local");
        copy_dir(&src, &dir);
        let first = dir.join("axum/k6-ping-db.json");
        let raw: Value = serde_json::from_str(&std::fs::read_to_string(&first).unwrap()).unwrap();
        let reqs = raw["metrics"]["http_reqs{scenario:ping}"]["values"]["count"]
            .as_f64()
            .unwrap();
        for (sample, factor) in [(2, 3.0), (3, 2.0)] {
            let mut more = raw.clone();
            more["metrics"]["http_reqs{scenario:ping}"]["values"]["count"] = (reqs * factor).into();
            let path = samples::sample_path(&first, sample);
            std::fs::write(&path, more.to_string()).unwrap();
        }
        std::fs::create_dir_all(dir.join("floors/axum-floor")).unwrap();
        std::fs::copy(&first, dir.join("floors/axum-floor/k6-floor.json")).unwrap();
        std::fs::write(dir.join("floors/axum-floor/k6-floor.s2.json"), "{ broken").unwrap();
        let s = collect(&dir).unwrap();
        let ping = s.stack("axum").unwrap().k6("ping-db").unwrap();
        assert_eq!(ping.samples.len(), 3);
        let requests = |r: &K6Result| r.scenarios["ping"].as_ref().unwrap().requests.unwrap();
        assert_eq!(requests(ping), reqs * 2.0);
        assert_eq!(requests(&ping.samples[1]), reqs * 3.0);
        assert_eq!(ping.file.as_deref(), Some("axum/k6-ping-db.json"));
        // floors/ is not a stack; its one readable sample stands alone, the broken one is a
        // problem.
        assert!(!s.labels().contains(&"floors".to_string()));
        let floor = s.floors["axum-floor"].as_ref().unwrap();
        assert!(floor.samples.is_empty());
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("floors/axum-floor/k6-floor.s2.json: unreadable")));
        std::fs::remove_dir_all(tmp).unwrap();
    }

    #[test]
    fn density_is_read_not_taken_for_a_stack_and_required_only_when_planned() {
        let dir = raw_folder("density");
        let env = |counts: &str| {
            let text =
                format!(r#"{{"kind": "local", "settings": {{"density_counts": "{counts}"}}}}"#);
            std::fs::write(dir.join("environment.json"), text).unwrap();
        };
        let missing = |s: &Summary| {
            s.problems
                .iter()
                .any(|p| p.contains("density.json: missing"))
        };
        env("off");
        let s = collect(&dir).unwrap();
        assert!(s.density.is_none() && !missing(&s));
        env("1,5");
        let s = collect(&dir).unwrap();
        assert!(s.density.is_none() && missing(&s));
        std::fs::create_dir_all(dir.join("density")).unwrap();
        std::fs::write(
            dir.join("density/density.json"),
            r#"{"counts": [1, 5], "layouts": {"axum": {"points": [{"instances": 1}]}}}"#,
        )
        .unwrap();
        let s = collect(&dir).unwrap();
        assert!(!missing(&s), "{:?}", s.problems);
        assert_eq!(s.labels(), ["axum", "spin"]);
        let density = s.density.unwrap();
        assert_eq!(density.counts, [1, 5]);
        assert!(density.layouts["axum"].is_some());
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn soak_files_are_read_by_stack_and_required_only_when_planned() {
        let dir = raw_folder("soak");
        let env = |soak: &str| {
            let text = format!(
                r#"{{"kind": "local", "settings": {{"soak": "{soak}", "stacks": "axum spin"}}}}"#
            );
            std::fs::write(dir.join("environment.json"), text).unwrap();
        };
        let missing = |s: &Summary, label: &str| {
            s.problems
                .iter()
                .any(|p| p.ends_with(&format!("soak/{label}.json: missing")))
        };
        env("off");
        let s = collect(&dir).unwrap();
        assert!(s.soak.is_none() && !missing(&s, "axum"), "{:?}", s.problems);
        env("40s at half of each gateway's read capacity, a sample every 10s");
        let s = collect(&dir).unwrap();
        assert!(s.soak.is_none() && missing(&s, "axum") && missing(&s, "spin"));
        std::fs::create_dir_all(dir.join("soak")).unwrap();
        std::fs::write(
            dir.join("soak/axum.json"),
            r#"{"rate_rps": 900.0, "duration_s": 40, "interval_s": 10,
                "samples": [{"t_s": 10.0, "rss_bytes": 41943040, "open_fds": 77}],
                "slopes_per_minute": {"rss_bytes": {"per_minute": 0.0, "grows": false}},
                "growth": false, "alive": true}"#,
        )
        .unwrap();
        std::fs::write(dir.join("soak/spin.json"), "{ broken").unwrap();
        let s = collect(&dir).unwrap();
        // soak/ is not a stack; the broken file is a null and a problem, none is missing.
        assert_eq!(s.labels(), ["axum", "spin"]);
        assert!(!missing(&s, "axum") && !missing(&s, "spin"));
        assert!(s
            .problems
            .iter()
            .any(|p| p.contains("soak/spin.json: unreadable")));
        let soak = s.soak.unwrap();
        assert!(soak.stacks["spin"].is_none());
        let axum = soak.stacks["axum"].as_ref().unwrap();
        assert_eq!(axum.file.as_deref(), Some("soak/axum.json"));
        assert_eq!(axum.stack.as_deref(), Some("axum"));
        assert_eq!(axum.rate_rps, Some(900.0));
        assert_eq!(axum.series("rss_bytes"), [Some(41943040.0)]);
        assert_eq!(axum.slope("rss_bytes").unwrap().grows, Some(false));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn missing_environment_is_kind_unknown_and_a_problem() {
        let dir = raw_folder("noenv");
        std::fs::remove_file(dir.join("environment.json")).unwrap();
        let s = collect(&dir).unwrap();
        assert_eq!(s.environment.unwrap().kind.as_deref(), Some("unknown"));
        assert!(s.problems[0].ends_with("environment.json: missing"));
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    #[test]
    fn not_a_directory_is_an_error() {
        assert!(collect(Path::new("/nonexistent/crm-collect")).is_err());
    }

    #[test]
    fn table_has_a_row_per_stack_and_test() {
        let dir = raw_folder("table");
        let s = collect(&dir).unwrap();
        let t = table(&s);
        assert_eq!(t.lines().count(), 1 + 2 * K6_TESTS.len());
        let load = t.lines().find(|l| l.starts_with("axum     load")).unwrap();
        assert!(load.contains("1254.8") && load.contains("14.08%"), "{load}");
        std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }

    /// Numbers as f64, and no nulls or empty lists/maps: the Python writer left an unmeasured
    /// field out where this one writes null, and wrote 3765 where this one writes 3765.0.
    fn normalise(v: Value) -> Option<Value> {
        match v {
            Value::Null => None,
            Value::Number(n) => n.as_f64().map(Value::from),
            Value::Array(a) if a.is_empty() => None,
            Value::Array(a) => Some(Value::Array(
                a.into_iter()
                    .map(|x| normalise(x).unwrap_or(Value::Null))
                    .collect(),
            )),
            Value::Object(o) => {
                let o: serde_json::Map<String, Value> = o
                    .into_iter()
                    .filter_map(|(k, x)| Some((k, normalise(x)?)))
                    .collect();
                (!o.is_empty()).then_some(Value::Object(o))
            }
            other => Some(other),
        }
    }

    /// A real quick local run (raw files of `scripts/bench-local.sh --quick --stacks axum`) and
    /// the summary.json kept beside them as the golden copy: collect agrees with it field for
    /// field, to the last bit of every figure, so a change to the results format shows here.
    #[test]
    fn matches_the_golden_summary_of_a_real_run() {
        let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let summary = collect(&fx.join("raw-local")).unwrap();
        let mut ours = serde_json::to_value(&summary).unwrap();
        let text = std::fs::read_to_string(fx.join("raw-local.summary.json")).unwrap();
        let mut golden: Value = serde_json::from_str(&text).unwrap();
        for v in [&mut ours, &mut golden] {
            let o = v.as_object_mut().unwrap();
            o.remove("generated_at");
            o.remove("run_id");
        }
        assert_eq!(normalise(ours), normalise(golden));
        assert_eq!(summary.run_id.as_deref(), Some("raw-local"));
    }
}
