//! `crm-bench report`: summary.json → report.md (side-by-side tables with ratios, the
//! environment, the source of every table) and charts/*.svg.
//!
//! - this file: the report's shared vocabulary ([`Ctx`], [`Section`], [`ChartSpec`]) and
//!   [`build`], which only puts the sections in order;
//! - `sections/`: one file per part of the report, one function per section, each reading the
//!   same [`Ctx`] and returning a [`Section`] (its Markdown and the charts it links to);
//! - `table.rs`: the side-by-side Markdown tables; `charts.rs`: ChartSpec → SVG;
//! - `files.rs`: reading summary.json and writing report.md and the charts ([`write`]).

pub mod charts;
mod files;
mod sections;
pub mod table;

pub use files::write;
use sections::{
    budget, coldstart, compute, containers, density, environment, errors, floors, footprint, load,
    overview, scaling, soak,
};

use crate::report::table::{Comparison, Row, Unit};
use crate::results::label::Label;
use crate::results::model::{Figures, Stack, Stats, Summary};
use std::collections::BTreeSet;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Grouped bars: one group per category, one bar per series.
    Bars,
    /// One line per series over the categories (in order).
    Lines,
    /// A distribution per series: its `values` are samples (in any order, `categories` is
    /// unused), drawn as the share of samples at or below each value.
    Cdf,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, Clone)]
pub struct ChartSpec {
    /// File name under charts/.
    pub file: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub categories: Vec<String>,
    pub series: Vec<Series>,
    pub kind: ChartKind,
}

impl ChartSpec {
    pub fn has_data(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.values.iter().any(Option::is_some))
    }
}

pub struct Report {
    pub markdown: String,
    pub charts: Vec<ChartSpec>,
}

/// The report, section by section, in reading order.
pub fn build(summary: &Summary) -> Report {
    let cx = Ctx::new(summary);
    let sections = [
        overview::what_was_compared(&cx),
        errors::read_this_first(&cx),
        budget::budget_line(&cx),
        budget::wasm_claims(&cx),
        overview::at_a_glance(&cx),
        load::crud_scenarios(&cx),
        compute::cpu_bound(&cx),
        load::scale(&cx),
        load::server_timing(&cx),
        floors::floors(&cx),
        budget::capacity(&cx),
        budget::ladder(&cx),
        budget::cpu_per_request(&cx),
        soak::soak(&cx),
        coldstart::cold_start(&cx),
        scaling::step_load(&cx),
        footprint::memory(&cx),
        footprint::artifact_sizes(&cx),
        density::density(&cx),
        containers::container_shape(&cx),
        errors::errors_and_thresholds(&cx),
        environment::environment(&cx),
    ];
    let mut report = Report {
        markdown: String::new(),
        charts: Vec::new(),
    };
    for s in sections {
        report.markdown.push_str(&s.md);
        report.charts.extend(s.charts);
    }
    report
}

/// What every section reads: the summary, its stacks in column order (the baseline first) and
/// the kind of run (local or k3d), which changes how some figures are described.
struct Ctx<'a> {
    summary: &'a Summary,
    labels: Vec<String>,
    stacks: Vec<Option<&'a Stack>>,
    /// By stack, as each sample of the repeated figures saw it ([`Stack::sample_views`]).
    samples: Vec<Vec<Stack>>,
    kind: Option<&'a str>,
}

