//! Cold start: from starting the stack to its first 200, as a distribution over many starts,
//! and the first and a warm request once it is up.

use crate::report::table::{md_escape, Comparison, Unit};
use crate::report::{other_sources, ChartKind, ChartSpec, Ctx, Section};
use crate::results::model::{MinMedMax, Stack};
use std::fmt::Write;

/// One timing a cold-start run takes, each a distribution over the runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Probe {
    /// Process start → first 200 on the gateway's /healthz.
    Healthz,
    /// Process start → first 200 on a database route.
    Db,
    /// The first request to the database route once the stack is up, timed alone.
    FirstRequest,
    /// A request to the database route after a few warm-up requests.
    WarmRequest,
}

impl Probe {
    const ALL: [Probe; 4] = [
        Probe::Healthz,
        Probe::Db,
        Probe::FirstRequest,
        Probe::WarmRequest,
    ];

    /// The table's key cell.
    fn label(self) -> &'static str {
        match self {
            Probe::Healthz => "/healthz",
            Probe::Db => "database route",
            Probe::FirstRequest => "first request after start",
            Probe::WarmRequest => "warm request",
        }
    }

    /// Its rows: the whole distribution of the start itself; the percentiles of the requests
    /// after it, whose extremes say little and would double the table.
    fn figures(self) -> &'static [(&'static str, Unit, DistPick)] {
        match self {
            Probe::Healthz | Probe::Db => &FIGURES,
            Probe::FirstRequest | Probe::WarmRequest => &FIGURES[..3],
        }
    }

    fn of(self, stack: Option<&Stack>) -> Option<&MinMedMax> {
        let c = stack?.coldstart.as_ref()?;
        match self {
            Probe::Healthz => c.healthz_first_200_ms.as_ref(),
            Probe::Db => c.first_200_ms.as_ref(),
            Probe::FirstRequest => c.first_request_ms.as_ref(),
            Probe::WarmRequest => c.warm_request_ms.as_ref(),
        }
    }
}

/// The headline figure: the median start to the first 200 on a database route.
pub(in crate::report) fn first_200_p50(stack: Option<&Stack>) -> Option<f64> {
    Probe::Db.of(stack)?.median
}

/// The tail of the headline figure, which only files with the whole distribution have.
pub(in crate::report) fn first_200_p99(stack: Option<&Stack>) -> Option<f64> {
    Probe::Db.of(stack)?.p99
}

/// Which figure of a distribution a row shows.
type DistPick = fn(&MinMedMax) -> Option<f64>;

/// The rows of each probe. Older summaries have only median, min and max: the others show
/// `–` there rather than disappear, so a reader sees what was not measured.
const FIGURES: [(&str, Unit, DistPick); 6] = [
    ("p50 (ms)", Unit::Ms, |m| m.median),
    ("p90 (ms)", Unit::Ms, |m| m.p90),
    ("p99 (ms)", Unit::Ms, |m| m.p99),
    ("min (ms)", Unit::Ms, |m| m.min),
    ("max (ms)", Unit::Ms, |m| m.max),
    ("runs", Unit::Count, runs),
];

/// How many runs a distribution holds: its count, else the number of values it lists.
fn runs(m: &MinMedMax) -> Option<f64> {
    let listed = (!m.values.is_empty()).then_some(m.values.len() as f64);
    m.count.map(f64::from).or(listed)
}

/// The distribution of each probe, how it was taken, what to keep in mind, and charts.
pub(in crate::report) fn cold_start(cx: &Ctx) -> Section {
    let mut s = Section::titled("Cold start");
    let t = coldstart_table(cx);
    if !t.has_data() {
        return s.not_measured();
    }
    s.md.push_str(&t.to_markdown());
    let _ = writeln!(
        s.md,
        "\n{} Database route probed: {}. Source: {}.\n",
        how_measured(cx.kind),
        probes(cx),
        other_sources(&cx.labels, "coldstart.json")
    );
    s.md.push_str(&after_start(cx));
    s.md.push_str(&notes(cx));
    s.chart(medians_chart(cx));
    for probe in [Probe::Db, Probe::Healthz] {
        s.chart(distribution_chart(cx, probe));
    }
    s
}

/// Every figure of every probe some stack measured, then the number of valid runs.
fn coldstart_table(cx: &Ctx) -> Comparison {
    let mut t = cx.table(&["probe", "figure"]);
    let measured = |p: &Probe| cx.stacks.iter().any(|s| p.of(*s).is_some());
    for probe in Probe::ALL.iter().filter(|p| measured(p)) {
        for (fig, unit, pick) in probe.figures() {
            t.push(cx.row(&[probe.label(), fig], *unit, |s| pick(probe.of(s)?)));
        }
    }
    t.push(cx.row(&["valid runs", ""], Unit::Count, |s| {
        s?.coldstart.as_ref()?.valid_runs.map(f64::from)
    }));
    t
}

