//! The runtime floors: each stack's read against the least its runtime can do for it, the bare
//! hop of each runtime, and the gateway hop (a local run's `floors/`).

use crate::report::table::{fmt_range, fmt_ratio, fmt_value, md_row, Unit};
use crate::report::{Ctx, Section};
use crate::results::model::{Figures, K6Result};
use crate::results::samples::{median, range};
use std::fmt::Write;

/// One figure of one floor target: the median and, over several samples, their range.
struct Sampled {
    median: Option<f64>,
    range: Option<(f64, f64)>,
}

impl Sampled {
    fn of(
        result: Option<&K6Result>,
        scenario: &str,
        pick: impl Fn(&Figures) -> Option<f64>,
    ) -> Sampled {
        let Some(result) = result else {
            return Sampled {
                median: None,
                range: None,
            };
        };
        let runs: Vec<&K6Result> = if result.samples.is_empty() {
            vec![result]
        } else {
            result.samples.iter().collect()
        };
        let values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.scenarios.get(scenario)?.as_ref())
            .filter_map(&pick)
            .collect();
        Sampled {
            median: median(&values),
            range: range(&values),
        }
    }

    fn text(&self, unit: Unit) -> String {
        match (self.median, self.range) {
            (Some(m), Some(r)) => format!("{} ({})", fmt_value(Some(m), unit), fmt_range(r, unit)),
            (m, _) => fmt_value(m, unit),
        }
    }
}

fn rps(f: &Figures) -> Option<f64> {
    f.throughput_rps
}
fn p50(f: &Figures) -> Option<f64> {
    f.latency_ms.as_ref()?.p50
}
fn st(f: &Figures, trend: &str) -> Option<f64> {
    f.st(trend)?.p50
}

/// The targets of one runtime, in reading order: (target, what it is, scenario).
fn targets(runtime: &str) -> Vec<(String, String, &'static str)> {
    let mut rows = vec![
        (
            format!("{runtime}-floor"),
            "floor: `GET /hello` (the bare runtime hop)".to_string(),
            "hello",
        ),
        (
            format!("{runtime}-floor"),
            "floor: `GET /customers/{id}`, nothing else".to_string(),
            "read",
        ),
        (
            format!("{runtime}-direct"),
            "customer-service, directly".to_string(),
            "read",
        ),
        (
            format!("{runtime}-gateway"),
            "through the gateway (HTTP to customer-service)".to_string(),
            "read",
        ),
    ];
    if runtime == "spin" {
        rows.push((
            "spin-combined-gateway".to_string(),
            "through the gateway of `spin-combined` (in-process chaining)".to_string(),
            "read",
        ));
    }
    rows
}

const HEADER: [&str; 9] = [
    "runtime",
    "target",
    "req/s",
    "p50 (ms)",
    "req/s ÷ floor",
    "p50 ÷ floor",
    "conn p50",
    "query p50",
    "ser p50",
];