impl<'a> Ctx<'a> {
    fn new(summary: &'a Summary) -> Ctx<'a> {
        let labels = summary.labels();
        let stacks: Vec<Option<&Stack>> = labels.iter().map(|l| summary.stack(l)).collect();
        let samples = stacks
            .iter()
            .map(|s| s.map(Stack::sample_views).unwrap_or_default())
            .collect();
        let kind = summary.environment.as_ref().and_then(|e| e.kind.as_deref());
        Ctx {
            summary,
            labels,
            stacks,
            samples,
            kind,
        }
    }

    /// One figure per stack, in column order.
    fn by(&self, f: impl Fn(Option<&Stack>) -> Option<f64>) -> Vec<Option<f64>> {
        self.stacks.iter().map(|s| f(*s)).collect()
    }

    /// A table row of one figure per stack; a figure measured several times is the median
    /// with the samples' range.
    fn row(&self, keys: &[&str], unit: Unit, f: impl Fn(Option<&Stack>) -> Option<f64>) -> Row {
        let ranges = self
            .samples
            .iter()
            .map(|views| {
                let values: Vec<f64> = views.iter().filter_map(|v| f(Some(v))).collect();
                crate::results::samples::range(&values)
            })
            .collect();
        Row::new(keys, unit, self.by(f)).with_ranges(ranges)
    }

    /// An empty comparison table with one column per stack.
    fn table(&self, key_headers: &[&str]) -> Comparison {
        Comparison::new(key_headers, &self.labels)
    }

    /// One chart series per stack, named after it.
    fn series(&self, values: impl Fn(Option<&Stack>) -> Vec<Option<f64>>) -> Vec<Series> {
        self.labels
            .iter()
            .zip(&self.stacks)
            .map(|(l, s)| Series {
                name: l.clone(),
                values: values(*s),
            })
            .collect()
    }

    /// The stacks that are present, with their labels.
    fn present(&self) -> impl Iterator<Item = (&str, &'a Stack)> + '_ {
        self.labels
            .iter()
            .zip(&self.stacks)
            .filter_map(|(l, s)| Some((l.as_str(), (*s)?)))
    }
}

/// One section of the report: its Markdown and the charts it links to.
#[derive(Default)]
struct Section {
    md: String,
    charts: Vec<ChartSpec>,
}

impl Section {
    fn titled(title: &str) -> Section {
        Section {
            md: format!("## {title}\n\n"),
            charts: Vec::new(),
        }
    }

    /// Adds a chart and, when it has something to draw, its image link.
    fn chart(&mut self, spec: ChartSpec) {
        if spec.has_data() {
            let _ = writeln!(self.md, "![{}](charts/{})\n", spec.title, spec.file);
        }
        self.charts.push(spec);
    }

    fn not_measured(mut self) -> Section {
        self.md.push_str("Not measured.\n\n");
        self
    }
}

/// The load-test scenarios in the order the script runs them; others follow by name.
const LOAD_ORDER: [&str; 4] = ["read", "write", "inter_service", "mixed"];
const SERVICE_ORDER: [&str; 3] = ["gateway", "customer-service", "order-service"];

/// What a stack label stands for, said the same way everywhere.
pub fn stack_title(label: &str, kind: Option<&str>) -> String {
    let k3d = kind == Some("k3d");
    let Some(known) = Label::parse(label) else {
        return label.to_string();
    };
    match known {
        Label::Axum if k3d => "Axum services in containers (k3d Deployments)",
        Label::Axum => "Axum services, native release binaries",
        Label::Spin if k3d => "Spin components on SpinKube (k3d)",
        Label::Spin => "Spin components under `spin up` (Spin CLI)",
        Label::SpinCombined => {
            "Spin components under one `spin up` (combined manifest, chained in-process)"
        }
        Label::SpinSize => {
            "Spin gateway built for size (opt-level \"s\", wasm-opt -Oz): /compute and sizes only"
        }
        Label::AxumContainer => {
            "Axum services as static musl images under runc, a private containerd 1.7 with \
             k8s/'s resources as cgroup limits: the container shape k3d's Deployments run"
        }
        Label::SpinShim => {
            "Spin apps under containerd-shim-spin v0.22.0 (Spin 3.5.0 inside) on the same \
             containerd: the shape SpinKube runs on a k3d node"
        }
    }
    .to_string()
}

/// Ordered union of scenario names of one k6 test across stacks.
pub fn scenario_names(summary: &Summary, test: &str, preferred: &[&str]) -> Vec<String> {
    let mut all = BTreeSet::new();
    for label in summary.labels() {
        if let Some(k6) = summary.stack(&label).and_then(|s| s.k6(test)) {
            all.extend(k6.scenarios.keys().cloned());
        }
    }
    let mut out: Vec<String> = preferred
        .iter()
        .filter(|p| all.contains(**p))
        .map(|p| p.to_string())
        .collect();
    let mut rest: Vec<String> = all.into_iter().filter(|n| !out.contains(n)).collect();
    // vus_1, vus_5, vus_10: numeric order where the names end in a number.
    rest.sort_by_key(|n| (trailing_number(n).unwrap_or(u64::MAX), n.clone()));
    out.append(&mut rest);
    out
}

pub fn trailing_number(name: &str) -> Option<u64> {
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

fn scenario<'a>(s: Option<&'a Stack>, test: &str, name: &str) -> Option<&'a Figures> {
    s.and_then(|s| s.scenario(test, name))
}

fn lat(f: Option<&Figures>, pick: Pick) -> Option<f64> {
    f.and_then(|f| f.latency_ms.as_ref()).and_then(pick)
}

fn st(f: Option<&Figures>, trend: &str, pick: Pick) -> Option<f64> {
    f.and_then(|f| f.st(trend)).and_then(pick)
}

/// Which percentile of a k6 trend a row shows.
type Pick = fn(&Stats) -> Option<f64>;

fn p50(s: &Stats) -> Option<f64> {
    s.p50
}
fn p95(s: &Stats) -> Option<f64> {
    s.p95
}
fn p99(s: &Stats) -> Option<f64> {
    s.p99
}

/// The latency rows of the k6 tables, in their order.
const PERCENTILES: [(&str, Pick); 3] = [("p50 (ms)", p50), ("p95 (ms)", p95), ("p99 (ms)", p99)];

/// Where a table's numbers come from: the raw files beside summary.json.
fn sources(cx: &Ctx, test: &str, fallback: &str) -> String {
    let files: Vec<String> = cx
        .labels
        .iter()
        .zip(&cx.stacks)
        .map(|(l, s)| {
            s.and_then(|s| s.k6(test))
                .and_then(|k| k.file.clone())
                .unwrap_or_else(|| format!("{l}/{fallback}"))
        })
        .map(|f| format!("`{f}`"))
        .collect();
    files.join(", ")
}

fn other_sources(labels: &[String], file: &str) -> String {
    labels
        .iter()
        .map(|l| format!("`{l}/{file}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn setting_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mib(b: f64) -> f64 {
    b / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn fixture() -> Summary {
        let text = include_str!("../../tests/fixtures/summary.json");
        Summary::from_json(text).expect("fixture parses")
    }

    /// A summary built in the test, from JSON shaped like summary.json.
    pub(super) fn summary(value: serde_json::Value) -> Summary {
        serde_json::from_value(value).expect("a valid summary")
    }

    #[test]
    fn baseline_comes_first() {
        assert_eq!(fixture().labels(), vec!["axum", "spin-combined"]);
    }

    #[test]
    fn load_scenarios_keep_the_script_order() {
        let s = fixture();
        assert_eq!(
            scenario_names(&s, "load", &LOAD_ORDER),
            vec!["read", "write", "inter_service", "mixed"]
        );
        assert_eq!(
            scenario_names(&s, "scale", &[]),
            vec!["vus_1", "vus_5", "vus_10"]
        );
    }

    #[test]
    fn the_report_shows_absolutes_and_ratios() {
        let r = build(&fixture());
        // read p50: axum 1.0 ms, spin-combined 2.5 ms.
        assert!(
            r.markdown
                .contains("| read | p50 (ms) | 1.000 | 2.500 | ×2.50 |"),
            "{}",
            r.markdown
        );
        assert!(r
            .markdown
            .contains("| read | throughput (req/s) | 1000.0 | 400.0 | ×0.40 |"));
        assert!(r.markdown.contains(
            "Spin components under one `spin up` (combined manifest, chained in-process)"
        ));
        assert!(r
            .markdown
            .contains("`axum/k6-load.json`, `spin-combined/k6-load.json`"));
    }

    #[test]
    fn nulls_are_shown_as_not_measured() {
        let r = build(&fixture());
        // The fixture.s spin-combined order-service RSS is null in the fixture: no total either.
        assert!(
            r.markdown
                .contains("| total | idle, avg | 30.00 MiB | – | – |"),
            "{}",
            r.markdown
        );
    }

    #[test]
    fn sections_come_in_reading_order() {
        let md = build(&fixture()).markdown;
        let at = |h: &str| md.find(h).unwrap_or_else(|| panic!("{h} missing"));
        let order = [
            "# CRM benchmark",
            "## At a glance",
            "## CRUD scenarios",
            "## CPU-bound endpoint",
            "## Latency versus concurrent clients",
            "## Where the database time goes",
            "## Soak",
            "## Cold start",
            "## Memory (RSS) and CPU",
            "## Artifact sizes",
            "## Density: many copies of customer-service",
            "## Errors and thresholds",
            "## Environment",
        ];
        for pair in order.windows(2) {
            assert!(at(pair[0]) < at(pair[1]), "{} before {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn charts_have_one_series_per_stack() {
        let r = build(&fixture());
        let names: Vec<&str> = r.charts.iter().map(|c| c.file.as_str()).collect();
        for f in [
            "throughput-crud.svg",
            "latency-read.svg",
            "scale-throughput.svg",
            "coldstart.svg",
            "memory.svg",
            "sizes.svg",
            "compute-iterative.svg",
        ] {
            assert!(names.contains(&f), "{f} missing from {names:?}");
        }
        for c in &r.charts {
            assert_eq!(c.series.len(), 2, "{}", c.file);
            if c.kind == ChartKind::Cdf {
                continue; // samples, not one value per category
            }
            for s in &c.series {
                assert_eq!(s.values.len(), c.categories.len(), "{}", c.file);
            }
        }
    }

    #[test]
    fn a_chart_is_linked_only_when_it_has_data() {
        let mut s = Section::default();
        let spec = |values| ChartSpec {
            file: "x.svg".into(),
            title: "X".into(),
            x_label: String::new(),
            y_label: String::new(),
            categories: vec!["a".into()],
            series: vec![Series {
                name: "axum".into(),
                values,
            }],
            kind: ChartKind::Bars,
        };
        s.chart(spec(vec![None]));
        assert_eq!(s.md, "");
        s.chart(spec(vec![Some(1.0)]));
        assert_eq!(s.md, "![X](charts/x.svg)\n\n");
        assert_eq!(
            s.charts.len(),
            2,
            "both are kept; main draws those with data"
        );
    }

    #[test]
    fn the_report_names_the_tools_that_write_the_results() {
        let md = build(&fixture()).markdown;
        // The Python scripts that wrote them are gone: crm-bench writes summary.json and
        // environment.json now.
        assert!(!md.contains(".py"), "{md}");
        assert!(md.contains("`crm-bench collect` for a k3d run"));
        assert!(md.contains("Problems recorded when collecting the results:"));
        assert!(md.contains("(written by `crm-bench run`, or by `crm-bench env` for a k3d run)"));
    }

    #[test]
    fn an_empty_summary_still_renders() {
        let r = build(&Summary::from_json("{\"stacks\": {\"axum\": null}}").unwrap());
        assert!(r.markdown.contains("Not measured."));
    }

    #[test]
    fn trailing_numbers() {
        assert_eq!(trailing_number("vus_50"), Some(50));
        assert_eq!(trailing_number("read"), None);
    }
}