fn how_measured(kind: Option<&str>) -> &'static str {
    if kind == Some("local") {
        "Time from starting the stack's processes (exec) to the first 200 through the \
         gateway, probing every few ms; each run starts from stopped processes."
    } else {
        "Time from scaling the service up from zero to the first 200 through the gateway."
    }
}

/// The database route each stack was probed on, and its compile cache when recorded.
fn probes(cx: &Ctx) -> String {
    let probes: Vec<String> = cx
        .present()
        .filter_map(|(l, s)| {
            let c = s.coldstart.as_ref()?;
            let cache = c.compile_cache.as_deref().map(|cc| format!(" ({cc})"));
            Some(format!(
                "`{l}`: {}{}",
                c.probe_url.as_deref().unwrap_or("?"),
                cache.unwrap_or_default()
            ))
        })
        .collect();
    probes.join("; ")
}

/// What the first and the warm request are, said beside their figures when they are there.
/// The warm request is not the same thing on both stacks, and the table cannot say so.
fn after_start(cx: &Ctx) -> String {
    let measured = |p: Probe| cx.stacks.iter().any(|s| p.of(*s).is_some());
    let mut text = String::new();
    if measured(Probe::FirstRequest) {
        text.push_str(
            "**First request after start**: the first request to the database route once the \
             stack answers it, timed alone: what the first user after a start waits. ",
        );
    }
    if measured(Probe::WarmRequest) {
        text.push_str(
            "**Warm request**: a request to the database route after a few warm-up requests. \
             Spin instantiates a component per request, so its \"warm\" request still pays \
             instantiation; an Axum service answers it from a process that is already running. ",
        );
    }
    if !text.is_empty() {
        text.truncate(text.trim_end().len());
        text.push_str("\n\n");
    }
    text
}

/// What each stack's cold-start run recorded for the reader (e.g. about the compile cache).
fn notes(cx: &Ctx) -> String {
    let mut text = String::new();
    for (l, s) in cx.present() {
        if let Some(note) = s.coldstart.as_ref().and_then(|c| c.note.as_deref()) {
            let _ = writeln!(text, "> `{l}`: {}\n", md_escape(note));
        }
    }
    text
}

/// The median of both probes side by side: readable from older summaries too.
fn medians_chart(cx: &Ctx) -> ChartSpec {
    ChartSpec {
        file: "coldstart.svg".into(),
        title: "Cold start to first 200, median (lower is better)".into(),
        x_label: "probe".into(),
        y_label: "ms".into(),
        categories: vec!["/healthz".into(), "database route".into()],
        series: cx.series(|s| {
            [Probe::Healthz, Probe::Db]
                .map(|p| p.of(s)?.median)
                .to_vec()
        }),
        kind: ChartKind::Bars,
    }
}

