//! summary.json → report.md (side-by-side tables with ratios, the environment, the source of
//! every table) and the data of the charts. Rendering the charts is charts.rs's job.

use crate::model::{ComputePoint, Figures, Stack, Stats, Summary};
use crate::table::{fmt_bytes, md_escape, Comparison, Row, Unit};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The load-test scenarios in the order the script runs them; others follow by name.
const LOAD_ORDER: [&str; 4] = ["read", "write", "inter_service", "mixed"];
const SERVICE_ORDER: [&str; 3] = ["gateway", "customer-service", "order-service"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// Grouped bars: one group per category, one bar per series.
    Bars,
    /// One line per series over the categories (in order).
    Lines,
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

/// What a stack label stands for, said the same way everywhere.
pub fn stack_title(label: &str, kind: Option<&str>) -> String {
    let k3d = kind == Some("k3d");
    match label {
        "axum" if k3d => "Axum services in containers (k3d Deployments)".to_string(),
        "axum" => "Axum services, native release binaries".to_string(),
        "spin" if k3d => "Spin components on SpinKube (k3d)".to_string(),
        "spin" => "Spin components under `spin up` (Spin CLI)".to_string(),
        "spin-combined" => {
            "Spin components under one `spin up` (combined manifest, chained in-process)"
                .to_string()
        }
        other => other.to_string(),
    }
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

fn lat(f: Option<&Figures>, pick: fn(&Stats) -> Option<f64>) -> Option<f64> {
    f.and_then(|f| f.latency_ms.as_ref()).and_then(pick)
}

fn st(f: Option<&Figures>, trend: &str, pick: fn(&Stats) -> Option<f64>) -> Option<f64> {
    f.and_then(|f| f.st(trend)).and_then(pick)
}

fn p50(s: &Stats) -> Option<f64> {
    s.p50
}
fn p95(s: &Stats) -> Option<f64> {
    s.p95
}
fn p99(s: &Stats) -> Option<f64> {
    s.p99
}

/// The CPU-bound points of a stack: bench-local's compute.json when present, else the two
/// scenarios of the k6 cpu-bound test (n as the script's defaults, not recorded in summary).
pub fn compute_points(stack: &Stack) -> Vec<ComputePoint> {
    if let Some(c) = &stack.compute {
        if !c.points.is_empty() {
            return c.points.clone();
        }
    }
    let mut out = Vec::new();
    if let Some(k6) = stack.k6("cpu-bound") {
        for (name, algo) in [
            ("compute_iterative", "iterative"),
            ("compute_recursive", "recursive"),
        ] {
            if let Some(Some(f)) = k6.scenarios.get(name) {
                out.push(ComputePoint {
                    algo: Some(algo.to_string()),
                    n: None,
                    file: k6.file.clone(),
                    requests: f.requests,
                    throughput_rps: f.throughput_rps,
                    latency_ms: f.latency_ms.clone(),
                    compute_ms: f.st("st_compute").cloned(),
                    error_rate: f.error_rate,
                });
            }
        }
    }
    out
}

fn n_text(n: Option<f64>) -> String {
    match n {
        Some(n) => format!("{n:.0}"),
        None => "script default".to_string(),
    }
}

/// (algo, n) keys across stacks, by algo then n.
fn compute_keys(stacks: &[Option<&Stack>]) -> Vec<(String, Option<f64>)> {
    let mut keys: Vec<(String, Option<f64>)> = Vec::new();
    for s in stacks.iter().flatten() {
        for p in compute_points(s) {
            let k = (p.algo.clone().unwrap_or_default(), p.n);
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    keys.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then(a.1.unwrap_or(-1.0).total_cmp(&b.1.unwrap_or(-1.0)))
    });
    keys
}

fn compute_point(stack: Option<&Stack>, algo: &str, n: Option<f64>) -> Option<ComputePoint> {
    compute_points(stack?)
        .into_iter()
        .find(|p| p.algo.as_deref() == Some(algo) && p.n == n)
}

/// Resources (RSS) of one phase: per service, plus "total" (the sampler's own per-sample sum
/// when present, else the sum of the services' figures when all are known).
fn rss(stack: Option<&Stack>, phase: &str, service: &str, max: bool) -> Option<f64> {
    let res = stack?.resources.as_ref()?;
    if res.available == Some(false) {
        return None;
    }
    let map = if phase == "idle" {
        &res.idle
    } else {
        &res.load
    };
    let pick = |svc: &str| -> Option<f64> {
        let m = map.get(svc)?.as_ref()?.memory_bytes.as_ref()?;
        if max {
            m.max
        } else {
            m.avg
        }
    };
    if service == "total" && !map.contains_key("total") {
        let vals: Vec<Option<f64>> = map.keys().map(|k| pick(k)).collect();
        if vals.is_empty() || vals.iter().any(Option::is_none) {
            return None;
        }
        return Some(vals.into_iter().flatten().sum());
    }
    pick(service)
}

fn cpu_m(stack: Option<&Stack>, phase: &str, service: &str) -> Option<f64> {
    let res = stack?.resources.as_ref()?;
    let map = if phase == "idle" {
        &res.idle
    } else {
        &res.load
    };
    map.get(service)?.as_ref()?.cpu_m.as_ref()?.avg
}

fn resource_services(stacks: &[Option<&Stack>]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for s in stacks.iter().flatten() {
        if let Some(r) = &s.resources {
            names.extend(r.idle.keys().cloned());
            names.extend(r.load.keys().cloned());
        }
    }
    let mut out: Vec<String> = SERVICE_ORDER
        .iter()
        .filter(|s| names.contains(**s))
        .map(|s| s.to_string())
        .collect();
    out.extend(
        names
            .into_iter()
            .filter(|n| n != "total" && !SERVICE_ORDER.contains(&n.as_str())),
    );
    out
}

fn artifact_bytes(stack: Option<&Stack>, item: &str) -> Option<f64> {
    let a = stack?.artifacts.as_ref()?;
    match item {
        "total" => a.total_bytes,
        "runtime" => a.runtime.as_ref()?.bytes,
        _ => a.items.get(item)?.as_ref()?.bytes,
    }
}

fn coldstart_med(stack: Option<&Stack>, which: &str) -> [Option<f64>; 3] {
    let Some(c) = stack.and_then(|s| s.coldstart.as_ref()) else {
        return [None; 3];
    };
    let m = if which == "healthz" {
        c.healthz_first_200_ms.as_ref()
    } else {
        c.first_200_ms.as_ref()
    };
    match m {
        Some(m) => [m.median, m.min, m.max],
        None => [None; 3],
    }
}

/// Where a table's numbers come from: the raw files beside summary.json.
fn sources(summary: &Summary, labels: &[String], test: &str, fallback: &str) -> String {
    let files: Vec<String> = labels
        .iter()
        .map(|l| {
            summary
                .stack(l)
                .and_then(|s| s.k6(test))
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

fn series_from(labels: &[String], values: impl Fn(&str) -> Vec<Option<f64>>) -> Vec<Series> {
    labels
        .iter()
        .map(|l| Series {
            name: l.clone(),
            values: values(l),
        })
        .collect()
}

fn setting_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn build(summary: &Summary) -> Report {
    let labels = summary.labels();
    let stacks: Vec<Option<&Stack>> = labels.iter().map(|l| summary.stack(l)).collect();
    let kind = summary.environment.as_ref().and_then(|e| e.kind.as_deref());
    let mut md = String::new();
    let mut charts: Vec<ChartSpec> = Vec::new();
    let by = |f: &dyn Fn(Option<&Stack>) -> Option<f64>| -> Vec<Option<f64>> {
        stacks.iter().map(|s| f(*s)).collect()
    };

    // --- title and what was compared ------------------------------------------------------
    let run_id = summary.run_id.as_deref().unwrap_or("unknown run");
    let _ = writeln!(md, "# CRM benchmark: {run_id}\n");
    let _ = writeln!(
        md,
        "Environment kind **{}**; summary generated {}. Every table names the raw files its \
         numbers come from (paths relative to this folder); `summary.json` holds the same \
         figures, extracted by `scripts/lib/summarize.py`. `–` means not measured. Ratios are \
         `<stack> ÷ {}`: below 1 means smaller than the baseline, which is better for times, \
         memory and sizes and worse for throughput.\n",
        kind.unwrap_or("unknown"),
        summary.generated_at.as_deref().unwrap_or("?"),
        labels.first().map(String::as_str).unwrap_or("baseline"),
    );
    md.push_str("| stack | what ran |\n| --- | --- |\n");
    for l in &labels {
        let _ = writeln!(md, "| `{l}` | {} |", stack_title(l, kind));
    }
    md.push('\n');
    // The runner's own word on the Spin column (which Spin, which shapes).
    if let Some(Some(note)) = summary
        .environment
        .as_ref()
        .and_then(|e| e.settings.get("spin_column"))
    {
        let _ = writeln!(md, "> {}\n", md_escape(&setting_text(note)));
    }
    if labels.iter().any(|l| l == "spin-combined") {
        md.push_str(
            "> **`spin-combined`** is a variant of the Spin column: the three components in one \
             `spin up` of `spin-crm/spin.toml`, the gateway calling the services in-process \
             (`*.spin.internal`) instead of over HTTP. It is measured for cold start, memory and \
             the load scenarios (`inter_service` is where the shapes differ); the headline `spin` \
             column is three `spin up`s, one per service, as Kubernetes runs them.\n\n",
        );
    }

    // --- headline ---------------------------------------------------------------------------
    let mut head = Comparison::new(&["figure"], &labels);
    for (name, test, scen, unit, f) in [
        (
            "read: p50 latency (ms)",
            "load",
            "read",
            Unit::Ms,
            p50 as fn(&Stats) -> Option<f64>,
        ),
        ("read: p99 latency (ms)", "load", "read", Unit::Ms, p99),
        ("write: p50 latency (ms)", "load", "write", Unit::Ms, p50),
        (
            "inter_service: p50 latency (ms)",
            "load",
            "inter_service",
            Unit::Ms,
            p50,
        ),
    ] {
        head.push(Row::new(
            &[name],
            unit,
            by(&|s| lat(scenario(s, test, scen), f)),
        ));
    }
    head.push(Row::new(
        &["mixed: throughput (req/s)"],
        Unit::Rps,
        by(&|s| scenario(s, "load", "mixed").and_then(|f| f.throughput_rps)),
    ));
    head.push(Row::new(
        &["scale: best throughput over levels (req/s)"],
        Unit::Rps,
        by(&|s| {
            s.and_then(|s| s.k6("scale")).and_then(|k| {
                k.scenarios
                    .values()
                    .flatten()
                    .filter_map(|f| f.throughput_rps)
                    .reduce(f64::max)
            })
        }),
    ));
    let ckeys = compute_keys(&stacks);
    for algo in ["iterative", "recursive"] {
        if let Some((_, n)) = ckeys.iter().rev().find(|(a, _)| a == algo) {
            head.push(Row::new(
                &[&format!(
                    "/compute {algo} n={}: p50 per request (ms)",
                    n_text(*n)
                )],
                Unit::Ms,
                by(&|s| {
                    compute_point(s, algo, *n)
                        .and_then(|p| p.latency_ms)
                        .and_then(|l| l.p50)
                }),
            ));
        }
    }
    head.push(Row::new(
        &["cold start to first 200 on a DB route, median (ms)"],
        Unit::Ms,
        by(&|s| coldstart_med(s, "db")[0]),
    ));
    head.push(Row::new(
        &["RSS idle, all services (avg)"],
        Unit::Bytes,
        by(&|s| rss(s, "idle", "total", false)),
    ));
    head.push(Row::new(
        &["RSS under load, all services (max)"],
        Unit::Bytes,
        by(&|s| rss(s, "load", "total", true)),
    ));
    head.push(Row::new(
        &["artifacts, all services"],
        Unit::Bytes,
        by(&|s| artifact_bytes(s, "total")),
    ));
    md.push_str("## At a glance\n\n");
    md.push_str(&head.to_markdown());
    md.push_str(
        "\nSources: the sections below, which name their files. Lower is better except for \
         throughput.\n\n",
    );

    // --- CRUD scenarios ------------------------------------------------------------------------
    let load_names = scenario_names(summary, "load", &LOAD_ORDER);
    md.push_str("## CRUD scenarios (k6 load test)\n\n");
    if load_names.is_empty() {
        md.push_str("Not measured.\n\n");
    } else {
        let mut t = Comparison::new(&["scenario", "figure"], &labels);
        for name in &load_names {
            t.push(Row::new(
                &[name, "throughput (req/s)"],
                Unit::Rps,
                by(&|s| scenario(s, "load", name).and_then(|f| f.throughput_rps)),
            ));
            for (fig, f) in [
                ("p50 (ms)", p50 as fn(&Stats) -> Option<f64>),
                ("p95 (ms)", p95),
                ("p99 (ms)", p99),
            ] {
                t.push(Row::new(
                    &[name, fig],
                    Unit::Ms,
                    by(&|s| lat(scenario(s, "load", name), f)),
                ));
            }
            t.push(Row::new(
                &[name, "failed requests"],
                Unit::Percent,
                by(&|s| scenario(s, "load", name).and_then(|f| f.error_rate)),
            ));
        }
        md.push_str(&t.to_markdown());
        let _ = writeln!(
            md,
            "\nThroughput is the scenario's requests ÷ its configured duration; latency is k6's \
             `http_req_duration` per scenario (client side, through the gateway). Source: {}.\n",
            sources(summary, &labels, "load", "k6-load.json")
        );
        let thr = ChartSpec {
            file: "throughput-crud.svg".into(),
            title: "Throughput per CRUD scenario (higher is better)".into(),
            x_label: "scenario".into(),
            y_label: "requests/s".into(),
            categories: load_names.clone(),
            series: series_from(&labels, |l| {
                load_names
                    .iter()
                    .map(|n| scenario(summary.stack(l), "load", n).and_then(|f| f.throughput_rps))
                    .collect()
            }),
            kind: ChartKind::Bars,
        };
        charts.push(thr);
        for name in &load_names {
            charts.push(ChartSpec {
                file: format!("latency-{name}.svg"),
                title: format!("Latency percentiles, scenario {name} (lower is better)"),
                x_label: "percentile".into(),
                y_label: "ms".into(),
                categories: vec!["p50".into(), "p95".into(), "p99".into()],
                series: series_from(&labels, |l| {
                    let f = scenario(summary.stack(l), "load", name);
                    vec![lat(f, p50), lat(f, p95), lat(f, p99)]
                }),
                kind: ChartKind::Bars,
            });
        }
        push_chart_links(&mut md, &charts, "throughput-crud.svg");
        for name in &load_names {
            push_chart_links(&mut md, &charts, &format!("latency-{name}.svg"));
        }
    }

    // --- CPU-bound ---------------------------------------------------------------------------
    md.push_str("## CPU-bound endpoint (`GET /compute`, answered by the gateway)\n\n");
    if ckeys.is_empty() {
        md.push_str("Not measured.\n\n");
    } else {
        let mut t = Comparison::new(&["algo", "n", "figure"], &labels);
        for (algo, n) in &ckeys {
            let nt = n_text(*n);
            let get = |s: Option<&Stack>| compute_point(s, algo, *n);
            t.push(Row::new(
                &[algo, &nt, "time per request p50 (ms)"],
                Unit::Ms,
                by(&|s| get(s).and_then(|p| p.latency_ms).and_then(|l| l.p50)),
            ));
            t.push(Row::new(
                &[algo, &nt, "time per request p95 (ms)"],
                Unit::Ms,
                by(&|s| get(s).and_then(|p| p.latency_ms).and_then(|l| l.p95)),
            ));
            t.push(Row::new(
                &[algo, &nt, "handler compute p50 (ms, Server-Timing)"],
                Unit::Ms,
                by(&|s| get(s).and_then(|p| p.compute_ms).and_then(|l| l.p50)),
            ));
            t.push(Row::new(
                &[algo, &nt, "throughput (req/s)"],
                Unit::Rps,
                by(&|s| get(s).and_then(|p| p.throughput_rps)),
            ));
        }
        md.push_str(&t.to_markdown());
        let files: BTreeSet<String> = stacks
            .iter()
            .flatten()
            .flat_map(|s| compute_points(s).into_iter().filter_map(|p| p.file))
            .map(|f| format!("`{f}`"))
            .collect();
        let _ = writeln!(
            md,
            "\nTime per request is k6's client-side `http_req_duration`; the handler's own time is \
             the `compute` Server-Timing entry. Source: {}{}.\n",
            files.into_iter().collect::<Vec<_>>().join(", "),
            if stacks
                .iter()
                .flatten()
                .any(|s| s.compute.as_ref().is_some_and(|c| !c.points.is_empty()))
            {
                format!(" (collected in {})", other_sources(&labels, "compute.json"))
            } else {
                String::new()
            }
        );
        for algo in ["iterative", "recursive"] {
            let keys: Vec<&(String, Option<f64>)> =
                ckeys.iter().filter(|(a, _)| a == algo).collect();
            if keys.is_empty() {
                continue;
            }
            let file = format!("compute-{algo}.svg");
            charts.push(ChartSpec {
                file: file.clone(),
                title: format!("/compute {algo}: p50 time per request vs n (lower is better)"),
                x_label: "n".into(),
                y_label: "ms".into(),
                categories: keys.iter().map(|(_, n)| n_text(*n)).collect(),
                series: series_from(&labels, |l| {
                    keys.iter()
                        .map(|(a, n)| {
                            compute_point(summary.stack(l), a, *n)
                                .and_then(|p| p.latency_ms)
                                .and_then(|x| x.p50)
                        })
                        .collect()
                }),
                kind: if keys.len() > 1 {
                    ChartKind::Lines
                } else {
                    ChartKind::Bars
                },
            });
            push_chart_links(&mut md, &charts, &file);
        }
    }

    // --- scale ---------------------------------------------------------------------------------
    let levels = scenario_names(summary, "scale", &[]);
    md.push_str("## Latency versus concurrent clients (k6 scale test)\n\n");
    if levels.is_empty() {
        md.push_str("Not measured.\n\n");
    } else {
        let mut t = Comparison::new(&["clients", "figure"], &labels);
        for lv in &levels {
            let clients = trailing_number(lv).map_or(lv.clone(), |n| n.to_string());
            t.push(Row::new(
                &[&clients, "throughput (req/s)"],
                Unit::Rps,
                by(&|s| scenario(s, "scale", lv).and_then(|f| f.throughput_rps)),
            ));
            for (fig, f) in [
                ("p50 (ms)", p50 as fn(&Stats) -> Option<f64>),
                ("p95 (ms)", p95),
                ("p99 (ms)", p99),
            ] {
                t.push(Row::new(
                    &[&clients, fig],
                    Unit::Ms,
                    by(&|s| lat(scenario(s, "scale", lv), f)),
                ));
            }
        }
        md.push_str(&t.to_markdown());
        let _ = writeln!(
            md,
            "\nEach level is a constant number of virtual users issuing `GET /customers/{{id}}` \
             back to back for the level's duration. Source: {}.\n",
            sources(summary, &labels, "scale", "k6-scale.json")
        );
        let cats: Vec<String> = levels
            .iter()
            .map(|lv| trailing_number(lv).map_or(lv.clone(), |n| n.to_string()))
            .collect();
        charts.push(ChartSpec {
            file: "scale-throughput.svg".into(),
            title: "Throughput vs concurrent clients (higher is better)".into(),
            x_label: "concurrent clients (k6 VUs)".into(),
            y_label: "requests/s".into(),
            categories: cats.clone(),
            series: series_from(&labels, |l| {
                levels
                    .iter()
                    .map(|lv| {
                        scenario(summary.stack(l), "scale", lv).and_then(|f| f.throughput_rps)
                    })
                    .collect()
            }),
            kind: ChartKind::Lines,
        });
        charts.push(ChartSpec {
            file: "scale-latency.svg".into(),
            title: "p95 latency vs concurrent clients (lower is better)".into(),
            x_label: "concurrent clients (k6 VUs)".into(),
            y_label: "p95 ms".into(),
            categories: cats,
            series: series_from(&labels, |l| {
                levels
                    .iter()
                    .map(|lv| lat(scenario(summary.stack(l), "scale", lv), p95))
                    .collect()
            }),
            kind: ChartKind::Lines,
        });
        push_chart_links(&mut md, &charts, "scale-throughput.svg");
        push_chart_links(&mut md, &charts, "scale-latency.svg");
    }

    // --- Server-Timing conn and query ------------------------------------------------------
    md.push_str("## Where the database time goes (Server-Timing `conn` and `query`)\n\n");
    let mut t = Comparison::new(&["test / scenario", "entry", "figure"], &labels);
    let mut st_tests: Vec<(String, String)> = load_names
        .iter()
        .map(|n| ("load".to_string(), n.clone()))
        .collect();
    for n in scenario_names(summary, "ping-db", &[]) {
        st_tests.push(("ping-db".to_string(), n));
    }
    for (test, name) in &st_tests {
        for (trend, entry) in [("st_conn", "conn"), ("st_query", "query")] {
            for (fig, f) in [
                ("p50 (ms)", p50 as fn(&Stats) -> Option<f64>),
                ("p95 (ms)", p95),
                ("p99 (ms)", p99),
            ] {
                let row = Row::new(
                    &[&format!("{test} / {name}"), entry, fig],
                    Unit::Ms,
                    by(&|s| st(scenario(s, test, name), trend, f)),
                );
                if row.has_data() {
                    t.push(row);
                }
            }
        }
    }
    if t.has_data() {
        md.push_str(&t.to_markdown());
        let _ = writeln!(
            md,
            "\n`conn` is getting a connection (a pool acquire for Axum, `Connection::open` per \
             request for Spin), `query` the SQL, both as each service reports them in \
             `server-timing` (the gateway passes the upstream's on). Source: {}, {}.\n",
            sources(summary, &labels, "load", "k6-load.json"),
            sources(summary, &labels, "ping-db", "k6-ping-db.json")
        );
        let mut cats = Vec::new();
        let mut picks: Vec<(String, String, &str)> = Vec::new();
        for (test, name) in &st_tests {
            for (trend, entry) in [("st_conn", "conn"), ("st_query", "query")] {
                cats.push(format!("{name} {entry} p50"));
                picks.push((test.clone(), name.clone(), trend));
            }
        }
        charts.push(ChartSpec {
            file: "server-timing.svg".into(),
            title: "Server-Timing conn and query, p50 (lower is better)".into(),
            x_label: "scenario and entry".into(),
            y_label: "ms".into(),
            categories: cats,
            series: series_from(&labels, |l| {
                picks
                    .iter()
                    .map(|(test, name, trend)| {
                        st(scenario(summary.stack(l), test, name), trend, p50)
                    })
                    .collect()
            }),
            kind: ChartKind::Bars,
        });
        push_chart_links(&mut md, &charts, "server-timing.svg");
    } else {
        md.push_str("Not measured.\n\n");
    }

    // --- cold start ----------------------------------------------------------------------------
    md.push_str("## Cold start\n\n");
    let mut t = Comparison::new(&["probe", "figure"], &labels);
    for (probe, which) in [("/healthz", "healthz"), ("database route", "db")] {
        for (i, fig) in ["median (ms)", "min (ms)", "max (ms)"].iter().enumerate() {
            let row = Row::new(&[probe, fig], Unit::Ms, by(&|s| coldstart_med(s, which)[i]));
            if row.has_data() {
                t.push(row);
            }
        }
    }
    t.push(Row::new(
        &["valid runs", ""],
        Unit::Count,
        by(&|s| {
            s.and_then(|s| s.coldstart.as_ref())
                .and_then(|c| c.valid_runs)
                .map(f64::from)
        }),
    ));
    if t.has_data() {
        md.push_str(&t.to_markdown());
        let probes: Vec<String> = labels
            .iter()
            .filter_map(|l| {
                let c = summary.stack(l)?.coldstart.as_ref()?;
                Some(format!(
                    "`{l}`: {}{}",
                    c.probe_url.as_deref().unwrap_or("?"),
                    c.compile_cache
                        .as_deref()
                        .map(|cc| format!(" ({cc})"))
                        .unwrap_or_default()
                ))
            })
            .collect();
        let _ = writeln!(
            md,
            "\n{} Database route probed: {}. Source: {}.\n",
            if kind == Some("local") {
                "Time from starting the stack's processes (exec) to the first 200 through the \
                 gateway, probing every few ms; each run starts from stopped processes."
            } else {
                "Time from scaling the service up from zero to the first 200 through the gateway."
            },
            probes.join("; "),
            other_sources(&labels, "coldstart.json")
        );
        charts.push(ChartSpec {
            file: "coldstart.svg".into(),
            title: "Cold start to first 200, median (lower is better)".into(),
            x_label: "probe".into(),
            y_label: "ms".into(),
            categories: vec!["/healthz".into(), "database route".into()],
            series: series_from(&labels, |l| {
                let s = summary.stack(l);
                vec![coldstart_med(s, "healthz")[0], coldstart_med(s, "db")[0]]
            }),
            kind: ChartKind::Bars,
        });
        push_chart_links(&mut md, &charts, "coldstart.svg");
    } else {
        md.push_str("Not measured.\n\n");
    }

    // --- memory --------------------------------------------------------------------------------
    md.push_str("## Memory (RSS) and CPU\n\n");
    let services = resource_services(&stacks);
    let mut t = Comparison::new(&["service", "figure"], &labels);
    let mut all = services.clone();
    all.push("total".to_string());
    for svc in &all {
        for (fig, phase, max) in [
            ("idle, avg", "idle", false),
            ("under load, avg", "load", false),
            ("under load, max", "load", true),
        ] {
            let row = Row::new(&[svc, fig], Unit::Bytes, by(&|s| rss(s, phase, svc, max)));
            if row.has_data() {
                t.push(row);
            }
        }
        let row = Row::new(
            &[svc, "CPU under load, avg"],
            Unit::Millicores,
            by(&|s| cpu_m(s, "load", svc)),
        );
        if row.has_data() {
            t.push(row);
        }
    }
    if t.has_data() {
        md.push_str(&t.to_markdown());
        let srcs: Vec<String> = labels
            .iter()
            .filter_map(|l| {
                let r = summary.stack(l)?.resources.as_ref()?;
                Some(format!(
                    "`{l}`: {}",
                    r.source.as_deref().unwrap_or("unknown source")
                ))
            })
            .collect();
        let _ = writeln!(
            md,
            "\n`total` is all the stack's processes together. Measured with {}. Source: {}.\n",
            srcs.join("; "),
            other_sources(&labels, "resources.json")
        );
        charts.push(ChartSpec {
            file: "memory.svg".into(),
            title: "RSS of all services (lower is better)".into(),
            x_label: "phase".into(),
            y_label: "MiB".into(),
            categories: vec!["idle (avg)".into(), "under load (max)".into()],
            series: series_from(&labels, |l| {
                let s = summary.stack(l);
                vec![
                    rss(s, "idle", "total", false).map(mib),
                    rss(s, "load", "total", true).map(mib),
                ]
            }),
            kind: ChartKind::Bars,
        });
        push_chart_links(&mut md, &charts, "memory.svg");
    } else {
        let reasons: Vec<String> = labels
            .iter()
            .filter_map(|l| {
                let r = summary.stack(l)?.resources.as_ref()?;
                r.reason.as_ref().map(|why| format!("`{l}`: {why}"))
            })
            .collect();
        let _ = writeln!(md, "Not measured. {}\n", reasons.join("; "));
    }

    // --- sizes ---------------------------------------------------------------------------------
    md.push_str("## Artifact sizes\n\n");
    let mut items: Vec<String> = SERVICE_ORDER.iter().map(|s| s.to_string()).collect();
    for s in stacks.iter().flatten() {
        if let Some(a) = &s.artifacts {
            for k in a.items.keys() {
                if !items.contains(k) {
                    items.push(k.clone());
                }
            }
        }
    }
    let mut t = Comparison::new(&["artifact"], &labels);
    for item in &items {
        let row = Row::new(&[item], Unit::Bytes, by(&|s| artifact_bytes(s, item)));
        if row.has_data() {
            t.push(row);
        }
    }
    t.push(Row::new(
        &["total (what is deployed per stack)"],
        Unit::Bytes,
        by(&|s| artifact_bytes(s, "total")),
    ));
    let rt = Row::new(
        &["runtime that runs them (not in the total)"],
        Unit::Bytes,
        by(&|s| artifact_bytes(s, "runtime")),
    );
    if rt.has_data() {
        t.push(rt);
    }
    if t.has_data() {
        md.push_str(&t.to_markdown());
        let mut kinds = Vec::new();
        for l in &labels {
            if let Some(a) = summary.stack(l).and_then(|s| s.artifacts.as_ref()) {
                let k: BTreeSet<String> = a
                    .items
                    .values()
                    .flatten()
                    .filter_map(|i| i.kind.clone())
                    .collect();
                let mut text = format!("`{l}`: {}", k.into_iter().collect::<Vec<_>>().join(", "));
                if let Some(r) = &a.runtime {
                    let _ = write!(
                        text,
                        "; runtime {} ({})",
                        r.kind.as_deref().unwrap_or("?"),
                        r.path.as_deref().or(r.reference.as_deref()).unwrap_or("?")
                    );
                }
                kinds.push(text);
            }
        }
        let _ = writeln!(
            md,
            "\nKinds: {}. Source: {}.\n",
            kinds.join("; "),
            other_sources(&labels, "artifacts.json")
        );
        charts.push(ChartSpec {
            file: "sizes.svg".into(),
            title: "Artifact sizes (lower is better)".into(),
            x_label: "artifact".into(),
            y_label: "MiB".into(),
            categories: items
                .iter()
                .cloned()
                .chain(std::iter::once("total".to_string()))
                .collect(),
            series: series_from(&labels, |l| {
                let s = summary.stack(l);
                items
                    .iter()
                    .map(|i| artifact_bytes(s, i).map(mib))
                    .chain(std::iter::once(artifact_bytes(s, "total").map(mib)))
                    .collect()
            }),
            kind: ChartKind::Bars,
        });
        push_chart_links(&mut md, &charts, "sizes.svg");
    } else {
        md.push_str("Not measured.\n\n");
    }

    // --- correctness of the runs ---------------------------------------------------------------
    md.push_str("## Errors and thresholds\n\n");
    let tests: BTreeSet<String> = stacks
        .iter()
        .flatten()
        .flat_map(|s| s.k6.keys().cloned())
        .collect();
    let mut t = Comparison::new(&["k6 test", "figure"], &labels);
    for test in &tests {
        t.push(Row::new(
            &[test, "requests"],
            Unit::Count,
            by(&|s| {
                s.and_then(|s| s.k6(test))
                    .and_then(|k| k.overall.as_ref())
                    .and_then(|o| o.requests)
            }),
        ));
        t.push(Row::new(
            &[test, "failed requests"],
            Unit::Percent,
            by(&|s| {
                s.and_then(|s| s.k6(test))
                    .and_then(|k| k.overall.as_ref())
                    .and_then(|o| o.error_rate)
            }),
        ));
        t.push(Row::new(
            &[test, "checks passed"],
            Unit::Percent,
            by(&|s| {
                s.and_then(|s| s.k6(test))
                    .and_then(|k| k.overall.as_ref())
                    .and_then(|o| o.checks_rate)
            }),
        ));
    }
    if t.has_data() {
        md.push_str(&t.to_markdown());
        md.push('\n');
    }
    let mut failed = Vec::new();
    for l in &labels {
        if let Some(s) = summary.stack(l) {
            for (test, k) in &s.k6 {
                if let Some(k) = k {
                    for th in &k.thresholds_failed {
                        failed.push(format!("- `{l}` {test}: `{th}`"));
                    }
                }
            }
        }
    }
    if failed.is_empty() {
        md.push_str("No k6 threshold failed.\n\n");
    } else {
        md.push_str("Failed k6 thresholds (these figures are suspect):\n\n");
        md.push_str(&failed.join("\n"));
        md.push_str("\n\n");
    }
    if !summary.problems.is_empty() {
        md.push_str("Problems recorded by summarize.py:\n\n");
        for p in &summary.problems {
            let _ = writeln!(md, "- {}", md_escape(p));
        }
        md.push('\n');
    }

    // --- environment ---------------------------------------------------------------------------
    md.push_str("## Environment\n\n");
    md.push_str("| | |\n| --- | --- |\n");
    if let Some(env) = &summary.environment {
        let cpu = env.cpu.as_ref();
        let _ = writeln!(
            md,
            "| CPU | {} ({} cores) |",
            md_escape(cpu.and_then(|c| c.model.as_deref()).unwrap_or("?")),
            cpu.and_then(|c| c.cores)
                .map_or("?".to_string(), |c| c.to_string())
        );
        let _ = writeln!(
            md,
            "| memory | {} |",
            env.memory_bytes.map_or("?".to_string(), fmt_bytes)
        );
        let _ = writeln!(
            md,
            "| OS | {} |",
            md_escape(env.os.as_deref().unwrap_or("?"))
        );
        for (k, v) in &env.tools {
            let _ = writeln!(
                md,
                "| tool `{k}` | {} |",
                md_escape(v.as_deref().unwrap_or("not found"))
            );
        }
        for (k, v) in &env.pins {
            let _ = writeln!(
                md,
                "| pin `{k}` | {} |",
                md_escape(&v.as_ref().map_or("–".to_string(), setting_text))
            );
        }
        for (k, v) in &env.settings {
            let _ = writeln!(
                md,
                "| setting `{k}` | {} |",
                md_escape(&v.as_ref().map_or("–".to_string(), setting_text))
            );
        }
    } else {
        md.push_str("| environment | not recorded |\n");
    }
    md.push_str("\nSource: `environment.json` (written by `scripts/lib/envinfo.py`).\n");

    Report {
        markdown: md,
        charts,
    }
}

fn mib(b: f64) -> f64 {
    b / (1024.0 * 1024.0)
}

fn push_chart_links(md: &mut String, charts: &[ChartSpec], file: &str) {
    if let Some(c) = charts.iter().find(|c| c.file == file && c.has_data()) {
        let _ = writeln!(md, "![{}](charts/{})\n", c.title, c.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Summary {
        let text = include_str!("../tests/fixtures/summary.json");
        Summary::from_json(text).expect("fixture parses")
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
    fn compute_points_come_from_compute_json() {
        let s = fixture();
        let keys = compute_keys(&[s.stack("axum"), s.stack("spin-combined")]);
        assert_eq!(
            keys,
            vec![
                ("iterative".to_string(), Some(100000.0)),
                ("iterative".to_string(), Some(1000000.0)),
                ("recursive".to_string(), Some(20.0)),
            ]
        );
        let r = build(&s);
        assert!(r.markdown.contains(
            "| iterative | 1000000 | time per request p50 (ms) | 2.000 | 6.000 | ×3.00 |"
        ));
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
            for s in &c.series {
                assert_eq!(s.values.len(), c.categories.len(), "{}", c.file);
            }
        }
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
