//! The top of the report: what was compared, and the headline figures of every section.

use super::coldstart::{first_200_p50, first_200_p99};
use super::compute::{compute_keys, compute_point, n_text};
use super::footprint::{artifact_bytes, rss};
use crate::report::table::{md_escape, Comparison, Unit};
use crate::report::{lat, p50, p99, scenario, setting_text, stack_title, Ctx, Pick, Section};
use crate::results::label::Label;
use crate::results::model::Figures;
use crate::results::samples::{median, relative_spread};
use std::fmt::Write;

/// The title, how to read the tables, and what each stack label ran.
pub(in crate::report) fn what_was_compared(cx: &Ctx) -> Section {
    let mut s = Section::default();
    let run_id = cx.summary.run_id.as_deref().unwrap_or("unknown run");
    let _ = writeln!(s.md, "# CRM benchmark: {run_id}\n");
    let _ = writeln!(
        s.md,
        "Environment kind **{}**; summary generated {}. Every table names the raw files its \
         numbers come from (paths relative to this folder); `summary.json` holds the same \
         figures, extracted by `crm-bench` (`crm-bench run` writes it for a local run, \
         `crm-bench collect` for a k3d run). `–` means not measured. Ratios are \
         `<stack> ÷ {}` (`spin-shim ÷ axum-container` for the container shape): below 1 means \
         smaller than the baseline, which is better for times, memory and sizes and worse for \
         throughput.\n",
        cx.kind.unwrap_or("unknown"),
        cx.summary.generated_at.as_deref().unwrap_or("?"),
        cx.labels.first().map(String::as_str).unwrap_or("baseline"),
    );
    s.md.push_str("| stack | what ran |\n| --- | --- |\n");
    for l in &cx.labels {
        let _ = writeln!(s.md, "| `{l}` | {} |", stack_title(l, cx.kind));
    }
    s.md.push('\n');
    // The runner's own word on the Spin column (which Spin, which shapes).
    if let Some(Some(note)) = cx
        .summary
        .environment
        .as_ref()
        .and_then(|e| e.settings.get("spin_column"))
    {
        let _ = writeln!(s.md, "> {}\n", md_escape(&setting_text(note)));
    }
    if cx.labels.iter().any(|l| l == Label::SpinCombined.as_str()) {
        s.md.push_str(SPIN_COMBINED);
    }
    s.md.push_str(&repeatability(cx));
    s
}

/// One figure of a k6 figures block.
type FigurePick = fn(&Figures) -> Option<f64>;

/// How many samples each k6 figure had and how far they spread: the half-range as a fraction
/// of the median, over every throughput and p50/p99 figure of every sampled suite.
fn repeatability(cx: &Ctx) -> String {
    let mut spreads: Vec<(f64, String)> = Vec::new();
    let mut most_samples = 0;
    let floors = cx
        .summary
        .floors
        .iter()
        .map(|(t, k)| (t.as_str(), k.as_ref()));
    let k6 = cx
        .present()
        .flat_map(|(label, st)| st.k6.iter().map(move |(t, k)| (label, t, k.as_ref())))
        .map(|(label, test, k)| (format!("{label} {test}"), k))
        .chain(floors.map(|(t, k)| (format!("floor {t}"), k)));
    for (name, result) in k6 {
        let Some(result) = result.filter(|r| r.samples.len() > 1) else {
            continue;
        };
        most_samples = most_samples.max(result.samples.len());
        for scenario in result.scenarios.keys() {
            let picks: [(&str, FigurePick); 3] = [
                ("req/s", |f| f.throughput_rps),
                ("p50", |f| f.latency_ms.as_ref()?.p50),
                ("p99", |f| f.latency_ms.as_ref()?.p99),
            ];
            for (what, pick) in picks {
                let values: Vec<f64> = result
                    .samples
                    .iter()
                    .filter_map(|r| r.scenarios.get(scenario)?.as_ref())
                    .filter_map(pick)
                    .collect();
                if let Some(spread) = relative_spread(&values) {
                    spreads.push((spread, format!("{name} {scenario} {what}")));
                }
            }
        }
    }
    if spreads.is_empty() {
        return "> Every figure is **one sample** (a quick run, or `--samples 1`): indicative \
                only; run-to-run noise on a shared machine is easily 10 %.\n\n"
            .to_string();
    }
    let values: Vec<f64> = spreads.iter().map(|(v, _)| *v).collect();
    let (worst, worst_name) = spreads
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .cloned()
        .unwrap_or_default();
    format!(
        "> Every k6 figure is the **median of {most_samples} samples**, the stacks measured \
         in turn within each sample (A B A B A B) so that drift over the run hits all alike; \
         `(lo–hi)` is the samples' range, and a ratio whose two ranges overlap is marked \
         *no clear difference*. Over the {} sampled figures (throughput, p50, p99 of every \
         scenario), the half-range is a median **±{:.1} %** of the figure (the widest: ±{:.1} \
         %, {}).\n\n",
        spreads.len(),
        100.0 * median(&values).unwrap_or(f64::NAN),
        100.0 * worst,
        md_escape(&worst_name)
    )
}

