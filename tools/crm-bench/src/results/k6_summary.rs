//! k6's handleSummary data (what the scripts in tests/k6/ write to SUMMARY_JSON) read into the
//! results model: the whole run, each scenario, the Server-Timing trends, failed thresholds.

use crate::results::model::{Figures, K6Result, Stats};
use serde_json::{Map, Value};

/// Server-Timing entries the k6 scripts record as Trends (tests/k6/lib/server-timing.js).
pub const ST_TRENDS: [&str; 7] = [
    "st_conn",
    "st_query",
    "st_ser",
    "st_total",
    "st_verify",
    "st_gw",
    "st_compute",
];

/// A k6 summary -> our figures. `file` is recorded as where the summary came from.
///
/// Throughput: per scenario, requests / the scenario's configured duration when the script
/// recorded it in data.crm.settings (`duration`, or `level_duration` for the scale test); k6's
/// own `rate` divides by the whole run (setup, gaps and every other scenario included), which
/// would understate sequential scenarios. The overall figure is k6's rate over the whole run.
/// Anything absent from the summary stays `None`, never 0.
pub fn parse_summary(raw: &Value, file: &str) -> K6Result {
    let empty = Map::new();
    let metrics = raw
        .get("metrics")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let crm = raw.get("crm");
    let settings = crm.and_then(|c| c.get("settings"));
    let setting = |key: &str| settings.and_then(|s| s.get(key)).and_then(Value::as_str);
    let run_s = raw
        .pointer("/state/testRunDurationMs")
        .and_then(Value::as_f64)
        .filter(|ms| *ms != 0.0)
        .map(|ms| ms / 1000.0);
    // `or`, as a zero duration is no duration.
    let scenario_s = setting("level_duration")
        .and_then(duration_seconds)
        .filter(|s| *s != 0.0)
        .or_else(|| setting("duration").and_then(duration_seconds))
        .filter(|s| *s != 0.0);

    let overall = block(metrics, None, None).map(|mut f| {
        f.duration_s = run_s;
        f
    });
    let mut result = K6Result {
        file: Some(file.to_string()),
        script: crm.and_then(|c| c.get("script")).and_then(text),
        runtime: crm.and_then(|c| c.get("runtime")).and_then(text),
        overall,
        ..K6Result::default()
    };
    for key in metrics.keys() {
        let Some((_, tag)) = split_metric_name(key) else {
            continue;
        };
        // Only single-tag sub-metrics: "{scenario:x,status:200}" is a finer cut.
        let Some(name) = tag.strip_prefix("scenario:").filter(|_| !tag.contains(',')) else {
            continue;
        };
        if !result.scenarios.contains_key(name) {
            if let Some(figures) = block(metrics, Some(tag), scenario_s) {
                result.scenarios.insert(name.to_string(), Some(figures));
            }
        }
    }
    result.thresholds_failed = failed_thresholds(metrics);
    result
}

/// k6 duration text ("500ms", "30s", "1m30s", "1h") -> seconds; `None` if it is not one.
pub fn duration_seconds(text: &str) -> Option<f64> {
    if text.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = number_prefix(rest)?;
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        // "ms" before "m" and "s".
        let (unit, scale) = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
            .into_iter()
            .find(|(unit, _)| rest.starts_with(unit))?;
        total += value * scale;
        rest = &rest[unit.len()..];
    }
    Some(total)
}

/// Length of the leading `\d+(\.\d+)?` of `s`, if it starts with one.
fn number_prefix(s: &str) -> Option<usize> {
    let digits = |from: usize| s[from..].bytes().take_while(u8::is_ascii_digit).count();
    let int = digits(0);
    if int == 0 {
        return None;
    }
    if s[int..].starts_with('.') {
        let frac = digits(int + 1);
        if frac > 0 {
            return Some(int + 1 + frac);
        }
    }
    Some(int)
}

