//! The soak (summary.json `soak`, a local run with `--soak`): each stack alone at half of its
//! gateway's read capacity for minutes — the rate, the samples, each series' first → last,
//! its slope per minute and whether it grows — with RSS and p99 over time, and the marks
//! "Read this first" lists when a series grows.

use crate::report::table::{fmt_bytes, fmt_ms, md_escape};
use crate::report::{mib, ChartKind, ChartSpec, Ctx, Section, Series};
use crate::results::soak::{SoakRun, SERIES};
use std::fmt::Write;

/// Below this a soak shows warm-up rather than leaks, and the section says so.
const SHORT_S: f64 = 300.0;

/// What each series is called in the report.
fn series_name(series: &str) -> &'static str {
    match series {
        "rss_bytes" => "RSS",
        "pss_bytes" => "PSS",
        "open_fds" => "open descriptors",
        "pg_connections" => "Postgres connections",
        "p99_ms" => "p99 (ms)",
        _ => "?",
    }
}

/// What each series is called in a sentence.
fn series_word(series: &str) -> &'static str {
    match series {
        "p99_ms" => "p99",
        other => series_name(other),
    }
}

/// A value of `series` with its unit, for a sentence.
fn value_with_unit(series: &str, v: Option<f64>) -> String {
    let text = value_text(series, v);
    if series == "p99_ms" && text != "–" {
        format!("{text} ms")
    } else {
        text
    }
}

/// Intervals whose rate was not offered in full (the generator fell behind, or too many
/// requests were outstanding), of those that say.
fn not_in_full(r: &SoakRun) -> (usize, usize) {
    let said: Vec<bool> = r.samples.iter().filter_map(|x| x.offered_in_full).collect();
    (said.iter().filter(|ok| !**ok).count(), said.len())
}

/// A value of `series` as the report prints it.
fn value_text(series: &str, v: Option<f64>) -> String {
    match v.filter(|v| v.is_finite()) {
        None => "–".into(),
        Some(v) if series.ends_with("_bytes") => fmt_bytes(v),
        Some(v) if series == "p99_ms" => fmt_ms(v),
        Some(v) => format!("{v:.0}"),
    }
}

/// A slope of `series` per minute, signed, with its unit.
fn slope_text(series: &str, v: Option<f64>) -> String {
    match v.filter(|v| v.is_finite()) {
        None => "–".into(),
        Some(v) if series.ends_with("_bytes") => format!("{:+.3} MiB/min", mib(v)),
        Some(v) if series == "p99_ms" => format!("{v:+.3} ms/min"),
        Some(v) => format!("{v:+.2}/min"),
    }
}

fn seconds_text(s: Option<f64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s >= 120.0 && (s % 60.0).abs() < 0.5 => format!("{:.0} min", s / 60.0),
        Some(s) => format!("{s:.0} s"),
    }
}

/// The soaked stacks in column order, then any other by name.
fn runs<'a>(cx: &Ctx<'a>) -> Vec<(String, Option<&'a SoakRun>)> {
    let Some(soak) = cx.summary.soak.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<(String, Option<&SoakRun>)> = cx
        .labels
        .iter()
        .filter_map(|l| Some((l.clone(), soak.stacks.get(l)?.as_ref())))
        .collect();
    for (l, run) in &soak.stacks {
        if !cx.labels.contains(l) {
            out.push((l.clone(), run.as_ref()));
        }
    }
    out
}