const SPIN_COMBINED: &str =
    "> **`spin-combined`** is a variant of the Spin column: the three components in one \
     `spin up` of `spin-crm/spin.toml`, the gateway calling the services in-process \
     (`*.spin.internal`) instead of over HTTP. It is measured for cold start, memory and \
     the load scenarios (`inter_service` is where the shapes differ); the headline `spin` \
     column is three `spin up`s, one per service, as Kubernetes runs them.\n\n";

/// One row per section: the figure a reader looks at first.
pub(in crate::report) fn at_a_glance(cx: &Ctx) -> Section {
    let mut head = cx.table(&["figure"]);
    latency_headlines(cx, &mut head);
    compute_headlines(cx, &mut head);
    footprint_headlines(cx, &mut head);
    super::budget::glance_rows(cx, &mut head);
    let mut s = Section::titled("At a glance");
    s.md.push_str(&head.to_markdown());
    s.md.push_str(
        "\nSources: the sections below, which name their files. Lower is better except for \
         throughput.\n\n",
    );
    s
}

/// The k6 load and scale tests.
fn latency_headlines(cx: &Ctx, head: &mut Comparison) {
    let rows: [(&str, &str, Pick); 4] = [
        ("read: p50 latency (ms)", "read", p50),
        ("read: p99 latency (ms)", "read", p99),
        ("write: p50 latency (ms)", "write", p50),
        ("inter_service: p50 latency (ms)", "inter_service", p50),
    ];
    for (name, scen, f) in rows {
        head.push(cx.row(&[name], Unit::Ms, |s| lat(scenario(s, "load", scen), f)));
    }
    head.push(cx.row(&["mixed: throughput (req/s)"], Unit::Rps, |s| {
        scenario(s, "load", "mixed").and_then(|f| f.throughput_rps)
    }));
    head.push(cx.row(
        &["scale: best throughput over levels (req/s)"],
        Unit::Rps,
        |s| {
            let k = s?.k6("scale")?;
            k.scenarios
                .values()
                .flatten()
                .filter_map(|f| f.throughput_rps)
                .reduce(f64::max)
        },
    ));
}

/// The largest n of each /compute algorithm.
fn compute_headlines(cx: &Ctx, head: &mut Comparison) {
    let keys = compute_keys(&cx.stacks);
    for algo in ["iterative", "recursive"] {
        if let Some((_, n)) = keys.iter().rev().find(|(a, _)| a == algo) {
            let name = format!("/compute {algo} n={}: p50 per request (ms)", n_text(*n));
            head.push(cx.row(&[&name], Unit::Ms, |s| {
                compute_point(s, algo, *n)?.latency_ms?.p50
            }));
        }
    }
}

/// Cold start, memory and sizes.
fn footprint_headlines(cx: &Ctx, head: &mut Comparison) {
    head.push(cx.row(
        &["cold start to first 200 on a DB route, median (ms)"],
        Unit::Ms,
        first_200_p50,
    ));
    // Older summaries have no tail: no row of dashes for them.
    let tail = cx.row(
        &["cold start to first 200 on a DB route, p99 (ms)"],
        Unit::Ms,
        first_200_p99,
    );
    if tail.has_data() {
        head.push(tail);
    }
    head.push(cx.row(&["RSS idle, all services (avg)"], Unit::Bytes, |s| {
        rss(s, "idle", "total", false)
    }));
    head.push(
        cx.row(&["RSS under load, all services (max)"], Unit::Bytes, |s| {
            rss(s, "load", "total", true)
        }),
    );
    head.push(
        cx.row(&["artifacts alone, all services"], Unit::Bytes, |s| {
            artifact_bytes(s, "total")
        }),
    );
    // The .wasm files do not run alone: beside them, what it takes to run them (the Spin CLI
    // for `spin up`; a native binary needs nothing more than the OS).
    let with_runtime = cx.row(
        &["artifacts + the runtime that runs them"],
        Unit::Bytes,
        |s| {
            let total = artifact_bytes(s, "total")?;
            Some(total + artifact_bytes(s, "runtime").unwrap_or(0.0))
        },
    );
    if with_runtime.has_data() {
        head.push(with_runtime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn the_headline_takes_the_best_scale_level() {
        let s = summary(json!({"stacks": {
            "axum": {"k6": {"scale": {"scenarios": {
                "vus_1": {"throughput_rps": 100.0}, "vus_10": {"throughput_rps": 300.0},
                "vus_50": {"throughput_rps": 250.0}}}}},
            "spin": {"k6": {"scale": {"scenarios": {"vus_1": null}}}}
        }}));
        let md = at_a_glance(&Ctx::new(&s)).md;
        assert!(md.contains("| scale: best throughput over levels (req/s) | 300.0 | – | – |"));
        assert!(
            md.contains("| read: p50 latency (ms) | – | – | – |"),
            "{md}"
        );
    }

    #[test]
    fn the_spin_column_is_explained() {
        let s = summary(json!({
            "environment": {"kind": "k3d", "settings": {"spin_column": "Spin 3.5.1, per service"}},
            "stacks": {"axum": {}, "spin-combined": {}}
        }));
        let md = what_was_compared(&Ctx::new(&s)).md;
        assert!(md.contains("Environment kind **k3d**"));
        assert!(md.contains("| `axum` | Axum services in containers (k3d Deployments) |"));
        assert!(md.contains("> Spin 3.5.1, per service\n"));
        assert!(md.contains("> **`spin-combined`** is a variant"));
    }
}
