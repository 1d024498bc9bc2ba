//! What a stack costs to keep around: memory and CPU of its processes, size of its artifacts.

use super::compute::SIZE_VARIANT_TEXT;
use crate::report::table::{Comparison, Unit};
use crate::report::{mib, other_sources, ChartKind, ChartSpec, Ctx, Section, SERVICE_ORDER};
use crate::results::label::Label;
use crate::results::model::{Artifacts, NullableMap, ServiceResources, Stack};
use std::collections::BTreeSet;
use std::fmt::Write;

/// The per-service figures of one phase ("idle" or "load").
fn phase<'a>(stack: Option<&'a Stack>, phase: &str) -> Option<&'a NullableMap<ServiceResources>> {
    let res = stack?.resources.as_ref()?;
    Some(if phase == "idle" {
        &res.idle
    } else {
        &res.load
    })
}

/// Resources (RSS) of one phase: per service, plus "total" (the sampler's own per-sample sum
/// when present, else the sum of the services' figures when all are known).
pub(in crate::report) fn rss(
    stack: Option<&Stack>,
    phase_name: &str,
    service: &str,
    max: bool,
) -> Option<f64> {
    if stack?.resources.as_ref()?.available == Some(false) {
        return None;
    }
    let map = phase(stack, phase_name)?;
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

fn cpu_m(stack: Option<&Stack>, phase_name: &str, service: &str) -> Option<f64> {
    phase(stack, phase_name)?
        .get(service)?
        .as_ref()?
        .cpu_m
        .as_ref()?
        .avg
}

/// The services sampled in any stack, in the usual order, then any others by name.
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

/// RSS idle and under load, and CPU under load, per service and in total.
pub(in crate::report) fn memory(cx: &Ctx) -> Section {
    let mut s = Section::titled("Memory (RSS) and CPU");
    let t = memory_table(cx);
    if !t.has_data() {
        let _ = writeln!(s.md, "Not measured. {}\n", why_not_sampled(cx));
        return s;
    }
    s.md.push_str(&t.to_markdown());
    let _ = writeln!(
        s.md,
        "\n`total` is all the stack's processes together. Measured with {}. Source: {}.\n",
        samplers(cx),
        other_sources(&cx.labels, "resources.json")
    );
    s.chart(ChartSpec {
        file: "memory.svg".into(),
        title: "RSS of all services (lower is better)".into(),
        x_label: "phase".into(),
        y_label: "MiB".into(),
        categories: vec!["idle (avg)".into(), "under load (max)".into()],
        series: cx.series(|s| {
            vec![
                rss(s, "idle", "total", false).map(mib),
                rss(s, "load", "total", true).map(mib),
            ]
        }),
        kind: ChartKind::Bars,
    });
    s
}

fn memory_table(cx: &Ctx) -> Comparison {
    let mut t = cx.table(&["service", "figure"]);
    let mut services = resource_services(&cx.stacks);
    services.push("total".to_string());
    for svc in &services {
        for (fig, phase, max) in [
            ("idle, avg", "idle", false),
            ("under load, avg", "load", false),
            ("under load, max", "load", true),
        ] {
            let row = cx.row(&[svc, fig], Unit::Bytes, |s| rss(s, phase, svc, max));
            if row.has_data() {
                t.push(row);
            }
        }
        let row = cx.row(&[svc, "CPU under load, avg"], Unit::Millicores, |s| {
            cpu_m(s, "load", svc)
        });
        if row.has_data() {
            t.push(row);
        }
    }
    t
}

/// What sampled each stack's processes.
fn samplers(cx: &Ctx) -> String {
    let srcs: Vec<String> = cx
        .present()
        .filter_map(|(l, s)| {
            let source = s.resources.as_ref()?.source.as_deref();
            Some(format!("`{l}`: {}", source.unwrap_or("unknown source")))
        })
        .collect();
    srcs.join("; ")
}

/// Why a stack's processes were not sampled, as its sampler recorded.
fn why_not_sampled(cx: &Ctx) -> String {
    let reasons: Vec<String> = cx
        .present()
        .filter_map(|(l, s)| {
            let why = s.resources.as_ref()?.reason.as_ref()?;
            Some(format!("`{l}`: {why}"))
        })
        .collect();
    reasons.join("; ")
}

pub(in crate::report) fn artifact_bytes(stack: Option<&Stack>, item: &str) -> Option<f64> {
    let a = stack?.artifacts.as_ref()?;
    match item {
        "total" => a.total_bytes,
        "runtime" => a.runtime.as_ref()?.bytes,
        _ => a.items.get(item)?.as_ref()?.bytes,
    }
}

/// Size of each deployed artifact, the total, and the runtime that runs them.
pub(in crate::report) fn artifact_sizes(cx: &Ctx) -> Section {
    let mut s = Section::titled("Artifact sizes");
    let items = artifact_items(&cx.stacks);
    let t = sizes_table(cx, &items);
    if !t.has_data() {
        return s.not_measured();
    }
    s.md.push_str(&t.to_markdown());
    let _ = writeln!(
        s.md,
        "\nKinds: {}. Source: {}.\n",
        artifact_kinds(cx),
        other_sources(&cx.labels, "artifacts.json")
    );
    if let Some(note) = size_variant_note(cx) {
        s.md.push_str(&note);
    }
    let mut categories = items.clone();
    categories.push("total".to_string());
    s.chart(ChartSpec {
        file: "sizes.svg".into(),
        title: "Artifact sizes (lower is better)".into(),
        x_label: "artifact".into(),
        y_label: "MiB".into(),
        series: cx.series(|s| {
            let size = |i: &String| artifact_bytes(s, i).map(mib);
            categories.iter().map(size).collect()
        }),
        categories,
        kind: ChartKind::Bars,
    });
    s
}

/// When the run measured `spin-size`: what it is, and its modules against the speed build's.
fn size_variant_note(cx: &Ctx) -> Option<String> {
    let size = cx.summary.stack(Label::SpinSize.as_str())?;
    let mut note = format!("{SIZE_VARIANT_TEXT}.");
    let speed = cx.summary.stack("spin");
    if let (Some(sz), Some(sp)) = (
        artifact_bytes(Some(size), "total"),
        artifact_bytes(speed, "total"),
    ) {
        if sp > 0.0 {
            let change = 100.0 * (sp / sz - 1.0);
            let _ = write!(
                note,
                " The speed build's modules (`spin`) are {:.0} % {} than the size build's: \
                 {:.0} KiB against {:.0} KiB in all.",
                change.abs(),
                if change >= 0.0 { "larger" } else { "smaller" },
                sp / 1024.0,
                sz / 1024.0
            );
        }
    }
    note.push_str("\n\n");
    Some(note)
}

/// The three services, then any other artifact a stack recorded.
fn artifact_items(stacks: &[Option<&Stack>]) -> Vec<String> {
    let mut items: Vec<String> = SERVICE_ORDER.iter().map(|s| s.to_string()).collect();
    for a in stacks.iter().flatten().filter_map(|s| s.artifacts.as_ref()) {
        for k in a.items.keys() {
            if !items.contains(k) {
                items.push(k.clone());
            }
        }
    }
    items
}

fn sizes_table(cx: &Ctx, items: &[String]) -> Comparison {
    let mut t = cx.table(&["artifact"]);
    for item in items {
        let row = cx.row(&[item], Unit::Bytes, |s| artifact_bytes(s, item));
        if row.has_data() {
            t.push(row);
        }
    }
    t.push(
        cx.row(&["total (what is deployed per stack)"], Unit::Bytes, |s| {
            artifact_bytes(s, "total")
        }),
    );
    let runtime = cx.row(
        &["runtime that runs them (not in the total)"],
        Unit::Bytes,
        |s| artifact_bytes(s, "runtime"),
    );
    if runtime.has_data() {
        t.push(runtime);
    }
    t
}

/// Per stack: the kinds of its artifacts, and its runtime when recorded.
fn artifact_kinds(cx: &Ctx) -> String {
    let kinds: Vec<String> = cx
        .present()
        .filter_map(|(l, s)| Some(kinds_of(l, s.artifacts.as_ref()?)))
        .collect();
    kinds.join("; ")
}

fn kinds_of(label: &str, a: &Artifacts) -> String {
    let kinds: BTreeSet<&str> = a
        .items
        .values()
        .flatten()
        .filter_map(|i| i.kind.as_deref())
        .collect();
    let mut text = format!(
        "`{label}`: {}",
        kinds.into_iter().collect::<Vec<_>>().join(", ")
    );
    if let Some(r) = &a.runtime {
        let _ = write!(
            text,
            "; runtime {} ({})",
            r.kind.as_deref().unwrap_or("?"),
            r.path.as_deref().or(r.reference.as_deref()).unwrap_or("?")
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    fn mem(avg: f64, max: f64) -> serde_json::Value {
        json!({"memory_bytes": {"avg": avg, "max": max}})
    }

    #[test]
    fn the_total_is_the_samplers_own_or_the_sum_of_all_services() {
        let s = summary(json!({"stacks": {
            "axum": {"resources": {"idle": {"gateway": mem(1.0, 2.0), "order-service": mem(3.0, 4.0)},
                                   "load": {"gateway": mem(5.0, 6.0), "total": mem(10.0, 20.0)}}},
            "spin": {"resources": {"idle": {"gateway": mem(1.0, 2.0), "order-service": null}}},
            "off": {"resources": {"available": false, "idle": {"gateway": mem(1.0, 2.0)}}}
        }}));
        assert_eq!(rss(s.stack("axum"), "idle", "total", false), Some(4.0));
        assert_eq!(rss(s.stack("axum"), "idle", "total", true), Some(6.0));
        // The sampler summed each sample: its total, not the sum of the services' maxima.
        assert_eq!(rss(s.stack("axum"), "load", "total", true), Some(20.0));
        // One service unknown: no total rather than a partial one.
        assert_eq!(rss(s.stack("spin"), "idle", "total", false), None);
        assert_eq!(rss(s.stack("spin"), "idle", "gateway", false), Some(1.0));
        assert_eq!(rss(s.stack("off"), "idle", "gateway", false), None);
    }

    #[test]
    fn the_size_variant_is_explained_beside_the_speed_build() {
        let sizes = |total: f64| {
            json!({"artifacts": {"total_bytes": total,
            "items": {"gateway": {"kind": "wasm", "bytes": total}}}})
        };
        let s = summary(json!({"stacks": {
            "axum": sizes(4096.0 * 1024.0), "spin": sizes(120.0 * 1024.0),
            "spin-size": sizes(100.0 * 1024.0)}}));
        let md = artifact_sizes(&Ctx::new(&s)).md;
        assert!(
            md.contains("`spin-size` is the same Spin components built for size"),
            "{md}"
        );
        assert!(
            md.contains("are 20 % larger than the size build's: 120 KiB against 100 KiB in all."),
            "{md}"
        );
        let s = summary(json!({"stacks": {"axum": sizes(1.0), "spin": sizes(1.0)}}));
        assert!(!artifact_sizes(&Ctx::new(&s)).md.contains("spin-size"));
    }

    #[test]
    fn unsampled_stacks_say_why() {
        let s = summary(json!({"stacks": {
            "axum": {"resources": {"available": false, "reason": "no ps"}},
            "spin": {"resources": {"available": false, "reason": "no metrics-server"}}
        }}));
        let sec = memory(&Ctx::new(&s));
        assert!(sec
            .md
            .ends_with("Not measured. `axum`: no ps; `spin`: no metrics-server\n\n"));
        assert!(sec.charts.is_empty());
    }

    #[test]
    fn sizes_list_extra_artifacts_and_the_runtime_apart() {
        let s = summary(json!({"stacks": {
            "axum": {"artifacts": {"total_bytes": 3072, "items": {
                "gateway": {"bytes": 1024, "kind": "binary"}, "migrations": {"bytes": 2048, "kind": "sql"}}}},
            "spin": {"artifacts": {"total_bytes": 1024, "items": {"gateway": {"bytes": 1024, "kind": "wasm"}},
                "runtime": {"bytes": 4096, "kind": "spin-cli", "path": "spin"}}}
        }}));
        let sec = artifact_sizes(&Ctx::new(&s));
        assert!(
            sec.md.contains("| migrations | 2.0 KiB | – | – |"),
            "{}",
            sec.md
        );
        assert!(sec
            .md
            .contains("| runtime that runs them (not in the total) | – | 4.0 KiB | – |"));
        assert!(sec
            .md
            .contains("Kinds: `axum`: binary, sql; `spin`: wasm; runtime spin-cli (spin)."));
        let chart = &sec.charts[0];
        assert_eq!(
            chart.categories,
            [
                "gateway",
                "customer-service",
                "order-service",
                "migrations",
                "total"
            ]
        );
    }
}