/// k6 trend values -> our percentile block (ms). A missing statistic stays `None`, never 0.
pub fn trend_stats(values: Option<&Value>) -> Option<Stats> {
    let values = values?.as_object().filter(|v| !v.is_empty())?;
    let get = |k: &str| values.get(k).and_then(Value::as_f64);
    Some(Stats {
        count: get("count"),
        avg: get("avg"),
        p50: get("med"),
        p90: get("p(90)"),
        p95: get("p(95)"),
        p99: get("p(99)"),
        max: get("max"),
    })
}

/// "http_reqs{scenario:ping}" -> ("http_reqs", "scenario:ping"); `None` for a plain name.
fn split_metric_name(key: &str) -> Option<(&str, &str)> {
    let (name, rest) = key.split_once('{')?;
    let tag = rest.strip_suffix('}')?;
    (!name.is_empty()).then_some((name, tag))
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// The figures of one tag set (`None`: the whole run) out of k6's metrics object.
fn block(
    metrics: &Map<String, Value>,
    tag: Option<&str>,
    duration_s: Option<f64>,
) -> Option<Figures> {
    let get = |name: &str| {
        let key = tag.map_or_else(|| name.to_string(), |t| format!("{name}{{{t}}}"));
        metrics
            .get(&key)
            .and_then(|m| m.get("values"))
            .filter(|v| !v.is_null())
    };
    let field = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_f64);
    let (reqs, dur, failed, checks) = (
        get("http_reqs"),
        get("http_req_duration"),
        get("http_req_failed"),
        get("checks"),
    );
    if reqs.is_none() && dur.is_none() && failed.is_none() {
        return None;
    }
    let requests = if reqs.is_some() {
        field(reqs, "count")
    } else {
        field(dur, "count")
    };
    let throughput_rps = match (requests, duration_s) {
        (Some(n), Some(s)) => Some(n / s),
        _ => field(reqs, "rate"),
    };
    let mut figures = Figures {
        requests,
        duration_s,
        throughput_rps,
        latency_ms: trend_stats(dur).map(|s| Stats { count: None, ..s }),
        // http_req_failed is a Rate whose "passes" are failed requests: its rate IS the error rate.
        error_rate: field(failed, "rate"),
        failed_requests: field(failed, "passes"),
        checks_rate: field(checks, "rate"),
        ..Figures::default()
    };
    for st in ST_TRENDS {
        if let Some(stats) = trend_stats(get(st)).filter(|s| s.count.is_some_and(|c| c != 0.0)) {
            figures.server_timing.insert(st.to_string(), Some(stats));
        }
    }
    Some(figures)
}