/// Every run of one probe, one cumulative line per stack: how often a start took at most so
/// long. The tail, which one median hides, is where the stacks differ.
fn distribution_chart(cx: &Ctx, probe: Probe) -> ChartSpec {
    let (file, route) = match probe {
        Probe::Healthz => ("coldstart-healthz-runs.svg", "/healthz"),
        _ => ("coldstart-db-runs.svg", "a database route"),
    };
    ChartSpec {
        file: file.into(),
        title: format!("Cold start to first 200 on {route}, every run (left is faster)"),
        x_label: "ms from process start to first 200".into(),
        y_label: "% of runs at or below".into(),
        categories: Vec::new(),
        series: cx.series(|s| {
            let values = probe.of(s).map(|m| m.values.as_slice()).unwrap_or_default();
            values.iter().copied().map(Some).collect()
        }),
        kind: ChartKind::Cdf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    /// A local run with the whole distribution, as `crm-bench run` writes it.
    fn full_run() -> crate::results::model::Summary {
        let dist = |values: &[f64]| {
            let n = values.len();
            json!({"count": n, "min": values[0], "median": values[n / 2], "p90": values[n - 2],
                   "p99": values[n - 1], "max": values[n - 1], "values": values})
        };
        let ramp = |from: f64| (0..20).map(|i| from + i as f64).collect::<Vec<_>>();
        summary(json!({
            "environment": {"kind": "local"},
            "stacks": {
                "axum": {"coldstart": {
                    "probe_url": "http://127.0.0.1:1/customers/1", "valid_runs": 20,
                    "first_200_ms": dist(&ramp(20.0)), "healthz_first_200_ms": dist(&ramp(5.0)),
                    "first_request_ms": dist(&[1.0, 2.0, 3.0]),
                    "warm_request_ms": dist(&[0.25, 0.5, 0.75])}},
                "spin": {"coldstart": {
                    "probe_url": "http://127.0.0.1:2/customers/1", "valid_runs": 20,
                    "first_200_ms": dist(&ramp(40.0)), "healthz_first_200_ms": dist(&ramp(10.0)),
                    "first_request_ms": dist(&[2.0, 4.0, 6.0]),
                    "warm_request_ms": dist(&[1.0, 1.5, 2.0]),
                    "note": "compile cache | warm"}}
            }
        }))
    }

    #[test]
    fn a_full_run_shows_the_tail_of_every_probe() {
        let s = full_run();
        let sec = cold_start(&Ctx::new(&s));
        let md = &sec.md;
        for row in [
            "| database route | p50 (ms) | 30.00 | 50.00 | ×1.67 |",
            "| database route | p90 (ms) | 38.00 | 58.00 | ×1.53 |",
            "| database route | p99 (ms) | 39.00 | 59.00 | ×1.51 |",
            "| database route | runs | 20 | 20 | ×1.00 |",
            "| /healthz | min (ms) | 5.000 | 10.00 | ×2.00 |",
            "| first request after start | p50 (ms) | 2.000 | 4.000 | ×2.00 |",
            "| warm request | p50 (ms) | 0.500 | 1.500 | ×3.00 |",
            "| warm request | p99 (ms) | 0.750 | 2.000 | ×2.67 |",
        ] {
            assert!(md.contains(row), "{row} missing from\n{md}");
        }
        assert!(!md.contains("| warm request | max (ms)"));
        assert!(md.contains(
            "Spin instantiates a component per request, so its \"warm\" request still pays \
             instantiation"
        ));
        assert!(md.contains("> `spin`: compile cache \\| warm\n"));
        // The two distributions are charted and linked, with every run of every stack.
        let cdf = sec
            .charts
            .iter()
            .find(|c| c.file == "coldstart-db-runs.svg")
            .expect("the database route's distribution");
        assert_eq!(cdf.kind, ChartKind::Cdf);
        assert_eq!(cdf.series[1].values.len(), 20);
        assert_eq!(cdf.series[1].values[0], Some(40.0));
        assert!(md.contains("](charts/coldstart-db-runs.svg)"));
        assert!(md.contains("](charts/coldstart-healthz-runs.svg)"));
    }

    #[test]
    fn an_older_summary_shows_dashes_for_what_it_lacks() {
        // Median, min and max only: no p90/p99, no values, no first or warm request.
        let s = summary(json!({"stacks": {
            "axum": {"coldstart": {"valid_runs": 3,
                "first_200_ms": {"median": 20.0, "min": 18.0, "max": 25.0}}},
            "spin": {"coldstart": {"valid_runs": 3,
                "first_200_ms": {"median": 50.0, "min": 45.0, "max": 62.5}}}
        }}));
        let sec = cold_start(&Ctx::new(&s));
        let md = &sec.md;
        assert!(md.contains("| database route | p50 (ms) | 20.00 | 50.00 | ×2.50 |"));
        assert!(
            md.contains("| database route | p90 (ms) | – | – | – |"),
            "{md}"
        );
        assert!(md.contains("| database route | p99 (ms) | – | – | – |"));
        assert!(md.contains("| database route | runs | – | – | – |"));
        assert!(md.contains("| valid runs |  | 3 | 3 | ×1.00 |"));
        // Probes nobody measured get no rows, and no sentence explains them.
        assert!(!md.contains("/healthz |"));
        assert!(!md.contains("warm request"));
        assert!(!md.contains("Spin instantiates"));
        // The medians chart is drawn; the distributions have nothing to draw and are not linked.
        assert!(md.contains("](charts/coldstart.svg)"));
        assert!(!md.contains("-runs.svg"));
        assert!(sec.charts.iter().filter(|c| c.has_data()).count() == 1);
    }

    #[test]
    fn runs_fall_back_to_the_values_listed() {
        let m = MinMedMax {
            values: vec![1.0, 2.0],
            ..MinMedMax::default()
        };
        assert_eq!(runs(&m), Some(2.0));
        assert_eq!(runs(&MinMedMax::default()), None);
        let counted = MinMedMax {
            count: Some(25),
            ..m
        };
        assert_eq!(runs(&counted), Some(25.0));
    }

    #[test]
    fn no_cold_start_is_not_measured() {
        let s = summary(json!({"stacks": {"axum": {}, "spin": {"coldstart": null}}}));
        assert_eq!(
            cold_start(&Ctx::new(&s)).md,
            "## Cold start\n\nNot measured.\n\n"
        );
    }
}