pub(in crate::report) fn soak(cx: &Ctx) -> Section {
    let mut s = Section::titled("Soak");
    let runs = runs(cx);
    if runs.is_empty() {
        s.md.push_str(
            "Not measured: `crm-bench run --soak 10m` (or `SOAK=10m`) soaks each stack at half \
             of its capacity.\n\n",
        );
        return s;
    }
    s.md.push_str(
        "Each stack alone, started afresh after the samples, under a steady open-loop load of \
         **half its gateway's read capacity** (wrk, this run's capacity step): `GET \
         /customers/{id}` of seeded ids through the gateway. Once per interval: RSS and PSS of \
         every process of the stack (children included), their open descriptors, the \
         sessions on the stack's database (`pg_stat_activity`) and the p99 of the interval's \
         2xx answers. Each series gets a least-squares slope; it **grows** when the fitted \
         line rises over the soak by more than 10 % of its first value and more than a noise \
         floor (4 MiB of memory, 8 descriptors, 4 connections, 20 ms of p99): a warm-up is not \
         a leak, a steady climb is. The generator is crm-bench itself (the harness's open loop, \
         on the generator's CPUs); an interval is **not offered in full** when it fell behind \
         the rate or found 1024 requests outstanding: the stack (or the generator) could not \
         keep up, and the slopes then describe a queue growing, not a steady state.\n\n",
    );
    let shortest = runs
        .iter()
        .filter_map(|(_, r)| r.and_then(|r| r.duration_s))
        .fold(f64::INFINITY, f64::min);
    if shortest < SHORT_S {
        let _ = writeln!(
            s.md,
            "**A short soak** ({}): it shows warm-up, not leaks; quote the 10-minute one \
             (`--soak 10m`).\n",
            seconds_text(Some(shortest))
        );
    }
    s.md.push_str(
        "| stack | rate (req/s) | capacity (req/s) | duration | interval | samples | requests \
         | not 2xx | intervals not offered in full | alive at the end |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    };
    for (label, run) in &runs {
        let Some(r) = run else {
            let _ = writeln!(
                s.md,
                "| `{label}` | unreadable (see Errors and thresholds) | | | | | | | | |"
            );
            continue;
        };
        let in_full = match not_in_full(r) {
            (_, 0) => "–".to_string(),
            (0, of) => format!("0 of {of}"),
            (n, of) => format!("**{n} of {of}**"),
        };
        let _ = writeln!(
            s.md,
            "| `{label}` | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rate_rps.map_or("–".into(), |v| format!("{v:.0}")),
            r.capacity_rps.map_or("–".into(), |v| format!("{v:.0}")),
            seconds_text(r.duration_s),
            seconds_text(r.interval_s),
            r.samples.len(),
            r.requests().map_or("–".into(), |v| format!("{v:.0}")),
            r.failed().map_or("–".into(), |v| format!("{v:.0}")),
            in_full,
            yes_no(r.alive),
        );
    }
    s.md.push_str(
        "\n| stack | series | first | last | slope per minute | grows |\n\
         |---|---|---:|---:|---:|---|\n",
    );
    for (label, run) in &runs {
        let Some(r) = run else { continue };
        for series in SERIES {
            let slope = r.slope(series);
            if slope.is_none() && r.series(series).iter().all(Option::is_none) {
                continue;
            }
            let grows = match slope.and_then(|s| s.grows) {
                Some(true) => "**grows**",
                Some(false) => "no",
                None => "– (fewer than 3 samples)",
            };
            let _ = writeln!(
                s.md,
                "| `{label}` | {} | {} | {} | {} | {grows} |",
                series_name(series),
                value_text(series, slope.and_then(|s| s.first)),
                value_text(series, slope.and_then(|s| s.last)),
                slope_text(series, slope.and_then(|s| s.per_minute)),
            );
        }
    }
    s.md.push('\n');
    let errors: Vec<String> = runs
        .iter()
        .filter_map(|(l, r)| Some((l, (*r)?)))
        .flat_map(|(l, r)| {
            r.errors
                .iter()
                .map(move |(kind, n)| format!("`{l}` {n} × {}", md_escape(kind)))
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(s.md, "Answers that were not 2xx: {}.\n", errors.join(", "));
    }
    for (label, run) in &runs {
        if let Some(source) = run.and_then(|r| r.capacity_source.as_deref()) {
            let _ = writeln!(s.md, "- `{label}` capacity: {}", md_escape(source));
        }
    }
    let files: Vec<String> = runs
        .iter()
        .map(|(l, r)| {
            let file = r
                .and_then(|r| r.file.clone())
                .unwrap_or_else(|| format!("soak/{l}.json"));
            format!("`{file}`")
        })
        .collect();
    let _ = writeln!(s.md, "\nSource: {}.\n", files.join(", "));
    // Over time: one category per sample, named by the longest soak's times.
    let longest = runs
        .iter()
        .filter_map(|(_, r)| *r)
        .max_by_key(|r| r.samples.len());
    // Each stack's k-th sample ends its k-th interval; the times differ by the last answers of
    // each interval, so the axis gives the intervals' nominal ends.
    let categories: Vec<String> = longest
        .map(|r| {
            let interval = r.interval_s.unwrap_or(f64::NAN);
            (1..=r.samples.len())
                .map(|k| {
                    let t = k as f64 * interval;
                    if t.is_finite() {
                        format!("{t:.0}")
                    } else {
                        k.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let n = categories.len();
    let over_time = |series: &str, scale: fn(f64) -> f64| -> Vec<Series> {
        runs.iter()
            .filter_map(|(l, r)| Some((l, (*r)?)))
            .map(|(l, r)| Series {
                name: l.clone(),
                values: (0..n)
                    .map(|i| r.samples.get(i)?.value(series).map(scale))
                    .collect(),
            })
            .collect()
    };
    s.chart(ChartSpec {
        file: "soak-rss.svg".into(),
        title: "RSS over the soak (every process of the stack)".into(),
        x_label: "end of the interval (seconds since the soak began)".into(),
        y_label: "MiB".into(),
        categories: categories.clone(),
        series: over_time("rss_bytes", mib),
        kind: ChartKind::Lines,
    });
    s.chart(ChartSpec {
        file: "soak-p99.svg".into(),
        title: "p99 over the soak (each interval's 2xx answers)".into(),
        x_label: "end of the interval (seconds since the soak began)".into(),
        y_label: "p99 (ms)".into(),
        categories,
        series: over_time("p99_ms", |v| v),
        kind: ChartKind::Lines,
    });
    s
}

/// One line per soaked stack with a growing series or a process gone, for "Read this first".
pub(in crate::report) fn marks(cx: &Ctx) -> Vec<String> {
    let mut marks = Vec::new();
    for (label, run) in runs(cx) {
        let Some(r) = run else { continue };
        let over = seconds_text(r.minutes().map(|m| m * 60.0));
        for series in r.growing() {
            let slope = r.slope(series);
            marks.push(format!(
                "- soak `{label}`: {} {} ({}, {} → {} over {over}) ([Soak](#soak))",
                series_word(series),
                if matches!(series, "open_fds" | "pg_connections") {
                    "grow"
                } else {
                    "grows"
                },
                slope_text(series, slope.and_then(|s| s.per_minute)),
                value_with_unit(series, slope.and_then(|s| s.first)),
                value_with_unit(series, slope.and_then(|s| s.last)),
            ));
        }
        let (behind, of) = not_in_full(r);
        if behind > 0 {
            marks.push(format!(
                "- soak `{label}`: {behind} of {of} intervals not offered in full at {} req/s \
                 (the stack or the generator fell behind): its figures describe a queue, not a \
                 steady state ([Soak](#soak))",
                r.rate_rps.map_or("?".into(), |v| format!("{v:.0}"))
            ));
        }
        if r.alive == Some(false) {
            marks.push(format!(
                "- soak `{label}`: a process of the stack was gone at the end ([Soak](#soak))"
            ));
        }
    }
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    const MIB: f64 = 1048576.0;

    fn sample(t: f64, rss_mib: f64, p99: f64) -> serde_json::Value {
        json!({"t_s": t, "rss_bytes": rss_mib * MIB, "open_fds": 77, "pg_connections": 5,
               "p99_ms": p99, "requests": 4500, "errors": 0, "offered_in_full": true})
    }

    fn run() -> crate::results::model::Summary {
        summary(json!({
            "stacks": {"axum": {}, "spin": {}},
            "soak": {"stacks": {
                "spin": {"file": "soak/spin.json", "rate_rps": 250.0, "capacity_rps": 500.0,
                         "capacity_source": "this run's capacity step (wrk, one sample)",
                         "duration_s": 600.0, "interval_s": 60.0,
                         "samples": (1..=10).map(|i| sample(60.0 * f64::from(i), 280.0 + 3.0 * f64::from(i), 8.0)).collect::<Vec<_>>(),
                         "slopes_per_minute": {
                             "rss_bytes": {"per_minute": 3.0 * MIB, "first": 283.0 * MIB,
                                           "last": 310.0 * MIB, "grows": true},
                             "open_fds": {"per_minute": 0.0, "first": 77, "last": 77, "grows": false},
                             "p99_ms": {"per_minute": 0.01, "first": 8.0, "last": 8.0, "grows": false}},
                         "growth": true, "alive": true, "errors": {"503 overloaded": 2}},
                "axum": {"file": "soak/axum.json", "rate_rps": 1500.0, "capacity_rps": 3000.0,
                         "duration_s": 600.0, "interval_s": 60.0,
                         "samples": (1..=10).map(|i| sample(60.0 * f64::from(i), 40.0, 2.0)).collect::<Vec<_>>(),
                         "slopes_per_minute": {
                             "rss_bytes": {"per_minute": 0.0, "first": 40.0 * MIB,
                                           "last": 40.0 * MIB, "grows": false}},
                         "growth": false, "alive": true}
            }}
        }))
    }

    #[test]
    fn the_section_gives_rate_samples_slopes_and_growth_per_stack() {
        let s = run();
        let sec = soak(&Ctx::new(&s));
        let md = &sec.md;
        assert!(md.starts_with("## Soak\n\n"), "{md}");
        assert!(
            md.contains(
                "| `axum` | 1500 | 3000 | 10 min | 60 s | 10 | 45000 | 0 | 0 of 10 | yes |"
            ),
            "{md}"
        );
        // Column order: axum before spin, though the map holds spin first.
        assert!(md.find("| `axum` | 1500").unwrap() < md.find("| `spin` | 250").unwrap());
        assert!(
            md.contains("| `spin` | RSS | 283.00 MiB | 310.00 MiB | +3.000 MiB/min | **grows** |")
        );
        assert!(md.contains("| `spin` | open descriptors | 77 | 77 | +0.00/min | no |"));
        assert!(md.contains("| `spin` | p99 (ms) | 8.000 | 8.000 | +0.010 ms/min | no |"));
        // Sampled but without a slope in the file: said, not hidden.
        assert!(md.contains("| `axum` | open descriptors | – | – | – | – (fewer than 3 samples) |"));
        assert!(md.contains("`spin` 2 × 503 overloaded"));
        assert!(md.contains("Source: `soak/axum.json`, `soak/spin.json`."));
        assert!(!md.contains("A short soak"));
        let rss = &sec.charts[0];
        assert_eq!(rss.file, "soak-rss.svg");
        assert_eq!(rss.categories.len(), 10);
        assert_eq!(rss.categories[0], "60");
        assert_eq!(rss.series[0].name, "axum");
        assert_eq!(rss.series[0].values[0], Some(40.0));
        assert_eq!(rss.series[1].values[9], Some(310.0));
        assert_eq!(sec.charts[1].series[0].values[0], Some(2.0));
        assert!(md.contains("![RSS over the soak"));
        assert!(md.contains("![p99 over the soak"));
    }

    #[test]
    fn a_growing_series_is_marked_at_the_top() {
        let s = run();
        let cx = Ctx::new(&s);
        assert_eq!(
            marks(&cx),
            [
                "- soak `spin`: RSS grows (+3.000 MiB/min, 283.00 MiB → 310.00 MiB over 9 min) \
              ([Soak](#soak))"
            ]
        );
        // A rate not offered in full is said too, and a growing p99 with its unit.
        let behind = summary(json!({"stacks": {"spin": {}}, "soak": {"stacks": {"spin": {
            "rate_rps": 372.0,
            "samples": [{"t_s": 10.0, "offered_in_full": false}, {"t_s": 20.0, "offered_in_full": true},
                        {"t_s": 30.0, "offered_in_full": false}],
            "slopes_per_minute": {"p99_ms": {"per_minute": 900.0, "first": 600.0, "last": 1200.0,
                                             "grows": true}}}}}}));
        let found = marks(&Ctx::new(&behind));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with(
                "- soak `spin`: p99 grows (+900.000 ms/min, 600.0 ms → 1200 ms over 20 s)"
            ),
            "{found:?}"
        );
        assert!(
            found[1]
                .starts_with("- soak `spin`: 2 of 3 intervals not offered in full at 372 req/s"),
            "{found:?}"
        );
        let sec = soak(&Ctx::new(&behind)).md;
        assert!(sec.contains("| **2 of 3** |"), "{sec}");
        let top = crate::report::sections::errors::read_this_first(&cx).md;
        assert!(top.contains("- soak `spin`: RSS grows"), "{top}");
    }

    #[test]
    fn a_short_soak_says_so_and_no_soak_says_not_measured() {
        let s = summary(json!({"stacks": {"axum": {}}, "soak": {"stacks": {"axum": {
            "duration_s": 40.0, "interval_s": 10.0, "samples": [sample(10.0, 40.0, 2.0)]}}}}));
        let md = soak(&Ctx::new(&s)).md;
        assert!(md.contains("**A short soak** (40 s)"), "{md}");
        let none = summary(json!({"stacks": {"axum": {}}}));
        let sec = soak(&Ctx::new(&none));
        assert!(sec.md.starts_with("## Soak\n\nNot measured"), "{}", sec.md);
        assert!(sec.charts.is_empty());
        assert!(marks(&Ctx::new(&none)).is_empty());
    }
}
