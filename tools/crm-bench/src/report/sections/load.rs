//! The k6 sections: the CRUD scenarios, the scale levels and the Server-Timing entries.

use crate::report::table::{Comparison, Unit};
use crate::report::{
    lat, p50, p95, scenario, scenario_names, sources, st, trailing_number, ChartKind, ChartSpec,
    Ctx, Section, LOAD_ORDER, PERCENTILES,
};
use crate::results::model::Figures;
use std::fmt::Write;

/// Throughput, latency percentiles and failures of each scenario of the load test.
pub(in crate::report) fn crud_scenarios(cx: &Ctx) -> Section {
    let mut s = Section::titled("CRUD scenarios (k6 load test)");
    let names = scenario_names(cx.summary, "load", &LOAD_ORDER);
    if names.is_empty() {
        return s.not_measured();
    }
    s.md.push_str(&crud_table(cx, &names).to_markdown());
    let _ = writeln!(
        s.md,
        "\nThroughput is the scenario's requests ÷ its configured duration; latency is k6's \
         `http_req_duration` per scenario (client side, through the gateway). Source: {}.\n",
        sources(cx, "load", "k6-load.json")
    );
    s.chart(ChartSpec {
        file: "throughput-crud.svg".into(),
        title: "Throughput per CRUD scenario (higher is better)".into(),
        x_label: "scenario".into(),
        y_label: "requests/s".into(),
        categories: names.clone(),
        series: cx.series(|st| {
            let rps = |n: &String| scenario(st, "load", n).and_then(|f| f.throughput_rps);
            names.iter().map(rps).collect()
        }),
        kind: ChartKind::Bars,
    });
    for name in &names {
        s.chart(latency_chart(cx, name));
    }
    s
}

fn crud_table(cx: &Ctx, names: &[String]) -> Comparison {
    let mut t = cx.table(&["scenario", "figure"]);
    for name in names {
        t.push(cx.row(&[name, "throughput (req/s)"], Unit::Rps, |s| {
            scenario(s, "load", name).and_then(|f| f.throughput_rps)
        }));
        for (fig, f) in PERCENTILES {
            t.push(cx.row(&[name, fig], Unit::Ms, |s| {
                lat(scenario(s, "load", name), f)
            }));
        }
        t.push(cx.row(&[name, "failed requests"], Unit::Percent, |s| {
            scenario(s, "load", name).and_then(|f| f.error_rate)
        }));
    }
    t
}

fn latency_chart(cx: &Ctx, name: &str) -> ChartSpec {
    ChartSpec {
        file: format!("latency-{name}.svg"),
        title: format!("Latency percentiles, scenario {name} (lower is better)"),
        x_label: "percentile".into(),
        y_label: "ms".into(),
        categories: vec!["p50".into(), "p95".into(), "p99".into()],
        series: cx.series(|s| {
            let f = scenario(s, "load", name);
            PERCENTILES.iter().map(|(_, p)| lat(f, *p)).collect()
        }),
        kind: ChartKind::Bars,
    }
}

/// Throughput and latency per number of concurrent clients.
pub(in crate::report) fn scale(cx: &Ctx) -> Section {
    let mut s = Section::titled("Latency versus concurrent clients (k6 scale test)");
    let levels = scenario_names(cx.summary, "scale", &[]);
    if levels.is_empty() {
        return s.not_measured();
    }
    s.md.push_str(&scale_table(cx, &levels).to_markdown());
    let _ = writeln!(
        s.md,
        "\nEach level is a constant number of virtual users issuing `GET /customers/{{id}}` \
         back to back for the level's duration. Source: {}.\n",
        sources(cx, "scale", "k6-scale.json")
    );
    for chart in scale_charts(cx, &levels) {
        s.chart(chart);
    }
    s
}

/// Throughput and p95 latency over the levels, one line per stack.
fn scale_charts(cx: &Ctx, levels: &[String]) -> [ChartSpec; 2] {
    let clients: Vec<String> = levels.iter().map(|lv| clients(lv)).collect();
    let per_level = |pick: &dyn Fn(Option<&Figures>) -> Option<f64>| {
        cx.series(|st| {
            let at = |lv: &String| pick(scenario(st, "scale", lv));
            levels.iter().map(at).collect()
        })
    };
    [
        ChartSpec {
            file: "scale-throughput.svg".into(),
            title: "Throughput vs concurrent clients (higher is better)".into(),
            x_label: "concurrent clients (k6 VUs)".into(),
            y_label: "requests/s".into(),
            categories: clients.clone(),
            series: per_level(&|f| f.and_then(|f| f.throughput_rps)),
            kind: ChartKind::Lines,
        },
        ChartSpec {
            file: "scale-latency.svg".into(),
            title: "p95 latency vs concurrent clients (lower is better)".into(),
            x_label: "concurrent clients (k6 VUs)".into(),
            y_label: "p95 ms".into(),
            categories: clients,
            series: per_level(&|f| lat(f, p95)),
            kind: ChartKind::Lines,
        },
    ]
}

/// `vus_10` → `10`: the level's number of clients, when its name ends in one.
fn clients(level: &str) -> String {
    trailing_number(level).map_or(level.to_string(), |n| n.to_string())
}

fn scale_table(cx: &Ctx, levels: &[String]) -> Comparison {
    let mut t = cx.table(&["clients", "figure"]);
    for lv in levels {
        let clients = clients(lv);
        t.push(cx.row(&[&clients, "throughput (req/s)"], Unit::Rps, |s| {
            scenario(s, "scale", lv).and_then(|f| f.throughput_rps)
        }));
        for (fig, f) in PERCENTILES {
            t.push(cx.row(&[&clients, fig], Unit::Ms, |s| {
                lat(scenario(s, "scale", lv), f)
            }));
        }
    }
    t
}

