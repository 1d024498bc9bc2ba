//! The CPU budget's figures (summary.json `capacity`, `ladder`, `cpu_per_request` and the
//! environment's `cpu_budget`): the budget at the top, what Wasm buys or costs here with the
//! common claims judged against this run, the At-a-glance rows, and the sections for capacity,
//! latency at equal offered load and CPU per request. Every verdict and the sentence are
//! computed here from the summary, never written by hand.

use super::coldstart::first_200_p50;
use super::footprint::{artifact_bytes, rss};
use crate::report::table::{fmt_ms, md_escape, Comparison, Unit};
use crate::report::{ChartKind, ChartSpec, Ctx, Section, Series};
use crate::results::budget::{CapacityPoint, LadderPoint, StepCpu};
use crate::results::label::Label;
use crate::results::model::{Stack, Summary};
use std::fmt::Write;

/// The baseline every claim is held against: the Axum column of the same shape.
const BASELINE: &str = "axum";

/// The column a Wasm column is held against: `axum-container` for the container shape
/// (`spin-shim`), `axum` for the process shapes.
fn baseline_of(label: &str) -> &'static str {
    if Label::parse(label).is_some_and(Label::is_container) {
        Label::AxumContainer.as_str()
    } else {
        BASELINE
    }
}

/// Start P50 to the first 200 on a database route: a container column's cached start (the
/// image on the node, as a rollout or a scale-up usually finds it), else the process
/// column's cold start.
fn start_p50(summary: &Summary, label: &str) -> Option<f64> {
    if Label::parse(label).is_some_and(Label::is_container) {
        super::containers::start_p50(summary, label, "cached")
    } else {
        first_200_p50(summary.stack(label))
    }
}

/// The budget in one paragraph, at the top of the report.
pub(in crate::report) fn budget_line(cx: &Ctx) -> Section {
    let mut s = Section::default();
    let Some(b) = cx
        .summary
        .environment
        .as_ref()
        .and_then(|e| e.cpu_budget.as_ref())
    else {
        return s;
    };
    let _ = writeln!(
        s.md,
        "> **CPU budget**: {}. Postgres: {}. The stack's CPU: {}.{}\n",
        md_escape(b.description.as_deref().unwrap_or("?")),
        md_escape(b.postgres.as_deref().unwrap_or("?")),
        md_escape(b.cpu_source.as_deref().unwrap_or("?")),
        b.note
            .as_deref()
            .map_or(String::new(), |n| format!(" ({})", md_escape(n)))
    );
    s
}

fn capacity_point<'a>(
    summary: &'a Summary,
    target: &str,
    route: &str,
) -> Option<&'a CapacityPoint> {
    summary
        .capacity
        .as_ref()?
        .points
        .iter()
        .find(|p| p.target.as_deref() == Some(target) && p.route.as_deref() == Some(route))
}

/// A stack's ladder, by rate.
fn ladder_of<'a>(summary: &'a Summary, stack: &str) -> Vec<&'a LadderPoint> {
    let mut points: Vec<&LadderPoint> = summary
        .ladder
        .iter()
        .flat_map(|l| &l.points)
        .filter(|p| p.stack.as_deref() == Some(stack))
        .collect();
    points.sort_by(|a, b| {
        a.rate_rps
            .unwrap_or(0.0)
            .total_cmp(&b.rate_rps.unwrap_or(0.0))
    });
    points
}

/// The rates every stack of the ladder was offered in full: the lowest and the highest of
/// them, the two equal offered rates the headline compares.
pub(in crate::report) fn equal_rates(summary: &Summary, stacks: &[String]) -> Vec<f64> {
    let with_ladder: Vec<&String> = stacks
        .iter()
        .filter(|s| !ladder_of(summary, s).is_empty())
        .collect();
    let Some((first, rest)) = with_ladder.split_first() else {
        return Vec::new();
    };
    let plotted = |stack: &str| -> Vec<f64> {
        ladder_of(summary, stack)
            .into_iter()
            .filter(|p| p.plotted())
            .filter_map(|p| p.rate_rps)
            .collect()
    };
    let common: Vec<f64> = plotted(first)
        .into_iter()
        .filter(|r| rest.iter().all(|s| plotted(s).contains(r)))
        .collect();
    match common.as_slice() {
        [] => Vec::new(),
        [one] => vec![*one],
        [lo, .., hi] => vec![*lo, *hi],
    }
}