/// "<metric> <expression>" for every threshold k6 marked not ok, sorted.
fn failed_thresholds(metrics: &Map<String, Value>) -> Vec<String> {
    let mut failed: Vec<String> = metrics
        .iter()
        .filter_map(|(name, m)| Some((name, m.get("thresholds")?.as_object()?)))
        .flat_map(|(name, thresholds)| {
            thresholds
                .iter()
                .filter(|(_, res)| res.get("ok").and_then(Value::as_bool) == Some(false))
                .map(move |(expr, _)| format!("{name} {expr}"))
        })
        .collect();
    failed.sort();
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn durations_in_k6_syntax() {
        assert_eq!(duration_seconds("500ms"), Some(0.5));
        assert_eq!(duration_seconds("30s"), Some(30.0));
        assert_eq!(duration_seconds("1m30s"), Some(90.0));
        assert_eq!(duration_seconds("1h"), Some(3600.0));
        assert_eq!(duration_seconds("1.5s"), Some(1.5));
        for bad in ["", "3x", "30", "s", "1.s", "1m x", " 1s"] {
            assert_eq!(duration_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn trend_without_values_is_none_and_missing_statistics_stay_none() {
        assert!(trend_stats(None).is_none());
        assert!(trend_stats(Some(&serde_json::json!({}))).is_none());
        let s = trend_stats(Some(&serde_json::json!({"med": 2.0, "p(95)": 5.0}))).unwrap();
        assert_eq!(
            (s.p50, s.p95, s.p99, s.count),
            (Some(2.0), Some(5.0), None, None)
        );
    }

    /// A real k6 summary of tests/k6/load-test.js (a short run with failures injected).
    #[test]
    fn load_summary_overall_figures() {
        let r = parse_summary(&fixture("k6-load.json"), "axum/k6-load.json");
        assert_eq!(r.file.as_deref(), Some("axum/k6-load.json"));
        assert_eq!(
            (r.script.as_deref(), r.runtime.as_deref()),
            (Some("load-test"), Some("axum"))
        );
        let o = r.overall.unwrap();
        assert_eq!(o.requests, Some(3765.0));
        // Overall throughput is k6's own rate over the whole run.
        assert_eq!((o.throughput_rps.unwrap() * 10.0).round() / 10.0, 1254.8);
        let lat = o.latency_ms.unwrap();
        assert_eq!(
            (lat.p50, lat.p95, lat.p99, lat.count),
            (
                Some(0.517282),
                Some(4.2125466),
                Some(7.722815520000002),
                None
            )
        );
        assert_eq!((o.error_rate.unwrap() * 1e4).round() / 1e4, 0.1408);
        // Trends with samples are kept, empty ones dropped.
        let trends: Vec<&String> = o.server_timing.keys().collect();
        assert_eq!(trends, ["st_conn", "st_total"]);
    }

    #[test]
    fn load_summary_scenarios_and_thresholds() {
        let r = parse_summary(&fixture("k6-load.json"), "k6-load.json");
        let ping = r.scenarios["ping"].as_ref().unwrap();
        // Over the scenario's configured duration (2s), not k6's whole-run rate.
        assert_eq!(ping.duration_s, Some(2.0));
        assert_eq!((ping.throughput_rps.unwrap() * 10.0).round() / 10.0, 1381.0);
        assert_eq!(ping.st("st_total").unwrap().p95, Some(3.8));
        // A scenario with requests but no duration trend: latency stays null.
        assert!(r.scenarios["mixed"].as_ref().unwrap().latency_ms.is_none());
        assert_eq!(
            r.thresholds_failed,
            ["http_req_failed{scenario:mixed} rate<0.01"]
        );
    }

    #[test]
    fn not_a_summary_gives_empty_figures_not_a_panic() {
        let r = parse_summary(&serde_json::json!([1, 2]), "x.json");
        assert!(r.overall.is_none() && r.scenarios.is_empty() && r.script.is_none());
    }

    /// A real run of tests/k6/scale-test.js (levels 1,4,8 × 3s): each level's throughput is
    /// over its level_duration, not over the whole run.
    #[test]
    fn scale_summary_levels_over_level_duration() {
        let r = parse_summary(
            &fixture("raw-local/axum/k6-scale.json"),
            "axum/k6-scale.json",
        );
        assert_eq!(
            (r.script.as_deref(), r.runtime.as_deref()),
            (Some("scale-test"), Some("axum"))
        );
        let names: Vec<&String> = r.scenarios.keys().collect();
        assert_eq!(names, ["vus_1", "vus_4", "vus_8"]);
        let vus4 = r.scenarios["vus_4"].as_ref().unwrap();
        assert_eq!((vus4.requests, vus4.duration_s), (Some(2593.0), Some(3.0)));
        assert_eq!(vus4.throughput_rps, Some(2593.0 / 3.0));
        assert!(vus4.st("st_total").is_some());
        // The whole run includes the gaps between levels: k6's rate over testRunDurationMs.
        let o = r.overall.unwrap();
        assert!(o.duration_s.unwrap() > 9.0);
    }

    /// A real run of tests/k6/error-test.js: one scenario, and its Server-Timing trends.
    #[test]
    fn error_summary() {
        let r = parse_summary(
            &fixture("raw-local/axum/k6-error.json"),
            "axum/k6-error.json",
        );
        let names: Vec<&String> = r.scenarios.keys().collect();
        assert_eq!(names, ["errors"]);
        let errors = r.scenarios["errors"].as_ref().unwrap();
        let trends: Vec<&String> = errors.server_timing.keys().collect();
        assert_eq!(trends, ["st_conn", "st_gw", "st_query", "st_total"]);
        assert!(r.thresholds_failed.is_empty());
    }
}
