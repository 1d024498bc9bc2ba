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
    fn a_clean_run_says_no_threshold_failed() {
        let s = summary(json!({"stacks": {"axum": {}}}));
        let md = errors_and_thresholds(&Ctx::new(&s)).md;
        assert_eq!(
            md,
            "## Errors and thresholds\n\nNo k6 threshold failed.\n\n"
        );
    }
}
