//! The CPU-bound endpoint (`GET /compute`): client latency and the handler's own time per
//! (algorithm, n).

use crate::report::table::{Comparison, Unit};
use crate::report::{other_sources, ChartKind, ChartSpec, Ctx, Section};
use crate::results::label::Label;
use crate::results::model::{ComputePoint, Stack};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The CPU-bound points of a stack: the local run's compute.json (a sweep of n) when
/// present, else the two scenarios of the k6 cpu-bound test (n as the script's defaults,
/// not recorded in summary).
pub fn compute_points(stack: &Stack) -> Vec<ComputePoint> {
    if let Some(c) = &stack.compute {
        if !c.points.is_empty() {
            return c.points.clone();
        }
    }
    let Some(k6) = stack.k6("cpu-bound") else {
        return Vec::new();
    };
    let scenarios = [
        ("compute_iterative", "iterative"),
        ("compute_recursive", "recursive"),
    ];
    scenarios
        .into_iter()
        .filter_map(|(name, algo)| {
            let f = k6.scenarios.get(name)?.as_ref()?;
            Some(ComputePoint {
                algo: Some(algo.to_string()),
                n: None,
                file: k6.file.clone(),
                requests: f.requests,
                throughput_rps: f.throughput_rps,
                latency_ms: f.latency_ms.clone(),
                compute_ms: f.st("st_compute").cloned(),
                error_rate: f.error_rate,
                samples: Vec::new(),
            })
        })
        .collect()
}

pub(in crate::report) fn n_text(n: Option<f64>) -> String {
    match n {
        Some(n) => format!("{n:.0}"),
        None => "script default".to_string(),
    }
}

/// (algo, n) keys across stacks, by algo then n.
pub(in crate::report) fn compute_keys(stacks: &[Option<&Stack>]) -> Vec<(String, Option<f64>)> {
    let mut keys: Vec<(String, Option<f64>)> = Vec::new();
    for s in stacks.iter().flatten() {
        for p in compute_points(s) {
            let k = (p.algo.clone().unwrap_or_default(), p.n);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.unwrap_or(-1.0).total_cmp(&b.1.unwrap_or(-1.0)))
    });
    keys
}

pub(in crate::report) fn compute_point(
    stack: Option<&Stack>,
    algo: &str,
    n: Option<f64>,
) -> Option<ComputePoint> {
    compute_points(stack?)
        .into_iter()
        .find(|p| p.algo.as_deref() == Some(algo) && p.n == n)
}

/// Per (algo, n): time per request, the handler's own time and throughput; a chart per algo.
pub(in crate::report) fn cpu_bound(cx: &Ctx) -> Section {
    let mut s = Section::titled("CPU-bound endpoint (`GET /compute`, answered by the gateway)");
    let keys = compute_keys(&cx.stacks);
    if keys.is_empty() {
        return s.not_measured();
    }
    s.md.push_str(&compute_table(cx, &keys).to_markdown());
    let _ =
        writeln!(
        s.md,
        "\nTime per request is k6's client-side `http_req_duration`; the handler's own time is \
         the `compute` Server-Timing entry. Source: {}{}.\n",
        compute_files(cx),
        if cx.stacks.iter().flatten().any(has_compute_json) {
            format!(" (collected in {})", other_sources(&cx.labels, "compute.json"))
        } else {
            String::new()
        }
    );
    if let Some(note) = size_variant_note(cx, &keys) {
        s.md.push_str(&note);
    }
    for algo in ["iterative", "recursive"] {
        let ns: Vec<Option<f64>> = keys
            .iter()
            .filter(|(a, _)| a == algo)
            .map(|k| k.1)
            .collect();
        if !ns.is_empty() {
            s.chart(compute_chart(cx, algo, &ns));
        }
    }
    s
}

/// What the `spin-size` column is, said in the compute and the sizes sections.
pub(in crate::report) const SIZE_VARIANT_TEXT: &str =
    "`spin-size` is the same Spin components built for size (opt-level \"s\", then `wasm-opt \
     -Oz`), measured beside the headline columns, which are both built for speed (opt-level 3; \
     `wasm-opt -O3` for the Wasm modules)";

/// When the run measured `spin-size`: what it is, and per algorithm at its largest n the
/// handler's own time against the speed build's (`spin-size ÷ spin`): what the build flags
/// cost, apart from what the runtime costs (`spin ÷ axum`).
fn size_variant_note(cx: &Ctx, keys: &[(String, Option<f64>)]) -> Option<String> {
    let size = cx.summary.stack(Label::SpinSize.as_str())?;
    let speed = cx.summary.stack("spin");
    let handler =
        |s: Option<&Stack>, algo: &str, n: Option<f64>| compute_point(s, algo, n)?.compute_ms?.p50;
    let mut ratios = Vec::new();
    for algo in ["iterative", "recursive"] {
        let Some((_, n)) = keys.iter().rev().find(|(a, _)| a == algo) else {
            continue;
        };
        let (Some(sz), Some(sp)) = (handler(Some(size), algo, *n), handler(speed, algo, *n)) else {
            continue;
        };
        if sp > 0.0 {
            ratios.push(format!(
                "{algo} n={}: {sz:.3} ms against {sp:.3} ms (×{:.2})",
                n_text(*n),
                sz / sp
            ));
        }
    }
    let mut note = format!(
        "{SIZE_VARIANT_TEXT}. Its `/compute` is answered by its gateway alone under `spin up`, \
         with the same k6 settings."
    );
    if !ratios.is_empty() {
        let _ = write!(
            note,
            " The handler's own time (p50), size build against speed build: {}.",
            ratios.join("; ")
        );
    }
    note.push_str("\n\n");
    Some(note)
}

