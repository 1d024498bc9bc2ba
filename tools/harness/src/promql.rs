//! The metric names a Grafana dashboard's PromQL queries use, so a test can check that each one
//! really exists: the Axum ones against a real scrape (tests/reliability `metrics.rs`), the
//! cluster ones (cAdvisor, kube-state-metrics) against [`PINNED_CLUSTER_METRICS`].

use anyhow::{bail, Context, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The dashboard of `setup-all.sh --observability`, relative to the repository root.
pub const DASHBOARD: &str = "k8s/observability/dashboards/crm.json";

/// The series the dashboard may take from the cluster rather than from our services, each as
/// the pinned versions export it: cAdvisor as built into the kubelet of Kubernetes 1.27.8 (the
/// k3d image's k3s v1.27.8-k3s2), kube-state-metrics v2.10.1 (k8s/observability). A name
/// added here must be checked against those versions' documentation first.
pub const PINNED_CLUSTER_METRICS: &[&str] = &[
    // cAdvisor (kubelet /metrics/cadvisor)
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
    // kube-state-metrics v2.10.1: docs/deployment-metrics.md, docs/horizontalpodautoscaler-metrics.md
    "kube_deployment_status_replicas_ready",
    "kube_deployment_spec_replicas",
    "kube_horizontalpodautoscaler_status_desired_replicas",
    "kube_horizontalpodautoscaler_status_current_replicas",
];

/// PromQL words that are not metric names when they stand alone (functions and aggregations
/// are recognised by the parenthesis that follows them).
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "inf",
    "nan",
];

/// Clauses whose parenthesised list holds label names, not expressions.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Every metric name in one PromQL expression: the identifiers outside label matchers
/// (`{…}`), ranges (`[…]`), strings and label lists (`by (…)`) that are not a function call
/// nor a keyword.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut previous_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c == '{' || c == '[' {
            i = skip_until(&chars, i, if c == '{' { '}' } else { ']' });
            continue;
        } else if c == '"' || c == '\'' || c == '`' {
            i = skip_until(&chars, i, c);
            continue;
        } else if c == '(' && LABEL_LISTS.contains(&previous_word.as_str()) {
            i = skip_until(&chars, i, ')');
            previous_word.clear();
            continue;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // A call, or an aggregation whose `by`/`without` clause comes before its argument.
            let rest: String = chars[i..].iter().collect();
            let rest = rest.trim_start();
            let is_call = rest.starts_with('(')
                || ["by", "without"].iter().any(|kw| {
                    rest.strip_prefix(kw)
                        .is_some_and(|after| after.trim_start().starts_with('('))
                });
            if !is_call && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                names.insert(word.clone());
            }
            previous_word = word;
            continue;
        } else if c.is_ascii_digit() || c == '.' {
            // A number (0.95, 1e3): its letters are not a name.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        } else if !c.is_whitespace() {
            previous_word.clear();
        }
        i += 1;
    }
    names
}

/// The index just past the `close` that ends the block opened at `open` (strings inside a
/// matcher may hold the closing character).
fn skip_until(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        match (quote, chars[i]) {
            (Some(_), '\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c) if c == close => return i + 1,
            (None, '"' | '\'' | '`') if chars[open] != chars[i] => quote = Some(chars[i]),
            _ => {}
        }
        i += 1;
    }
    chars.len()
}

/// Every metric name the dashboard's queries use, with the titles of the panels that use it.
/// Fails on a panel query without an expression or an expression without a metric.
pub fn dashboard_metrics(dashboard_json: &str) -> Result<BTreeMap<String, Vec<String>>> {
    let dashboard: serde_json::Value =
        serde_json::from_str(dashboard_json).context("the dashboard is not JSON")?;
    let mut panels = Vec::new();
    collect_panels(&dashboard, &mut panels);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("(untitled)").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let Some(expr) = target["expr"].as_str() else {
                bail!("panel {title:?}: a query without a PromQL expr");
            };
            let names = metric_names(expr);
            if names.is_empty() {
                bail!("panel {title:?}: no metric in {expr:?}");
            }
            for name in names {
                out.entry(name).or_default().push(title.clone());
            }
        }
    }
    Ok(out)
}

/// The dashboard's panels, rows' nested panels included.
fn collect_panels<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    for panel in value["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        collect_panels(panel, out);
    }
}

/// The names the dashboard uses that are not pinned cluster metrics: the ones our own services
/// must export.
pub fn service_metrics(dashboard_json: &str) -> Result<BTreeSet<String>> {
    Ok(dashboard_metrics(dashboard_json)?
        .into_keys()
        .filter(|name| !PINNED_CLUSTER_METRICS.contains(&name.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn names_outside_matchers_ranges_and_label_lists() {
        assert_eq!(
            names(
                r#"histogram_quantile(0.95, sum by (le, service) (rate(http_request_duration_seconds_bucket{namespace="containers", route=~"/a{b}"}[$__rate_interval])))"#
            ),
            ["http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            names("sum without (pod) (a_total) / on (service) group_left (x) b:ratio offset 5m > bool 1e3"),
            ["a_total", "b:ratio"]
        );
        assert_eq!(names("vector(1)"), Vec::<String>::new());
    }

    #[test]
    fn a_query_without_a_metric_is_refused() {
        let json = r#"{"panels": [{"title": "t", "targets": [{"expr": "vector(1)"}]}]}"#;
        assert!(dashboard_metrics(json).is_err());
    }

    #[test]
    fn nested_panels_and_their_titles() {
        let json = r#"{"panels": [{"title": "row", "panels": [
            {"title": "cpu", "targets": [{"expr": "rate(container_cpu_usage_seconds_total[1m])"}]},
            {"title": "rps", "targets": [{"expr": "rate(http_requests_total[1m])"}]}]}]}"#;
        let found = dashboard_metrics(json).unwrap();
        assert_eq!(found["http_requests_total"], ["rps"]);
        assert_eq!(
            service_metrics(json)
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            ["http_requests_total"]
        );
    }

    /// The project's dashboard: every query names a metric, both namespaces are shown, and
    /// the series it takes from the cluster are all pinned ones; its own services' series are
    /// checked against a real scrape by tests/reliability (metrics.rs).
    #[test]
    fn the_project_dashboard_uses_known_metrics() {
        let path = format!("{}/../../{DASHBOARD}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(path).expect("the dashboard");
        let found = dashboard_metrics(&text).unwrap();
        for name in found.keys() {
            let pinned = PINNED_CLUSTER_METRICS.contains(&name.as_str());
            let ours = ["http_", "db_pool_", "upstream_"]
                .iter()
                .any(|p| name.starts_with(p));
            assert!(
                pinned || ours,
                "{name}: neither a pinned cluster metric nor an Axum one"
            );
        }
        for ns in ["namespace=\\\"containers\\\"", "namespace=\\\"wasm\\\""] {
            assert!(text.contains(ns), "the dashboard shows {ns}");
        }
    }
}