fn ladder_p99(summary: &Summary, stack: &str, rate: f64) -> Option<f64> {
    ladder_of(summary, stack)
        .into_iter()
        .find(|p| p.rate_rps == Some(rate) && p.plotted())?
        .latency_ms
        .as_ref()?
        .p99
}

/// The highest rate offered in full whose p99 stayed under `target_ms`, every lower rate too.
pub(in crate::report) fn highest_rate_under(
    points: &[&LadderPoint],
    target_ms: f64,
) -> Option<f64> {
    let mut best = None;
    for p in points {
        let p99 = p.latency_ms.as_ref().and_then(|l| l.p99);
        if !p.plotted() || !p99.is_some_and(|v| v < target_ms) {
            break;
        }
        best = p.rate_rps;
    }
    best
}

/// The stack's CPU per request in the k6 load suite.
fn load_us_per_request(summary: &Summary, stack: &str) -> Option<f64> {
    summary
        .cpu_per_request
        .as_ref()?
        .points
        .iter()
        .find(|p| p.stack.as_deref() == Some(stack))?
        .cpu
        .as_ref()?
        .stack_us_per_request
}

fn label_of(stack: Option<&Stack>) -> Option<&str> {
    stack?.label.as_deref()
}

/// The density layout that stands for a column: axum; spin (a `spin up` per service) is N
/// `spin up`s; spin-combined (one `spin up`) is one `spin up` of N components.
fn density_layout(label: &str) -> Option<&'static str> {
    match label {
        "axum" => Some("axum"),
        "spin" => Some("spin-n-ups"),
        "spin-combined" => Some("spin-one-up"),
        _ => None,
    }
}

fn memory_per_extra_copy(summary: &Summary, label: &str) -> Option<f64> {
    let layout = summary
        .density
        .as_ref()?
        .layouts
        .get(density_layout(label)?)?
        .as_ref()?;
    layout
        .points
        .iter()
        .rev()
        .find_map(|p| p.rss_per_extra_bytes)
}

/// Rows for "At a glance": capacity with the generator's CPU, p99 at two equal rates, CPU per
/// request, memory per extra copy.
pub(in crate::report) fn glance_rows(cx: &Ctx, head: &mut Comparison) {
    let sm = cx.summary;
    for route in ["read", "write"] {
        let name = format!("capacity under wrk, gateway {route} (req/s)");
        head.push(cx.row(&[&name], Unit::Rps, |s| {
            capacity_point(sm, &format!("{}-gateway", label_of(s)?), route)?.throughput_rps
        }));
        let name = format!("… wrk's own CPU meanwhile, gateway {route}");
        head.push(cx.row(&[&name], Unit::Millicores, |s| {
            let p = capacity_point(sm, &format!("{}-gateway", label_of(s)?), route)?;
            Some(p.cpu.as_ref()?.generator_cores? * 1000.0)
        }));
    }
    for rate in equal_rates(sm, &cx.labels) {
        let name = format!("p99 at {rate:.0} req/s offered, open-loop (ms)");
        head.push(cx.row(&[&name], Unit::Ms, |s| ladder_p99(sm, label_of(s)?, rate)));
    }
    head.push(cx.row(
        &["stack CPU per request, k6 load (µs)"],
        Unit::Count,
        |s| load_us_per_request(sm, label_of(s)?),
    ));
    head.push(cx.row(
        &["stack CPU per request at capacity, gateway read (µs)"],
        Unit::Count,
        |s| {
            let p = capacity_point(sm, &format!("{}-gateway", label_of(s)?), "read")?;
            p.cpu.as_ref()?.stack_us_per_request
        },
    ));
    head.push(cx.row(
        &["memory per extra copy of customer-service (RSS, largest N)"],
        Unit::Bytes,
        |s| memory_per_extra_copy(sm, label_of(s)?),
    ));
    let Some(doc) = sm.containers.as_ref() else {
        return;
    };
    for (kind, name) in [
        (
            "cached",
            "container start to the first 200, cached, P50 (ms)",
        ),
        (
            "after_pull",
            "container start to the first 200, after a pull, P50 (ms)",
        ),
    ] {
        head.push(cx.row(&[name], Unit::Ms, |s| {
            super::containers::start_p50(sm, label_of(s)?, kind)
        }));
    }
    head.push(cx.row(
        &["memory per extra container of customer-service (PSS with the shims)"],
        Unit::Bytes,
        |s| {
            let l = label_of(s)?;
            let d = doc.density.iter().find(|d| d.column == l)?;
            Some(d.per_extra_copy.pss_with_shims)
        },
    ));
}

