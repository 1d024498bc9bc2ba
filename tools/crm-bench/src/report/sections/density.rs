//! Density: N copies of customer-service at once, per layout — the time until all serve data,
//! their memory, and what each extra copy costs.

use crate::report::table::{fmt_bytes, fmt_value, md_escape, Unit};
use crate::report::{mib, ChartKind, ChartSpec, Ctx, Section, Series};
use crate::results::model::{Density, DensityPoint};
use std::fmt::Write;

/// The layouts in the order the report shows them; others follow by name.
const LAYOUT_ORDER: [&str; 3] = ["axum", "spin-one-up", "spin-n-ups"];

pub(in crate::report) fn density(cx: &Ctx) -> Section {
    let mut s = Section::titled("Density: many copies of customer-service");
    let Some(d) = cx.summary.density.as_ref() else {
        return s.not_measured();
    };
    let layouts = layouts(d);
    let _ = writeln!(
        s.md,
        "N copies of customer-service started at once on one database, {}. \
         **Up** is from the first spawn until every copy answered 200 on a database read \
         (`{}`, copy k reading customer k); the memory is read {} s later, summed over every \
         process: **RSS** counts a page shared by several processes once in each, **PSS** \
         splits it between them (what the copies add to the machine, but a process outside \
         the run mapping the same files, such as another `spin`, takes a share too), \
         **anonymous** is heap and stacks, which nothing shares. **Per extra copy** is \
         (memory(N) − memory(1)) / (N − 1). One machine, one run per N, wasmtime's compile \
         cache warm (the Spin stacks ran before); see docs/benchmark.md (Density).\n",
        describe(d, &layouts),
        d.probe_path.as_deref().unwrap_or("/customers/k"),
        d.settle_s.unwrap_or(0.0)
    );
    let table = table(d, &layouts);
    if table.is_empty() {
        s.md.push_str("No layout was measured.\n\n");
    } else {
        s.md.push_str(
            "| N | layout | up (ms) | RSS | PSS | anonymous | per extra copy: RSS | PSS | \
             anonymous |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        s.md.push_str(&table);
        s.md.push('\n');
    }
    let missing = not_measured(d, &layouts);
    for (name, why) in &missing {
        let _ = writeln!(s.md, "- `{name}`: {}", md_escape(why));
    }
    if !missing.is_empty() {
        s.md.push('\n');
    }
    s.md.push_str("Source: `density/density.json`.\n\n");
    let counts: Vec<String> = d.counts.iter().map(u32::to_string).collect();
    let series = |pick: fn(&DensityPoint) -> Option<f64>| -> Vec<Series> {
        layouts
            .iter()
            .map(|name| Series {
                name: name.clone(),
                values: d
                    .counts
                    .iter()
                    .map(|&n| at(d, name, n).and_then(pick))
                    .collect(),
            })
            .collect()
    };
    s.chart(ChartSpec {
        file: "density-memory.svg".into(),
        title: "PSS of N copies of customer-service (lower is better)".into(),
        x_label: "N (copies)".into(),
        y_label: "MiB".into(),
        categories: counts.clone(),
        series: series(|p| p.pss_bytes.map(mib)),
        kind: ChartKind::Lines,
    });
    s.chart(ChartSpec {
        file: "density-up.svg".into(),
        title: "Time until all N copies serve data (lower is better)".into(),
        x_label: "N (copies)".into(),
        y_label: "ms".into(),
        categories: counts,
        series: series(|p| p.up_ms),
        kind: ChartKind::Lines,
    });
    s
}

/// The layouts of the file, in report order.
fn layouts(d: &Density) -> Vec<String> {
    let mut names: Vec<String> = LAYOUT_ORDER
        .iter()
        .filter(|l| d.layouts.contains_key(**l))
        .map(|l| l.to_string())
        .collect();
    names.extend(
        d.layouts
            .keys()
            .filter(|k| !LAYOUT_ORDER.contains(&k.as_str()))
            .cloned(),
    );
    names
}

/// "`axum`: N processes …; `spin-one-up`: …".
fn describe(d: &Density, layouts: &[String]) -> String {
    let parts: Vec<String> = layouts
        .iter()
        .filter_map(|name| {
            let text = d.layouts.get(name)?.as_ref()?.description.as_deref()?;
            Some(format!("`{name}`: {}", md_escape(text)))
        })
        .collect();
    if parts.is_empty() {
        "per layout".into()
    } else {
        format!("in {} layouts ({})", parts.len(), parts.join("; "))
    }
}

/// The point of `layout` at N.
fn at<'a>(d: &'a Density, layout: &str, n: u32) -> Option<&'a DensityPoint> {
    d.layouts
        .get(layout)?
        .as_ref()?
        .points
        .iter()
        .find(|p| p.instances == Some(n))
}

