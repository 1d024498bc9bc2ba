//! The container shape's own figures (summary.json `containers`, from containers.json): cold
//! starts after a pull and cached, memory as a cluster sees it and as PSS with the shims,
//! density, and musl against glibc as processes. The columns' load, capacity, ladder and CPU
//! figures are in the common sections beside the process shape.

use crate::report::table::{fmt_bytes, fmt_ms, md_escape};
use crate::report::{Ctx, Section};
use crate::results::containers::{ColdStartSeries, Containers};
use crate::results::model::Summary;
use std::fmt::Write;

/// The container column's start P50 to the first 200 on a database route, of one kind
/// (`cached`: the image and the shim's precompiled component in the node's store, as on a
/// node that ran the app before; `after_pull`: neither).
pub(in crate::report) fn start_p50(summary: &Summary, column: &str, kind: &str) -> Option<f64> {
    series(summary.containers.as_ref()?, column, kind).map(|s| s.first_200.p50)
}

fn series<'a>(doc: &'a Containers, column: &str, kind: &str) -> Option<&'a ColdStartSeries> {
    doc.cold_start
        .iter()
        .find(|s| s.column == column && s.kind == kind && s.first_200.n > 0)
}

pub(in crate::report) fn container_shape(cx: &Ctx) -> Section {
    let mut s = Section::titled("The container shape: the node runtime's own figures");
    let Some(doc) = cx.summary.containers.as_ref() else {
        return s.not_measured();
    };
    let _ = writeln!(
        s.md,
        "What k3d runs, without the cluster: each service a container on a private containerd \
         1.7, Spin under containerd-shim-spin, Axum's static musl image under runc, k8s/'s \
         resources as cgroup limits (docs/node-runtime.md says what this shape shares with k3d \
         and what it lacks).{} Probe: {}.\n",
        if doc.quick {
            " A quick measurement (few starts): indicative only."
        } else {
            ""
        },
        md_escape(&doc.probe)
    );
    cold_starts(&mut s.md, doc);
    memory(&mut s.md, doc);
    density(&mut s.md, doc);
    processes(&mut s.md, doc);
    for note in &doc.notes {
        let _ = writeln!(s.md, "- {}", md_escape(note));
    }
    s.md.push_str("\nSource: `containers.json`.\n\n");
    s
}

fn cold_starts(md: &mut String, doc: &Containers) {
    md.push_str(
        "| cold start to the first 200 | kind | starts | P50 | P90 | max |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for c in &doc.cold_start {
        let f = &c.first_200;
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} ms | {} ms | {} ms |",
            c.column,
            kind_text(&c.kind),
            f.n,
            fmt_ms(f.p50),
            fmt_ms(f.p90),
            fmt_ms(f.max)
        );
    }
    md.push('\n');
}

fn kind_text(kind: &str) -> &str {
    match kind {
        "after_pull" => "after a pull (image and precompiled component removed)",
        "cached" => "cached (as on a node that ran it before)",
        other => other,
    }
}

fn memory(md: &mut String, doc: &Containers) {
    md.push_str(
        "| memory, customer-service | state | working set (kubectl top) | PSS in the cgroup | \
         the shim's PSS, outside it | PSS with the shim |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
    );
    for m in &doc.memory {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} | {} | {} |",
            m.column,
            m.state,
            fmt_bytes(m.working_set as f64),
            fmt_bytes(m.cgroup_pss as f64),
            fmt_bytes(m.shim_pss_outside_cgroup as f64),
            fmt_bytes(m.pss_with_shim as f64)
        );
    }
    md.push('\n');
}

fn density(md: &mut String, doc: &Containers) {
    if doc.density.is_empty() {
        return;
    }
    md.push_str(
        "| per extra copy of customer-service | largest N | working set | PSS without the \
         shims | PSS with the shims |\n| --- | ---: | ---: | ---: | ---: |\n",
    );
    for d in &doc.density {
        let n = d.points.iter().map(|p| p.n).max().unwrap_or(0);
        let p = &d.per_extra_copy;
        let _ = writeln!(
            md,
            "| `{}` | {n} | {} | {} | {} |",
            d.column,
            fmt_bytes(p.working_set),
            fmt_bytes(p.pss_without_shims),
            fmt_bytes(p.pss_with_shims)
        );
    }
    md.push('\n');
}

fn processes(md: &mut String, doc: &Containers) {
    if doc.processes.is_empty() {
        return;
    }
    md.push_str(
        "The image's static musl binary against the glibc release build, both as plain \
         processes, so that the container's cost is told apart from musl's:\n\n\
         | build | round | idle PSS | load, 200s/s | peak PSS under load | built by |\n\
         | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for p in &doc.processes {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {:.0} | {} | {} |",
            p.name,
            p.round,
            fmt_bytes(p.idle_pss as f64),
            p.load_ok_per_s,
            fmt_bytes(p.load_peak_pss as f64),
            md_escape(&p.built_by)
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn the_section_reads_containers_json_and_the_cached_p50_is_the_start() {
        let s = summary(json!({
            "stacks": {"axum": {}, "spin-shim": {}},
            "containers": {"quick": true, "probe": "GET /customers/1",
                "cold_start": [
                    {"column": "spin-shim", "kind": "after_pull",
                     "first_200": {"n": 3, "min": 900.0, "p50": 1300.0, "p90": 1600.0, "max": 1700.0}},
                    {"column": "spin-shim", "kind": "cached",
                     "first_200": {"n": 3, "min": 400.0, "p50": 462.0, "p90": 538.0, "max": 600.0}}
                ],
                "memory": [{"column": "spin-shim", "state": "idle", "working_set": 20000000}]}
        }));
        assert_eq!(start_p50(&s, "spin-shim", "cached"), Some(462.0));
        assert_eq!(start_p50(&s, "spin-shim", "after_pull"), Some(1300.0));
        assert_eq!(start_p50(&s, "axum-container", "cached"), None);
        let md = container_shape(&crate::report::Ctx::new(&s)).md;
        assert!(md.contains("| `spin-shim` | cached (as on a node that ran it before) | 3 | 462"));
        assert!(md.contains("Source: `containers.json`"));
        let none = summary(json!({"stacks": {"axum": {}}}));
        assert!(container_shape(&crate::report::Ctx::new(&none))
            .md
            .contains("Not measured"));
    }
}