/// One claim commonly made for Wasm over containers, against this run.
#[derive(Debug, Clone, PartialEq)]
pub(in crate::report) struct Claim {
    pub claim: &'static str,
    pub figure: String,
    pub verdict: &'static str,
}

/// Saving of `spin` over `base` (0.4 = 40 % less).
fn saving(spin: Option<f64>, base: Option<f64>) -> Option<f64> {
    let (s, b) = (spin?, base?);
    (b > 0.0 && s.is_finite()).then(|| 1.0 - s / b)
}

/// "holds" at or past the claim, "partly" when better but short of it, "does not hold"
/// when no better, "not measured" without figures.
pub(in crate::report) fn verdict(saving: Option<f64>, claimed: f64) -> &'static str {
    match saving {
        None => "not measured",
        Some(s) if s >= claimed => "holds",
        Some(s) if s > 0.0 => "partly (better, short of the claim)",
        Some(_) => "does not hold",
    }
}

fn under(value: Option<f64>, limit: f64) -> &'static str {
    match value {
        None => "not measured",
        Some(v) if v < limit => "holds",
        Some(_) => "does not hold",
    }
}

fn pct_less(s: Option<f64>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s >= 0.0 => format!("{:.0} % less", 100.0 * s),
        Some(s) => format!("{:.0} % more", -100.0 * s),
    }
}

/// The claims, for the Wasm column `label` against its baseline ([`baseline_of`]).
pub(in crate::report) fn claims(summary: &Summary, label: &str) -> Vec<Claim> {
    let baseline = baseline_of(label);
    let spin = summary.stack(label);
    let base = summary.stack(baseline);
    let mem = saving(
        rss(spin, "idle", "total", false),
        rss(base, "idle", "total", false),
    );
    let start_spin = start_p50(summary, label);
    let start = saving(start_spin, start_p50(summary, baseline));
    let cpu = saving(
        load_us_per_request(summary, label),
        load_us_per_request(summary, baseline),
    );
    let art = saving(artifact_bytes(spin, "total"), artifact_bytes(base, "total"));
    let warm = spin.and_then(|s| s.coldstart.as_ref()?.warm_request_ms.as_ref()?.median);
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{} ms", fmt_ms(v)));
    let startup_verdict = match (verdict(start, 0.6), start_spin) {
        ("holds", Some(v)) if v >= 100.0 => "partly (60 % faster, not under 100 ms)",
        (v, _) => v,
    };
    vec![
        Claim {
            claim: "about 40 % less memory",
            figure: format!("RSS idle, all services: {}", pct_less(mem)),
            verdict: verdict(mem, 0.4),
        },
        Claim {
            claim: "60 % faster startup (under 100 ms)",
            figure: format!(
                "cold start to the first 200 on a DB route, P50 {}: {}",
                ms(start_spin),
                pct_less(start)
                    .replace("less", "faster")
                    .replace("more", "slower")
            ),
            verdict: startup_verdict,
        },
        Claim {
            claim: "35 % less CPU",
            figure: format!("stack CPU per request, k6 load: {}", pct_less(cpu)),
            verdict: verdict(cpu, 0.35),
        },
        Claim {
            claim: "70–85 % smaller artifacts",
            figure: format!("artifacts, all services: {}", pct_less(art)),
            verdict: verdict(art, 0.7),
        },
        Claim {
            claim: "cold start P50 under 100 ms",
            figure: format!("P50 {}", ms(start_spin)),
            verdict: under(start_spin, 100.0),
        },
        Claim {
            claim: "warm request under 10 ms",
            figure: format!("a request after warm-up, median {}", ms(warm)),
            verdict: under(warm, 10.0),
        },
    ]
}