pub(in crate::report) fn floors(cx: &Ctx) -> Section {
    let mut s = Section::titled("Runtime floors and the gateway hop");
    let floors = &cx.summary.floors;
    if floors.values().all(Option::is_none) {
        return s.not_measured();
    }
    s.md.push_str(&md_row(&HEADER.map(String::from)));
    let align = HEADER.map(|h| {
        if h == "runtime" || h == "target" {
            "---"
        } else {
            "---:"
        }
    });
    s.md.push_str(&md_row(&align.map(String::from)));
    let mut hops = Vec::new();
    for runtime in ["axum", "spin"] {
        let get = |target: &str| floors.get(target).and_then(Option::as_ref);
        let floor = Sampled::of(get(&format!("{runtime}-floor")), "read", rps);
        let floor_p50 = Sampled::of(get(&format!("{runtime}-floor")), "read", p50);
        for (target, what, scenario) in targets(runtime) {
            let result = get(&target);
            if result.is_none() {
                continue;
            }
            let tput = Sampled::of(result, scenario, rps);
            let lat = Sampled::of(result, scenario, p50);
            let fraction = |a: &Sampled, b: &Sampled| {
                let is_floor_read = target.ends_with("-floor");
                if is_floor_read {
                    "–".to_string()
                } else {
                    fmt_ratio(crate::report::table::ratio(a.median, b.median))
                }
            };
            let entry = |trend: &str| {
                let v = Sampled::of(result, scenario, |f| st(f, trend));
                v.text(Unit::Ms)
            };
            let _ = write!(
                s.md,
                "{}",
                md_row(&[
                    runtime.to_string(),
                    what,
                    tput.text(Unit::Rps),
                    lat.text(Unit::Ms),
                    fraction(&tput, &floor),
                    fraction(&lat, &floor_p50),
                    entry("st_conn"),
                    entry("st_query"),
                    entry("st_ser"),
                ])
            );
        }
        hops.extend(gateway_hops(runtime, &|t: &str| get(t).cloned()));
    }
    s.md.push('\n');
    if !hops.is_empty() {
        s.md.push_str("| runtime | hop | p50 through the gateway − p50 directly (ms) |\n");
        s.md.push_str("| --- | --- | ---: |\n");
        for (runtime, what, hop) in hops {
            let _ = writeln!(
                s.md,
                "| {runtime} | {what} | {} |",
                fmt_value(hop, Unit::Ms)
            );
        }
        s.md.push('\n');
    }
    s.md.push_str(FLOORS_METHOD);
    let _ = writeln!(
        s.md,
        "Source: `floors/<target>/k6-floor.json` for the targets {}.\n",
        floors
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// The hop of each gateway: its read's p50 less the same read's at customer-service directly.
fn gateway_hops(
    runtime: &str,
    get: &dyn Fn(&str) -> Option<K6Result>,
) -> Vec<(String, String, Option<f64>)> {
    let p50_of = |target: &str| {
        let result = get(target);
        Sampled::of(result.as_ref(), "read", p50).median
    };
    let direct = p50_of(&format!("{runtime}-direct"));
    let mut gateways = vec![(
        format!("{runtime}-gateway"),
        "gateway → customer-service over HTTP",
    )];
    if runtime == "spin" {
        gateways.push((
            "spin-combined-gateway".to_string(),
            "gateway → customer-service in-process (`*.spin.internal`)",
        ));
    }
    gateways
        .into_iter()
        .filter(|(target, _)| get(target).is_some())
        .map(|(target, what)| {
            let hop = match (p50_of(&target), direct) {
                (Some(g), Some(d)) => Some(g - d),
                _ => None,
            };
            (runtime.to_string(), what.to_string(), hop)
        })
        .collect()
}

const FLOORS_METHOD: &str = "A **floor** is the least each runtime can do for this read: \
    `axum-crm/floor` (Axum + sqlx, the same pool size) and `spin-crm/floor` (a Spin component, \
    a `pg4` connection per request), each running the same SELECT and answering the row as \
    JSON, with no validation, no error contract and no timing headers. The same k6 read \
    (`tests/k6/floor-test.js`, the same VUs and duration, ids that exist) then runs against \
    the floor, the stack's customer-service directly, and its gateway. `÷ floor` reads each \
    stack against its own runtime's floor: a throughput of ×0.80 means this project's code \
    costs a fifth of what the runtime could serve; `p50 ÷ floor` is the same for latency. \
    `conn`, `query` and `ser` are the services' own Server-Timing entries (the floors report \
    none). The hop table takes the gateway's p50 less customer-service's: what the gateway \
    adds, over HTTP for Axum and the `spin` column, in-process for `spin-combined` (measured \
    against the `spin` column's customer-service, the same component on its own `spin up`).\n\n";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    fn read(rps: f64, p50: f64) -> serde_json::Value {
        json!({"scenarios": {"read": {"throughput_rps": rps, "latency_ms": {"p50": p50}}}})
    }

    #[test]
    fn stacks_are_read_against_their_floor_with_ranges_and_hops() {
        let s = summary(json!({"stacks": {"axum": {}}, "floors": {
            "axum-floor": {"scenarios": {
                "read": {"throughput_rps": 2000.0, "latency_ms": {"p50": 2.0}},
                "hello": {"throughput_rps": 9000.0, "latency_ms": {"p50": 0.5}}}},
            "axum-direct": {"scenarios": {"read": {"throughput_rps": 1500.0,
                "latency_ms": {"p50": 3.0}}}, "samples": [read(1400.0, 3.2), read(1500.0, 3.0),
                read(1600.0, 2.9)]},
            "axum-gateway": read(1000.0, 4.5)
        }}));
        let md = floors(&Ctx::new(&s)).md;
        assert!(
            md.contains("| axum | customer-service, directly | 1500.0 (1400.0–1600.0) | 3.000 (2.900–3.200) | ×0.75 | ×1.50 |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| axum | floor: `GET /hello` (the bare runtime hop) | 9000.0 | 0.500 | – | – |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| axum | gateway → customer-service over HTTP | 1.500 |"),
            "{md}"
        );
        assert!(!md.contains("| spin |"), "{md}");
    }

    #[test]
    fn no_floors_is_not_measured() {
        let s = summary(json!({"stacks": {"axum": {}}}));
        assert!(floors(&Ctx::new(&s)).md.ends_with("Not measured.\n\n"));
    }
}
