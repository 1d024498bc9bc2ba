//! Repeated measurements: a full local run measures each figure several times, the stacks
//! interleaved (A B A B A B), so that drift over the run hits every stack alike. Sample `r` of a
//! k6 suite is `k6-<test><suffix>.json` for the first and `k6-<test><suffix>.s<r>.json` after.
//! The summary keeps every sample and, as the figure itself, the median of the samples; the
//! report shows the median with the samples' range and calls a ratio whose ranges overlap
//! "no clear difference".

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::results::model::{ComputePoint, K6Result};

/// The file of sample `sample` (1-based) of the suite whose first file is `first`
/// (`…/k6-load.json` → `…/k6-load.s2.json`).
pub fn sample_path(first: &Path, sample: u32) -> PathBuf {
    if sample <= 1 {
        return first.to_path_buf();
    }
    let stem = first
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".json"))
        .unwrap_or_default();
    first.with_file_name(format!("{stem}.s{sample}.json"))
}

/// The further samples written beside `first`, in sample order (2, 3, …; stops at the first
/// number missing).
pub fn further_samples(first: &Path) -> Vec<PathBuf> {
    (2..)
        .map(|r| sample_path(first, r))
        .take_while(|p| p.exists())
        .collect()
}

/// The median of some numbers (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

/// (min, max) of two or more samples; `None` for fewer, or when they all agree (no spread to
/// speak of: a 0 % failure rate in every sample is just 0 %).
pub fn range(values: &[f64]) -> Option<(f64, f64)> {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return None;
    }
    let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (max > min).then_some((min, max))
}

/// Two samples' ranges share a value: the figures cannot be told apart on this evidence.
pub fn overlap(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The half-range as a fraction of the median: the spread of one figure.
pub fn relative_spread(values: &[f64]) -> Option<f64> {
    let (lo, hi) = range(values)?;
    let mid = median(values)?;
    (mid != 0.0).then(|| (hi - lo) / 2.0 / mid.abs())
}

/// Samples of one shape merged into one: each number is the median of the numbers at the same
/// place in every sample (objects by key, arrays by index when the lengths agree); anything
/// else is the first sample's.
pub fn median_value(samples: &[Value]) -> Value {
    let Some(first) = samples.first() else {
        return Value::Null;
    };
    match first {
        Value::Number(_) => {
            let numbers: Vec<f64> = samples.iter().filter_map(Value::as_f64).collect();
            median(&numbers)
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, _)| {
                    let at: Vec<Value> =
                        samples.iter().filter_map(|s| s.get(key).cloned()).collect();
                    (key.clone(), median_value(&at))
                })
                .collect(),
        ),
        Value::Array(items) => {
            let same_length = samples
                .iter()
                .all(|s| s.as_array().is_some_and(|a| a.len() == items.len()));
            if !same_length {
                return first.clone();
            }
            Value::Array(
                (0..items.len())
                    .map(|i| {
                        let at: Vec<Value> = samples.iter().map(|s| s[i].clone()).collect();
                        median_value(&at)
                    })
                    .collect(),
            )
        }
        _ => first.clone(),
    }
}

/// [`median_value`] over typed samples.
fn median_of<T: Serialize + DeserializeOwned + Default>(samples: &[T]) -> T {
    let values: Vec<Value> = samples
        .iter()
        .filter_map(|s| serde_json::to_value(s).ok())
        .collect();
    serde_json::from_value(median_value(&values)).unwrap_or_default()
}

/// One k6 result from the samples of a suite: the medians, the first file's name, every
/// threshold any sample crossed, and the samples themselves. One sample is returned as it is.
pub fn merge_k6(mut samples: Vec<K6Result>) -> K6Result {
    if samples.len() <= 1 {
        return samples.pop().unwrap_or_default();
    }
    let mut merged: K6Result = median_of(&samples);
    merged.file = samples[0].file.clone();
    merged.thresholds_failed = samples
        .iter()
        .flat_map(|s| s.thresholds_failed.iter().cloned())
        .fold(Vec::new(), |mut all, t| {
            if !all.contains(&t) {
                all.push(t);
            }
            all
        });
    merged.samples = samples;
    merged
}

/// One /compute point from its samples, as [`merge_k6`].
pub fn merge_points(mut samples: Vec<ComputePoint>) -> ComputePoint {
    if samples.len() <= 1 {
        return samples.pop().unwrap_or_default();
    }
    let mut merged: ComputePoint = median_of(&samples);
    merged.file = samples[0].file.clone();
    merged.samples = samples;
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::model::{Figures, Stats};
    use serde_json::json;

    #[test]
    fn sample_files_are_numbered_beside_the_first() {
        let first = Path::new("/r/axum/k6-cpu-bound.n10000-15.json");
        assert_eq!(sample_path(first, 1), first);
        assert_eq!(
            sample_path(first, 3),
            Path::new("/r/axum/k6-cpu-bound.n10000-15.s3.json")
        );
    }

    #[test]
    fn medians_ranges_and_overlap() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(range(&[3.0, 1.0, 2.0]), Some((1.0, 3.0)));
        assert_eq!(range(&[3.0]), None);
        assert_eq!(range(&[0.0, 0.0, 0.0]), None);
        assert!(overlap((1.0, 3.0), (2.5, 4.0)));
        assert!(!overlap((1.0, 2.0), (2.5, 4.0)));
        assert_eq!(relative_spread(&[90.0, 100.0, 110.0]), Some(0.1));
    }

    #[test]
    fn values_merge_number_by_number() {
        let merged = median_value(&[
            json!({"a": 1, "b": [1, 10], "s": "x", "c": [1]}),
            json!({"a": 5, "b": [2, 30], "s": "y", "c": [1, 2]}),
            json!({"a": 3, "b": [3, 20], "s": "z", "c": [1]}),
        ]);
        assert_eq!(
            merged,
            json!({"a": 3.0, "b": [2.0, 20.0], "s": "x", "c": [1]})
        );
    }

    fn result(file: &str, rps: f64, p50: f64, failed: &[&str]) -> K6Result {
        let figures = Figures {
            throughput_rps: Some(rps),
            latency_ms: Some(Stats {
                p50: Some(p50),
                ..Stats::default()
            }),
            ..Figures::default()
        };
        K6Result {
            file: Some(file.into()),
            overall: Some(figures.clone()),
            scenarios: [("read".to_string(), Some(figures))].into(),
            thresholds_failed: failed.iter().map(|s| s.to_string()).collect(),
            ..K6Result::default()
        }
    }

    #[test]
    fn k6_samples_merge_into_medians_and_keep_every_sample() {
        let merged = merge_k6(vec![
            result("axum/k6-load.json", 100.0, 3.0, &[]),
            result("axum/k6-load.s2.json", 120.0, 2.0, &["checks rate>0.99"]),
            result("axum/k6-load.s3.json", 90.0, 4.0, &["checks rate>0.99"]),
        ]);
        let read = merged.scenarios["read"].as_ref().unwrap();
        assert_eq!(read.throughput_rps, Some(100.0));
        assert_eq!(read.latency_ms.as_ref().unwrap().p50, Some(3.0));
        assert_eq!(merged.file.as_deref(), Some("axum/k6-load.json"));
        assert_eq!(merged.thresholds_failed, ["checks rate>0.99"]);
        assert_eq!(merged.samples.len(), 3);
        assert!(merged.samples.iter().all(|s| s.samples.is_empty()));
        let one = merge_k6(vec![result("a.json", 1.0, 1.0, &[])]);
        assert!(one.samples.is_empty());
    }
}
