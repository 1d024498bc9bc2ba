//! Whether the runs can be trusted: failures, checks and thresholds of every k6 test, and the
//! problems met while collecting the results.

use crate::report::table::{md_escape, Comparison, Unit};
use crate::report::{Ctx, Section};
use crate::results::model::{Figures, Stack};
use std::collections::BTreeSet;
use std::fmt::Write;

pub(in crate::report) fn errors_and_thresholds(cx: &Ctx) -> Section {
    let mut s = Section::titled("Errors and thresholds");
    let t = errors_table(cx);
    if t.has_data() {
        s.md.push_str(&t.to_markdown());
        s.md.push('\n');
    }
    let failed = failed_thresholds(cx);
    if failed.is_empty() {
        s.md.push_str("No k6 threshold failed.\n\n");
    } else {
        s.md.push_str("Failed k6 thresholds (these figures are suspect):\n\n");
        s.md.push_str(&failed.join("\n"));
        s.md.push_str("\n\n");
    }
    if !cx.summary.problems.is_empty() {
        s.md.push_str("Problems recorded when collecting the results:\n\n");
        for p in &cx.summary.problems {
            let _ = writeln!(s.md, "- {}", md_escape(p));
        }
        s.md.push('\n');
    }
    s
}

/// What a reader must know before quoting any figure, at the top of the report: every failed
/// k6 threshold, every capacity figure whose generator or Postgres (not the stack) was
/// saturated, every ladder rate not offered in full, every soak series that grows, and the
/// problems met while collecting.
/// The details stay in their sections; this names them.
pub(in crate::report) fn read_this_first(cx: &Ctx) -> Section {
    let mut marks = failed_thresholds(cx);
    marks.extend(bent_capacity(cx));
    marks.extend(unplotted_rates(cx));
    marks.extend(super::soak::marks(cx));
    if !cx.summary.problems.is_empty() {
        marks.push(format!(
            "- {} problem(s) recorded when collecting the results ([Errors and thresholds](#errors-and-thresholds))",
            cx.summary.problems.len()
        ));
    }
    let mut s = Section::titled("Read this first");
    if marks.is_empty() {
        let soak = if cx.summary.soak.is_some() {
            ", no soak series grew"
        } else {
            ""
        };
        let _ = writeln!(
            s.md,
            "Nothing is marked: no k6 threshold failed, no capacity figure was limited by its \
             generator or by Postgres, every ladder rate was offered in full{soak}.\n"
        );
    } else {
        s.md.push_str("Marked in this run (details in their sections):\n\n");
        s.md.push_str(&marks.join("\n"));
        s.md.push_str("\n\n");
    }
    s
}

/// Capacity figures that say more about the generator or Postgres than about the stack.
fn bent_capacity(cx: &Ctx) -> Vec<String> {
    let Some(capacity) = &cx.summary.capacity else {
        return Vec::new();
    };
    capacity
        .points
        .iter()
        .filter_map(|p| {
            let cpu = p.cpu.as_ref()?;
            let bent: Vec<&str> = cpu
                .saturated
                .iter()
                .map(String::as_str)
                .filter(|s| *s == "generator" || *s == "postgres")
                .collect();
            (!bent.is_empty()).then(|| {
                format!(
                    "- capacity `{}` {} ({}): {} saturated, so the figure is a floor of the stack's capacity",
                    p.stack.as_deref().unwrap_or("?"),
                    p.target.as_deref().unwrap_or("?"),
                    p.route.as_deref().unwrap_or("?"),
                    bent.join(" and ")
                )
            })
        })
        .collect()
}

/// Ladder rates the report does not plot (dropped iterations or errors).
fn unplotted_rates(cx: &Ctx) -> Vec<String> {
    let Some(ladder) = &cx.summary.ladder else {
        return Vec::new();
    };
    ladder
        .points
        .iter()
        .filter(|p| !p.plotted())
        .map(|p| {
            format!(
                "- ladder `{}` at {} req/s: not offered in full or not answered ({} dropped, {:.1} % errors); not plotted",
                p.stack.as_deref().unwrap_or("?"),
                p.rate_rps.map_or("?".into(), |r| format!("{r:.0}")),
                p.dropped_iterations.unwrap_or(0.0),
                100.0 * p.error_rate.unwrap_or(0.0)
            )
        })
        .collect()
}