/// The two Server-Timing entries every database route reports.
const DB_ENTRIES: [(&str, &str); 2] = [("st_conn", "conn"), ("st_query", "query")];

/// The `conn` and `query` entries of the load scenarios and the ping-db test.
pub(in crate::report) fn server_timing(cx: &Ctx) -> Section {
    let mut s = Section::titled("Where the database time goes (Server-Timing `conn` and `query`)");
    let tests = server_timing_tests(cx);
    let t = server_timing_table(cx, &tests);
    if !t.has_data() {
        return s.not_measured();
    }
    s.md.push_str(&t.to_markdown());
    let _ = writeln!(
        s.md,
        "\n`conn` is getting a connection (a pool acquire for Axum, `Connection::open` per \
         request for Spin), `query` the SQL, both as each service reports them in \
         `server-timing` (the gateway passes the upstream's on). Source: {}, {}.\n",
        sources(cx, "load", "k6-load.json"),
        sources(cx, "ping-db", "k6-ping-db.json")
    );
    s.chart(server_timing_chart(cx, &tests));
    s
}

/// The p50 of each entry of each scenario, bars per stack.
fn server_timing_chart(cx: &Ctx, tests: &[(&str, String)]) -> ChartSpec {
    let picks: Vec<(&str, &str, &str, &str)> = tests
        .iter()
        .flat_map(|(test, name)| {
            DB_ENTRIES.map(|(trend, entry)| (*test, name.as_str(), trend, entry))
        })
        .collect();
    ChartSpec {
        file: "server-timing.svg".into(),
        title: "Server-Timing conn and query, p50 (lower is better)".into(),
        x_label: "scenario and entry".into(),
        y_label: "ms".into(),
        categories: picks
            .iter()
            .map(|(_, name, _, entry)| format!("{name} {entry} p50"))
            .collect(),
        series: cx.series(|stack| {
            let at = |(test, name, trend, _): &(&str, &str, &str, &str)| {
                st(scenario(stack, test, name), trend, p50)
            };
            picks.iter().map(at).collect()
        }),
        kind: ChartKind::Bars,
    }
}

/// (test, scenario) pairs that carry Server-Timing: the load scenarios, then ping-db's.
fn server_timing_tests(cx: &Ctx) -> Vec<(&'static str, String)> {
    let load = scenario_names(cx.summary, "load", &LOAD_ORDER);
    let ping = scenario_names(cx.summary, "ping-db", &[]);
    let load = load.into_iter().map(|n| ("load", n));
    load.chain(ping.into_iter().map(|n| ("ping-db", n)))
        .collect()
}

fn server_timing_table(cx: &Ctx, tests: &[(&str, String)]) -> Comparison {
    let mut t = cx.table(&["test / scenario", "entry", "figure"]);
    for (test, name) in tests {
        let key = format!("{test} / {name}");
        for (trend, entry) in DB_ENTRIES {
            for (fig, f) in PERCENTILES {
                let row = cx.row(&[&key, entry, fig], Unit::Ms, |s| {
                    st(scenario(s, test, name), trend, f)
                });
                if row.has_data() {
                    t.push(row);
                }
            }
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn scale_levels_are_shown_as_client_counts() {
        assert_eq!(clients("vus_10"), "10");
        assert_eq!(clients("steady"), "steady");
    }

    #[test]
    fn a_stack_without_a_scenario_shows_dashes_and_no_ratio() {
        let s = summary(json!({"stacks": {
            "axum": {"k6": {"load": {"scenarios": {"read": {"throughput_rps": 100.0,
                "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 4.0}}}}}},
            "spin": {"k6": {"load": {"scenarios": {"write": {"throughput_rps": 50.0}}}}}
        }}));
        let md = crud_scenarios(&Ctx::new(&s)).md;
        assert!(md.contains("| read | p99 (ms) | 4.000 | – | – |"), "{md}");
        assert!(
            md.contains("| write | throughput (req/s) | – | 50.0 | – |"),
            "{md}"
        );
        assert!(md.contains("Source: `axum/k6-load.json`, `spin/k6-load.json`."));
    }

    #[test]
    fn server_timing_keeps_only_the_entries_someone_reported() {
        let s = summary(json!({"stacks": {
            "axum": {"k6": {"ping-db": {"file": "axum/k6-ping-db.json", "scenarios": {
                "ping": {"server_timing": {"st_conn": {"p50": 0.1}}}}}}},
            "spin": {"k6": {"ping-db": {"scenarios": {
                "ping": {"server_timing": {"st_conn": {"p50": 0.4}}}}}}}
        }}));
        let sec = server_timing(&Ctx::new(&s));
        assert!(sec
            .md
            .contains("| ping-db / ping | conn | p50 (ms) | 0.100 | 0.400 | ×4.00 |"));
        assert!(!sec.md.contains("| query |"), "{}", sec.md);
        assert!(sec
            .md
            .contains("`axum/k6-ping-db.json`, `spin/k6-ping-db.json`"));
        let chart = &sec.charts[0];
        assert_eq!(chart.categories, vec!["ping conn p50", "ping query p50"]);
        assert_eq!(chart.series[1].values, vec![Some(0.4), None]);
    }

    #[test]
    fn sections_without_k6_results_say_not_measured() {
        let s = summary(json!({"stacks": {"axum": {}}}));
        let cx = Ctx::new(&s);
        for sec in [crud_scenarios(&cx), scale(&cx), server_timing(&cx)] {
            assert!(sec.md.ends_with("Not measured.\n\n"), "{}", sec.md);
            assert!(sec.charts.is_empty());
        }
    }
}
