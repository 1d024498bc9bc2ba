//! Autoscaling under step load (k3d only, tests/cluster/step-load-test.sh): replicas against
//! the offered load, the time to the first extra ready replica and the rate each ready replica
//! served. Absent from runs without the scenario (local runs): no section at all.

use crate::report::table::Unit;
use crate::report::{other_sources, ChartKind, ChartSpec, Ctx, Section};
use crate::results::model::Stack;
use crate::results::step_load::Step;
use std::fmt::Write;

pub(in crate::report) fn step_load(cx: &Ctx) -> Section {
    let Some(steps) = cx
        .present()
        .find_map(|(_, s)| s.step_load.as_ref())
        .map(|r| &r.steps)
    else {
        return Section::default();
    };
    let offered: Vec<(u32, String)> = steps
        .iter()
        .map(|st| {
            (
                st.step,
                st.offered_rps.map_or("?".into(), |r| format!("{r:.0}")),
            )
        })
        .collect();
    let mut s = Section::titled("Autoscaling under step load (k3d, HPAs on CPU)");
    let mut t = cx.table(&["step (offered req/s)", "figure"]);
    t.push(cx.row(
        &["all", "first extra ready replica after (s)"],
        Unit::Rps,
        |st| st?.step_load.as_ref()?.first_extra_ready_s,
    ));
    for (n, rate) in &offered {
        let key = format!("{n} ({rate})");
        let figure = |label: &str, unit: Unit, pick: fn(&Step) -> Option<f64>| {
            cx.row(&[&key, label], unit, |st| step(st, *n).and_then(pick))
        };
        t.push(figure("achieved (req/s)", Unit::Rps, |x| x.rps));
        t.push(figure("p95 (ms)", Unit::Ms, |x| x.p95_ms));
        t.push(figure(
            "mean ready replicas (all services)",
            Unit::Rps,
            |x| x.mean_ready_replicas,
        ));
        t.push(figure("req/s per ready replica", Unit::Rps, |x| {
            x.rps_per_replica
        }));
    }
    s.md.push_str(&t.to_markdown());
    let _ = writeln!(
        s.md,
        "\nThe stack's three Deployments each had an HPA (CPU 70 % of the 100m request, 1 to 3 \
         replicas, k8s/autoscaling/); k6 offered each step's rate without pause \
         (tests/k6/step-load-test.js) while the ready replicas were sampled every few seconds. \
         The first extra replica counts from the first step's start to the first sample with \
         more ready replicas than before the load: the HPA's 15 s sync period, metrics-server's \
         window, scheduling and readiness are all in it, and the sampling interval bounds its \
         precision. docs/k3d.md explains each figure and its caveats. Source: {}.\n",
        other_sources(&cx.labels, "step-load.json")
    );
    s.chart(ChartSpec {
        file: "step-load-replicas.svg".into(),
        title: "Ready replicas (all services) vs offered load".into(),
        x_label: "offered requests/s (one step each)".into(),
        y_label: "mean ready replicas".into(),
        categories: offered.iter().map(|(_, r)| r.clone()).collect(),
        series: cx.series(|st| per_step(st, &offered, |x| x.mean_ready_replicas)),
        kind: ChartKind::Lines,
    });
    s.chart(ChartSpec {
        file: "step-load-rps-per-replica.svg".into(),
        title: "Requests/s per ready replica vs offered load".into(),
        x_label: "offered requests/s (one step each)".into(),
        y_label: "req/s per ready replica".into(),
        categories: offered.iter().map(|(_, r)| r.clone()).collect(),
        series: cx.series(|st| per_step(st, &offered, |x| x.rps_per_replica)),
        kind: ChartKind::Lines,
    });
    s
}

fn step(stack: Option<&Stack>, n: u32) -> Option<&Step> {
    stack?
        .step_load
        .as_ref()?
        .steps
        .iter()
        .find(|x| x.step == n)
}

fn per_step(
    stack: Option<&Stack>,
    steps: &[(u32, String)],
    pick: fn(&Step) -> Option<f64>,
) -> Vec<Option<f64>> {
    steps
        .iter()
        .map(|(n, _)| step(stack, *n).and_then(pick))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::summary;
    use serde_json::json;

    #[test]
    fn replicas_against_load_for_each_stack() {
        let measured = |replicas: f64| {
            json!({"first_extra_ready_s": 31.0, "steps": [
                {"step": 1, "offered_rps": 5, "rps": 5.0, "mean_ready_replicas": 3.0, "rps_per_replica": 5.0 / 3.0},
                {"step": 2, "offered_rps": 50, "rps": 49.0, "mean_ready_replicas": replicas, "rps_per_replica": 49.0 / replicas}
            ]})
        };
        let sm = summary(json!({"stacks": {
            "axum": {"step_load": measured(5.0)},
            "spin": {"step_load": measured(4.0)}
        }}));
        let cx = Ctx::new(&sm);
        let s = step_load(&cx);
        assert!(s.md.contains("2 (50)"), "{}", s.md);
        assert!(s.md.contains("charts/step-load-replicas.svg"));
        let chart = &s.charts[0];
        assert_eq!(chart.categories, ["5", "50"]);
        assert_eq!(chart.series[1].values, [Some(3.0), Some(4.0)]);
    }

    #[test]
    fn no_section_without_the_scenario() {
        let sm = summary(json!({"stacks": {"axum": {}}}));
        assert!(step_load(&Ctx::new(&sm)).md.is_empty());
    }
}