/// Requests, failures and passed checks of every k6 test any stack ran.
fn errors_table(cx: &Ctx) -> Comparison {
    let tests: BTreeSet<&String> = cx
        .stacks
        .iter()
        .flatten()
        .flat_map(|s| s.k6.keys())
        .collect();
    let mut t = cx.table(&["k6 test", "figure"]);
    let figures: [(&str, Unit, OverallPick); 3] = [
        ("requests", Unit::Count, |o| o.requests),
        ("failed requests", Unit::Percent, |o| o.error_rate),
        ("checks passed", Unit::Percent, |o| o.checks_rate),
    ];
    for test in tests {
        for (fig, unit, pick) in figures {
            t.push(cx.row(&[test, fig], unit, |s| pick(overall(s, test)?)));
        }
    }
    t
}

/// Which figure of a test's overall results a row shows.
type OverallPick = fn(&Figures) -> Option<f64>;

fn overall<'a>(stack: Option<&'a Stack>, test: &str) -> Option<&'a Figures> {
    stack?.k6(test)?.overall.as_ref()
}

/// One list item per failed threshold: stack, test, threshold.
fn failed_thresholds(cx: &Ctx) -> Vec<String> {
    let mut failed = Vec::new();
    for (l, s) in cx.present() {
        for (test, k) in &s.k6 {
            for th in k.iter().flat_map(|k| &k.thresholds_failed) {
                failed.push(format!("- `{l}` {test}: `{th}`"));
            }
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn failed_thresholds_and_problems_are_listed() {
        let s = summary(json!({
            "stacks": {
                "axum": {"k6": {"load": {"overall": {"requests": 10, "error_rate": 0.5}}}},
                "spin": {"k6": {"load": {"thresholds_failed": ["http_req_failed<0.01"]}}}
            },
            "problems": ["spin/k6-error.json: missing | truncated"]
        }));
        let md = errors_and_thresholds(&Ctx::new(&s)).md;
        assert!(md.contains("| load | requests | 10 | – | – |"), "{md}");
        assert!(md.contains("| load | failed requests | 50.00 % | – | – |"));
        assert!(md.contains("- `spin` load: `http_req_failed<0.01`"));
        assert!(md.contains(
            "Problems recorded when collecting the results:\n\n\
             - spin/k6-error.json: missing \\| truncated\n"
        ));
    }

    #[test]
    fn marked_steps_are_named_at_the_top() {
        let s = summary(json!({
            "stacks": {"spin": {"k6": {"load": {"thresholds_failed": ["http_req_failed<0.01"]}}}},
            "capacity": {"points": [
                {"stack": "axum", "target": "gateway", "route": "read",
                 "cpu": {"saturated": ["generator"]}},
                {"stack": "spin", "target": "gateway", "route": "read",
                 "cpu": {"saturated": ["stack"]}}
            ]},
            "ladder": {"points": [
                {"stack": "spin", "rate_rps": 800.0, "duration_s": 5.0, "dropped_iterations": 900.0}
            ]}
        }));
        let md = read_this_first(&Ctx::new(&s)).md;
        assert!(md.contains("- `spin` load: `http_req_failed<0.01`"), "{md}");
        assert!(
            md.contains("capacity `axum` gateway (read): generator saturated"),
            "{md}"
        );
        assert!(
            !md.contains("capacity `spin`"),
            "a stack at its own limit is no mark: {md}"
        );
        assert!(md.contains("ladder `spin` at 800 req/s"), "{md}");
        let clean = summary(json!({"stacks": {"axum": {}}}));
        assert!(read_this_first(&Ctx::new(&clean))
            .md
            .contains("Nothing is marked"));
    }

    #[test]
    fn a_clean_run_says_no_threshold_failed() {
        let s = summary(json!({"stacks": {"axum": {}}}));
        let md = errors_and_thresholds(&Ctx::new(&s)).md;
        assert_eq!(
            md,
            "## Errors and thresholds\n\nNo k6 threshold failed.\n\n"
        );
    }
}