/// "What does Wasm buy or cost here": a Wasm column against its baseline ([`baseline_of`]),
/// from the ratios of the summary.
pub(in crate::report) fn sentence(summary: &Summary, label: &str) -> Option<String> {
    let baseline = baseline_of(label);
    summary.stack(baseline)?;
    summary.stack(label)?;
    let spin = summary.stack(label);
    let base = summary.stack(baseline);
    let gw = |l: &str, route: &str| {
        capacity_point(summary, &format!("{l}-gateway"), route).and_then(|p| p.throughput_rps)
    };
    // (what, spin ÷ axum, lower is better)
    let figures: [(&str, Option<f64>, bool); 6] = [
        (
            "idle memory",
            ratio(
                rss(spin, "idle", "total", false),
                rss(base, "idle", "total", false),
            ),
            true,
        ),
        (
            "artifact size",
            ratio(artifact_bytes(spin, "total"), artifact_bytes(base, "total")),
            true,
        ),
        (
            "cold start",
            ratio(start_p50(summary, label), start_p50(summary, baseline)),
            true,
        ),
        (
            "CPU per request",
            ratio(
                load_us_per_request(summary, label),
                load_us_per_request(summary, baseline),
            ),
            true,
        ),
        (
            "read capacity on one core",
            ratio(gw(label, "read"), gw(baseline, "read")),
            false,
        ),
        (
            "write capacity on one core",
            ratio(gw(label, "write"), gw(baseline, "write")),
            false,
        ),
    ];
    let mut buys = Vec::new();
    let mut costs = Vec::new();
    for (what, r, lower_better) in figures {
        let Some(r) = r else { continue };
        let better = if lower_better { r < 1.0 } else { r > 1.0 };
        let text = format!(
            "{what} ×{}",
            if r >= 10.0 {
                format!("{r:.0}")
            } else {
                format!("{r:.2}")
            }
        );
        if better {
            buys.push(text);
        } else {
            costs.push(text);
        }
    }
    if buys.is_empty() && costs.is_empty() {
        return None;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "nothing measured".to_string()
        } else {
            v.join(", ")
        }
    };
    let shape = if baseline == BASELINE {
        "as processes"
    } else {
        "in the container shape k3d runs"
    };
    Some(format!(
        "**What Wasm buys or costs here, {shape}** (`{label}` ÷ `{baseline}`, this run): it \
         buys {}; it costs {}.",
        list(&buys),
        list(&costs)
    ))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    crate::report::table::ratio(a, b)
}