fn has_compute_json(s: &&Stack) -> bool {
    s.compute.as_ref().is_some_and(|c| !c.points.is_empty())
}

fn compute_table(cx: &Ctx, keys: &[(String, Option<f64>)]) -> Comparison {
    let mut t = cx.table(&["algo", "n", "figure"]);
    for (algo, n) in keys {
        let nt = n_text(*n);
        let row = |fig: &str, unit, pick: fn(ComputePoint) -> Option<f64>| {
            cx.row(&[algo, &nt, fig], unit, |s| {
                pick(compute_point(s, algo, *n)?)
            })
        };
        t.push(row("time per request p50 (ms)", Unit::Ms, |p| {
            p.latency_ms?.p50
        }));
        t.push(row("time per request p95 (ms)", Unit::Ms, |p| {
            p.latency_ms?.p95
        }));
        t.push(row(
            "handler compute p50 (ms, Server-Timing)",
            Unit::Ms,
            |p| p.compute_ms?.p50,
        ));
        t.push(row("throughput (req/s)", Unit::Rps, |p| p.throughput_rps));
    }
    t
}

/// The k6 files the points come from, each once.
fn compute_files(cx: &Ctx) -> String {
    let files: BTreeSet<String> = cx
        .stacks
        .iter()
        .flatten()
        .flat_map(|s| compute_points(s).into_iter().filter_map(|p| p.file))
        .map(|f| format!("`{f}`"))
        .collect();
    files.into_iter().collect::<Vec<_>>().join(", ")
}

/// p50 time per request over n: a line when there are several n, else a bar.
fn compute_chart(cx: &Ctx, algo: &str, ns: &[Option<f64>]) -> ChartSpec {
    ChartSpec {
        file: format!("compute-{algo}.svg"),
        title: format!("/compute {algo}: p50 time per request vs n (lower is better)"),
        x_label: "n".into(),
        y_label: "ms".into(),
        categories: ns.iter().map(|n| n_text(*n)).collect(),
        series: cx.series(|s| {
            let p50 = |n: &Option<f64>| compute_point(s, algo, *n)?.latency_ms?.p50;
            ns.iter().map(p50).collect()
        }),
        kind: if ns.len() > 1 {
            ChartKind::Lines
        } else {
            ChartKind::Bars
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::{fixture, summary};
    use serde_json::json;

    #[test]
    fn compute_points_come_from_compute_json() {
        let s = fixture();
        let keys = compute_keys(&[s.stack("axum"), s.stack("spin-combined")]);
        assert_eq!(
            keys,
            vec![
                ("iterative".to_string(), Some(100000.0)),
                ("iterative".to_string(), Some(1000000.0)),
                ("recursive".to_string(), Some(20.0)),
            ]
        );
        let md = cpu_bound(&Ctx::new(&s)).md;
        assert!(md.contains(
            "| iterative | 1000000 | time per request p50 (ms) | 2.000 | 6.000 | ×3.00 |"
        ));
    }

    #[test]
    fn without_compute_json_the_k6_cpu_bound_scenarios_are_used() {
        let s = summary(json!({"stacks": {"axum": {"k6": {"cpu-bound": {
            "file": "axum/k6-cpu-bound.json",
            "scenarios": {"compute_iterative": {"throughput_rps": 10.0,
                "latency_ms": {"p50": 5.0},
                "server_timing": {"st_compute": {"p50": 4.0}}}}}}}}}));
        let sec = cpu_bound(&Ctx::new(&s));
        assert!(sec.md.contains(
            "| iterative | script default | handler compute p50 (ms, Server-Timing) | 4.000 |"
        ));
        assert!(
            sec.md.contains("Source: `axum/k6-cpu-bound.json`.\n"),
            "{}",
            sec.md
        );
        // One n only: a bar, not a line.
        assert_eq!(sec.charts.len(), 1);
        assert_eq!(sec.charts[0].kind, ChartKind::Bars);
    }

    #[test]
    fn the_size_variant_is_explained_and_set_against_the_speed_build() {
        let point = |p50: f64| {
            json!({"compute": {"points": [{"algo": "iterative", "n": 1000.0,
                "file": "x/k6-cpu-bound.json", "compute_ms": {"p50": p50}}]}})
        };
        let s = summary(json!({"stacks": {
            "axum": point(1.0), "spin": point(2.0), "spin-size": point(5.0)}}));
        let md = cpu_bound(&Ctx::new(&s)).md;
        assert!(
            md.contains("`spin-size` is the same Spin components built for size"),
            "{md}"
        );
        assert!(
            md.contains("size build against speed build: iterative n=1000: 5.000 ms against 2.000 ms (×2.50)."),
            "{md}"
        );
        // Without the variant, no word of it.
        let s = summary(json!({"stacks": {"axum": point(1.0), "spin": point(2.0)}}));
        assert!(!cpu_bound(&Ctx::new(&s)).md.contains("spin-size"));
    }

    #[test]
    fn no_points_is_not_measured() {
        let s = summary(json!({"stacks": {"axum": {"compute": {"points": []}}}}));
        assert!(cpu_bound(&Ctx::new(&s)).md.ends_with("Not measured.\n\n"));
    }
}