/// The rows, N by N, each layout under it; an N that failed says why.
fn table(d: &Density, layouts: &[String]) -> String {
    let mut out = String::new();
    let bytes = |v: Option<f64>| v.filter(|v| v.is_finite()).map_or("–".into(), fmt_bytes);
    for &n in &d.counts {
        for name in layouts {
            let Some(p) = at(d, name, n) else { continue };
            if let Some(e) = &p.error {
                let first = e.lines().next().unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {n} | `{name}` | failed: {} | – | – | – | – | – | – |",
                    md_escape(first)
                );
                continue;
            }
            let _ = writeln!(
                out,
                "| {n} | `{name}` | {} | {} | {} | {} | {} | {} | {} |",
                fmt_value(p.up_ms, Unit::Ms),
                bytes(p.rss_bytes),
                bytes(p.pss_bytes),
                bytes(p.anon_bytes),
                bytes(p.rss_per_extra_bytes),
                bytes(p.pss_per_extra_bytes),
                bytes(p.anon_per_extra_bytes)
            );
        }
    }
    out
}

/// Layouts without any point, and why.
fn not_measured(d: &Density, layouts: &[String]) -> Vec<(String, String)> {
    layouts
        .iter()
        .filter_map(|name| {
            let l = d.layouts.get(name)?;
            let why = match l {
                None => "not measured".to_string(),
                Some(l) if l.points.is_empty() => {
                    l.error.clone().unwrap_or_else(|| "not measured".into())
                }
                Some(_) => return None,
            };
            Some((name.clone(), why))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    const MIB: f64 = 1048576.0;

    fn point(n: u32, up: f64, rss: f64, pss: f64, extra: Option<f64>) -> serde_json::Value {
        json!({"instances": n, "up_ms": up, "rss_bytes": rss * MIB, "pss_bytes": pss * MIB,
               "anon_bytes": pss / 2.0 * MIB,
               "anon_per_extra_bytes": extra.map(|e| e / 2.0 * MIB),
               "rss_per_extra_bytes": extra.map(|e| e * 2.0 * MIB),
               "pss_per_extra_bytes": extra.map(|e| e * MIB)})
    }

    fn fixture() -> crate::results::model::Summary {
        summary(json!({"stacks": {"axum": null}, "density": {
        "counts": [1, 5], "probe_path": "/customers/k", "settle_s": 2.0,
        "layouts": {
            "spin-n-ups": {"description": "N spin ups", "points": [
                point(1, 400.0, 60.0, 40.0, None),
                {"instances": 5, "error": "2 of 5 never answered 200\nlog tail"}]},
            "axum": {"description": "N processes", "points": [
                point(1, 20.0, 10.0, 8.0, None), point(5, 60.0, 50.0, 24.0, Some(4.0))]},
            "spin-one-up": {"description": "one spin up", "error": "not measured: no Spin stack"}
        }}}))
    }

    #[test]
    fn the_table_has_a_row_per_n_and_layout_with_failures_said() {
        let s = fixture();
        let md = density(&Ctx::new(&s)).md;
        assert!(md.contains("## Density: many copies of customer-service"));
        assert!(
            md.contains("| 1 | `axum` | 20.00 | 10.00 MiB | 8.00 MiB | 4.00 MiB | – | – | – |"),
            "{md}"
        );
        assert!(md.contains(
            "| 5 | `axum` | 60.00 | 50.00 MiB | 24.00 MiB | 12.00 MiB | 8.00 MiB | 4.00 MiB | 2.00 MiB |"
        ));
        assert!(md.contains("| 5 | `spin-n-ups` | failed: 2 of 5 never answered 200 |"));
        assert!(!md.contains("log tail"));
        // axum's rows come before spin-n-ups' at each N.
        assert!(md.find("| 1 | `axum`").unwrap() < md.find("| 1 | `spin-n-ups`").unwrap());
        assert!(md.contains("- `spin-one-up`: not measured: no Spin stack\n\nSource:"));
        assert!(md.contains("`axum`: N processes"));
    }

    #[test]
    fn the_charts_draw_memory_and_time_against_n_per_layout() {
        let s = fixture();
        let sec = density(&Ctx::new(&s));
        let memory = &sec.charts[0];
        assert_eq!(memory.file, "density-memory.svg");
        assert_eq!(memory.categories, ["1", "5"]);
        let names: Vec<&str> = memory.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["axum", "spin-one-up", "spin-n-ups"]);
        assert_eq!(memory.series[0].values, [Some(8.0), Some(24.0)]);
        assert_eq!(memory.series[2].values, [Some(40.0), None]);
        assert_eq!(sec.charts[1].series[0].values, [Some(20.0), Some(60.0)]);
        assert!(sec.md.contains("![PSS of N copies"));
    }

    #[test]
    fn a_run_without_density_says_not_measured() {
        let s = summary(json!({"stacks": {"axum": null}}));
        let sec = density(&Ctx::new(&s));
        assert!(sec.md.ends_with("Not measured.\n\n"));
        assert!(sec.charts.is_empty());
    }
}