/// The sentence and the claims table, above At a glance.
pub(in crate::report) fn wasm_claims(cx: &Ctx) -> Section {
    let mut s = Section::default();
    let wasm: Vec<&String> = cx
        .labels
        .iter()
        .filter(|l| l.as_str() != BASELINE && l.as_str() != Label::AxumContainer.as_str())
        .filter(|l| cx.summary.stack(baseline_of(l)).is_some())
        .collect();
    if wasm.is_empty() {
        return s;
    }
    // One sentence per shape: the first process column (the headline, `spin`) and the
    // container shape's.
    let mut said = Vec::new();
    for l in &wasm {
        let base = baseline_of(l);
        if said.contains(&base) {
            continue;
        }
        if let Some(line) = sentence(cx.summary, l) {
            let _ = writeln!(s.md, "{line}\n");
            said.push(base);
        }
    }
    s.md.push_str("## Claims made for Wasm over containers, against this run\n\n");
    let mut header = "| claim |".to_string();
    let mut rule = "| --- |".to_string();
    for l in &wasm {
        let _ = write!(header, " `{l}`: this workload | verdict |");
        rule.push_str(" --- | --- |");
    }
    let _ = writeln!(s.md, "{header}\n{rule}");
    let per: Vec<Vec<Claim>> = wasm.iter().map(|l| claims(cx.summary, l)).collect();
    for (i, claim) in per[0].iter().enumerate() {
        let mut row = format!("| {} |", claim.claim);
        for col in &per {
            let c = &col[i];
            let _ = write!(row, " {} | {} |", md_escape(&c.figure), c.verdict);
        }
        let _ = writeln!(s.md, "{row}");
    }
    s.md.push_str(
        "\nEach verdict is computed from `summary.json` against the Axum column of the same \
         shape: `axum` for the process columns, `axum-container` for `spin-shim` (\"holds\": \
         at least the claimed saving; \"partly\": better but short of it). Memory is idle RSS \
         of every process involved (for the container shape the shims and the container \
         processes; the working set a cluster shows is in the container shape's section); \
         CPU is the stack's CPU time per request served under the k6 load suite, the stack \
         on its own core (the CPU budget above). Cold start is the process column's start, \
         and the container column's cached start from `ctr run`. k3d runs the container \
         shape: `spin-shim` and `axum-container` are the columns that stand for it.\n\n",
    );
    s
}

fn cores(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.2}"))
}

fn saturated_text(cpu: Option<&StepCpu>) -> String {
    match cpu {
        Some(c) if !c.saturated.is_empty() => format!("**saturated: {}**", c.saturated.join(", ")),
        Some(_) => "none".into(),
        None => "–".into(),
    }
}

/// Capacity under wrk: every target and route, with the CPU of each side.
pub(in crate::report) fn capacity(cx: &Ctx) -> Section {
    let mut s = Section::titled("Capacity with a generator that is not the bottleneck");
    let Some(c) = cx
        .summary
        .capacity
        .as_ref()
        .filter(|c| !c.points.is_empty())
    else {
        return s.not_measured();
    };
    let _ = writeln!(
        s.md,
        "Maximum throughput under {}: closed-loop, so the latency here is not comparable \
         across stacks (see the ladder below for that). Beside each figure: the CPU of the \
         stack (its whole budget is 1.00 core), of wrk itself and of Postgres, and what was \
         saturated (≥ 90 % of a core). **Limit** says what bounded the figure: on database \
         routes a stack can be held by Postgres rather than its own core, and CPU per request \
         is then the comparable figure.\n",
        md_escape(c.generator.as_deref().unwrap_or("wrk"))
    );
    s.md.push_str(
        "| target | route | req/s | p99 (ms) | errors | stack cores | stack µs/request | wrk \
         cores | Postgres cores | saturated | limit |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for p in &c.points {
        let cpu = p.cpu.as_ref();
        let _ = writeln!(
            s.md,
            "| `{}` | {} | {:.0} | {} | {:.0} | {} | {} | {} | {} | {} | {} |",
            p.target.as_deref().unwrap_or("?"),
            p.route.as_deref().unwrap_or("?"),
            p.throughput_rps.unwrap_or(f64::NAN),
            p.latency_ms
                .as_ref()
                .and_then(|l| l.p99)
                .map_or("–".into(), fmt_ms),
            p.errors.unwrap_or(0.0),
            cores(cpu.and_then(|c| c.stack_cores)),
            cpu.and_then(|c| c.stack_us_per_request)
                .map_or("–".into(), |u| format!("{u:.0}")),
            cores(cpu.and_then(|c| c.generator_cores)),
            cores(cpu.and_then(|c| c.postgres_cores)),
            saturated_text(cpu),
            cpu.map_or("–", StepCpu::limit),
        );
    }
    s.md.push_str("\nSource: `budget/capacity.json` (wrk's output: `budget/wrk/`).\n\n");
    s
}

