//! Cold start: from starting the stack to its first 200.

use super::{other_sources, ChartKind, ChartSpec, Ctx, Section};
use crate::model::{MinMedMax, Stack};
use crate::table::{Comparison, Unit};
use std::fmt::Write;

/// Which probe of a cold start: the gateway's /healthz, or a database route.
#[derive(Clone, Copy)]
enum Probe {
    Healthz,
    Db,
}

fn first_200(stack: Option<&Stack>, probe: Probe) -> Option<&MinMedMax> {
    let c = stack?.coldstart.as_ref()?;
    match probe {
        Probe::Healthz => c.healthz_first_200_ms.as_ref(),
        Probe::Db => c.first_200_ms.as_ref(),
    }
}

/// The headline figure: the median start to the first 200 on a database route.
pub(super) fn first_200_p50(stack: Option<&Stack>) -> Option<f64> {
    first_200(stack, Probe::Db)?.median
}

/// Median, min and max start → first 200 per probe, how it was probed, and a chart.
pub(super) fn cold_start(cx: &Ctx) -> Section {
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
    s.chart(ChartSpec {
        file: "coldstart.svg".into(),
        title: "Cold start to first 200, median (lower is better)".into(),
        x_label: "probe".into(),
        y_label: "ms".into(),
        categories: vec!["/healthz".into(), "database route".into()],
        series: cx.series(|s| {
            [Probe::Healthz, Probe::Db]
                .map(|p| first_200(s, p)?.median)
                .to_vec()
        }),
        kind: ChartKind::Bars,
    });
    s
}

fn coldstart_table(cx: &Ctx) -> Comparison {
    let mut t = cx.table(&["probe", "figure"]);
    let figures: [(&str, DistPick); 3] = [
        ("median (ms)", |m| m.median),
        ("min (ms)", |m| m.min),
        ("max (ms)", |m| m.max),
    ];
    for (name, probe) in [("/healthz", Probe::Healthz), ("database route", Probe::Db)] {
        for (fig, pick) in figures {
            let row = cx.row(&[name, fig], Unit::Ms, |s| pick(first_200(s, probe)?));
            if row.has_data() {
                t.push(row);
            }
        }
    }
    t.push(cx.row(&["valid runs", ""], Unit::Count, |s| {
        s?.coldstart.as_ref()?.valid_runs.map(f64::from)
    }));
    t
}

/// Which figure of a distribution a row shows.
type DistPick = fn(&MinMedMax) -> Option<f64>;

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