/// Latency at equal offered load: per stack and rate, and the chart.
pub(in crate::report) fn ladder(cx: &Ctx) -> Section {
    let mut s = Section::titled("Latency at equal offered load (open-loop)");
    let Some(l) = cx.summary.ladder.as_ref().filter(|l| !l.points.is_empty()) else {
        return s.not_measured();
    };
    let target = l.p99_target_ms.unwrap_or(50.0);
    let _ = writeln!(
        s.md,
        "{}. Every stack is offered the same rates, whatever its speed, so a slower stack \
         queues instead of being offered less (closed-loop VUs hide that: coordinated \
         omission). A rate where k6 **dropped iterations** (it could not start a request on \
         time) or more than 1 % failed is marked and left out of the chart.\n",
        md_escape(l.method.as_deref().unwrap_or("k6 constant-arrival-rate"))
    );
    s.md.push_str(
        "| stack | offered (req/s) | served (req/s) | p50 (ms) | p90 (ms) | p99 (ms) | errors | \
         dropped | stack µs/request | saturated |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    let mut rates: Vec<f64> = l.points.iter().filter_map(|p| p.rate_rps).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let mut best = Vec::new();
    for label in &cx.labels {
        let points = ladder_of(cx.summary, label);
        for p in &points {
            let lat = |f: fn(&crate::results::model::Stats) -> Option<f64>| {
                p.latency_ms.as_ref().and_then(f).map_or("–".into(), fmt_ms)
            };
            let mark = if p.plotted() {
                ""
            } else {
                " (marked: not plotted)"
            };
            let _ = writeln!(
                s.md,
                "| `{label}` | {:.0}{mark} | {:.0} | {} | {} | {} | {:.2} % | {:.0} | {} | {} |",
                p.rate_rps.unwrap_or(f64::NAN),
                p.throughput_rps.unwrap_or(f64::NAN),
                lat(|l| l.p50),
                lat(|l| l.p90),
                lat(|l| l.p99),
                100.0 * p.error_rate.unwrap_or(0.0),
                p.dropped_iterations.unwrap_or(0.0),
                p.cpu
                    .as_ref()
                    .and_then(|c| c.stack_us_per_request)
                    .map_or("–".into(), |u| format!("{u:.0}")),
                saturated_text(p.cpu.as_ref()),
            );
        }
        if !points.is_empty() {
            best.push((label.clone(), highest_rate_under(&points, target)));
        }
    }
    let _ = writeln!(
        s.md,
        "\n**Highest rate with p99 under {target:.0} ms** (offered in full, every lower rate \
         too): {}.\n",
        best.iter()
            .map(|(l, r)| format!(
                "`{l}` {}",
                r.map_or("none of the rates".into(), |r| format!("{r:.0} req/s"))
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let series_of = |pick: fn(&LadderPoint) -> Option<f64>| -> Vec<Series> {
        cx.labels
            .iter()
            .filter(|l| !ladder_of(cx.summary, l).is_empty())
            .map(|l| {
                let points = ladder_of(cx.summary, l);
                Series {
                    name: l.clone(),
                    values: rates
                        .iter()
                        .map(|r| {
                            points
                                .iter()
                                .find(|p| p.rate_rps == Some(*r) && p.plotted())
                                .and_then(|p| pick(p))
                        })
                        .collect(),
                }
            })
            .collect()
    };
    s.chart(ChartSpec {
        file: "latency-vs-offered-load.svg".into(),
        title: "p99 latency vs offered load (open-loop, gateway read)".into(),
        x_label: "offered load (req/s)".into(),
        y_label: "p99 (ms)".into(),
        categories: rates.iter().map(|r| format!("{r:.0}")).collect(),
        series: series_of(|p| p.latency_ms.as_ref()?.p99),
        kind: ChartKind::Lines,
    });
    s.md.push_str("Source: `budget/ladder.json` (k6 summaries under `budget/ladder/`).\n\n");
    s
}

/// CPU per request in every scenario measured with the stack's CPU.
pub(in crate::report) fn cpu_per_request(cx: &Ctx) -> Section {
    let mut s = Section::titled("CPU per request");
    let sm = cx.summary;
    let mut rows: Vec<(String, String, Option<f64>, Option<f64>)> = Vec::new();
    for p in sm.cpu_per_request.iter().flat_map(|c| &c.points) {
        let cpu = p.cpu.as_ref();
        rows.push((
            p.stack.clone().unwrap_or_default(),
            p.scenario.clone().unwrap_or_default(),
            cpu.and_then(|c| c.stack_us_per_request),
            cpu.and_then(|c| c.stack_cores),
        ));
    }
    for p in sm.capacity.iter().flat_map(|c| &c.points) {
        let cpu = p.cpu.as_ref();
        rows.push((
            p.stack.clone().unwrap_or_default(),
            format!(
                "wrk at capacity: `{}` {}",
                p.target.as_deref().unwrap_or("?"),
                p.route.as_deref().unwrap_or("?")
            ),
            cpu.and_then(|c| c.stack_us_per_request),
            cpu.and_then(|c| c.stack_cores),
        ));
    }
    for p in sm.ladder.iter().flat_map(|l| &l.points) {
        let cpu = p.cpu.as_ref();
        rows.push((
            p.stack.clone().unwrap_or_default(),
            format!("ladder read at {:.0} req/s", p.rate_rps.unwrap_or(f64::NAN)),
            cpu.and_then(|c| c.stack_us_per_request),
            cpu.and_then(|c| c.stack_cores),
        ));
    }
    if rows.is_empty() {
        return s.not_measured();
    }
    s.md.push_str(
        "The stack's CPU time (every process of it, from its cgroup where there is one) ÷ the \
         requests it served, per scenario; the stack's cores are that CPU time ÷ the \
         scenario's wall time (its budget is one core). A floor is filed under its runtime.\n\n\
         | stack | scenario | CPU per request (µs) | stack cores |\n|---|---|---:|---:|\n",
    );
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    for (stack, scenario, us, c) in rows {
        let _ = writeln!(
            s.md,
            "| `{stack}` | {scenario} | {} | {} |",
            us.map_or("–".into(), |u| format!("{u:.0}")),
            cores(c)
        );
    }
    s.md.push_str(
        "\nSources: `budget/cpu.json`, `budget/capacity.json`, `budget/ladder.json`.\n\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    fn rung(stack: &str, rate: f64, p99: f64, dropped: f64) -> serde_json::Value {
        json!({"stack": stack, "route": "read", "rate_rps": rate,
               "latency_ms": {"p99": p99}, "dropped_iterations": dropped, "error_rate": 0.0})
    }

    fn run() -> Summary {
        summary(json!({
            "stacks": {
                "axum": {"resources": {"idle": {"total": {"memory_bytes": {"avg": 100.0}}}},
                         "artifacts": {"total_bytes": 1000.0},
                         "coldstart": {"first_200_ms": {"median": 50.0}}},
                "spin": {"resources": {"idle": {"total": {"memory_bytes": {"avg": 80.0}}}},
                         "artifacts": {"total_bytes": 100.0},
                         "coldstart": {"first_200_ms": {"median": 150.0},
                                       "warm_request_ms": {"median": 2.0}}}
            },
            "capacity": {"points": [
                {"target": "axum-gateway", "route": "read", "throughput_rps": 4000.0},
                {"target": "spin-gateway", "route": "read", "throughput_rps": 1000.0}
            ]},
            "cpu_per_request": {"points": [
                {"stack": "axum", "cpu": {"stack_us_per_request": 100.0}},
                {"stack": "spin", "cpu": {"stack_us_per_request": 400.0}}
            ]},
            "ladder": {"p99_target_ms": 50.0, "points": [
                rung("axum", 50.0, 2.0, 0.0), rung("axum", 200.0, 3.0, 0.0),
                rung("axum", 800.0, 4.0, 0.0),
                rung("spin", 50.0, 5.0, 0.0), rung("spin", 200.0, 60.0, 0.0),
                rung("spin", 800.0, 900.0, 12.0)
            ]}
        }))
    }

    #[test]
    fn equal_rates_are_the_lowest_and_highest_every_stack_was_offered_in_full() {
        let s = run();
        let labels = vec!["axum".to_string(), "spin".to_string()];
        assert_eq!(equal_rates(&s, &labels), [50.0, 200.0]);
        let spin = ladder_of(&s, "spin");
        assert_eq!(highest_rate_under(&spin, 50.0), Some(50.0));
        assert_eq!(
            highest_rate_under(&ladder_of(&s, "axum"), 50.0),
            Some(800.0)
        );
        assert_eq!(highest_rate_under(&spin, 1.0), None);
    }

    #[test]
    fn claims_are_judged_from_the_figures() {
        let c = claims(&run(), "spin");
        let by = |name: &str| {
            c.iter()
                .find(|c| c.claim.starts_with(name))
                .unwrap()
                .clone()
        };
        assert_eq!(
            by("about 40 % less memory").verdict,
            "partly (better, short of the claim)"
        );
        assert!(by("about 40 % less memory").figure.contains("20 % less"));
        assert_eq!(by("60 % faster startup").verdict, "does not hold");
        assert_eq!(by("35 % less CPU").verdict, "does not hold");
        assert!(by("35 % less CPU").figure.contains("300 % more"));
        assert_eq!(by("70–85 % smaller").verdict, "holds");
        assert_eq!(by("cold start P50 under 100 ms").verdict, "does not hold");
        assert_eq!(by("warm request under 10 ms").verdict, "holds");
        assert_eq!(verdict(None, 0.4), "not measured");
    }

    #[test]
    fn the_sentence_lists_what_wasm_buys_and_what_it_costs() {
        let line = sentence(&run(), "spin").unwrap();
        assert!(
            line.contains("it buys idle memory ×0.80, artifact size ×0.10"),
            "{line}"
        );
        assert!(
            line.contains(
                "it costs cold start ×3.00, CPU per request ×4.00, read capacity on one core ×0.25"
            ),
            "{line}"
        );
        assert!(sentence(&run(), "spin-combined").is_none());
    }

    #[test]
    fn the_ladder_section_marks_dropped_rates_and_draws_the_rest() {
        let s = run();
        let section = ladder(&Ctx::new(&s));
        assert!(
            section
                .md
                .contains("| `spin` | 800 (marked: not plotted) |"),
            "{}",
            section.md
        );
        assert!(section.md.contains("`axum` 800 req/s, `spin` 50 req/s"));
        let chart = &section.charts[0];
        assert_eq!(chart.categories, ["50", "200", "800"]);
        assert_eq!(chart.series[1].values, [Some(5.0), Some(60.0), None]);
        let glance = {
            let cx = Ctx::new(&s);
            let mut head = cx.table(&["figure"]);
            glance_rows(&cx, &mut head);
            head.to_markdown()
        };
        assert!(
            glance.contains("p99 at 200 req/s offered, open-loop (ms)"),
            "{glance}"
        );
    }
}
