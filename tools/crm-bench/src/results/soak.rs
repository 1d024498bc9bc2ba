//! The soak (local runs with `--soak`, `soak/<label>.json`): each stack alone under a steady
//! open-loop load of half its gateway's read capacity for minutes, sampled once per interval
//! (RSS and PSS of its processes, their open descriptors, its Postgres connections, the
//! interval's p99), with a least-squares slope per series and a flag on growth. A raw file is
//! `crm_harness::soak::SoakReport::figures()` plus the rate, the capacity it is half of, the
//! duration and the interval; summary.json carries them under `soak`, by stack.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::results::model::NullableMap;

/// The series a soak fits a slope to, in the order the report gives them.
pub const SERIES: [&str; 5] = [
    "rss_bytes",
    "pss_bytes",
    "open_fds",
    "pg_connections",
    "p99_ms",
];

/// Every stack's soak (summary.json `soak`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct Soak {
    /// By stack label; null: its raw file could not be read (see `problems`).
    pub stacks: NullableMap<SoakRun>,
}

/// One stack's soak (`soak/<label>.json`).
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct SoakRun {
    /// The stack label.
    pub stack: Option<String>,
    /// The raw file, relative to the results folder (set by collect).
    pub file: Option<String>,
    /// What the load requests: `GET /customers/{id}` of seeded ids, through the gateway.
    pub route: Option<String>,
    /// The offered rate, requests per second, open loop: half of `capacity_rps`.
    pub rate_rps: Option<f64>,
    /// The gateway's read capacity the rate is half of (wrk), requests per second.
    pub capacity_rps: Option<f64>,
    /// Where `capacity_rps` comes from: this run's capacity step (the median of its samples)
    /// or a wrk run of the soak step itself.
    pub capacity_source: Option<String>,
    /// How long the load ran, and one sample per `interval_s`.
    pub duration_s: Option<f64>,
    pub interval_s: Option<f64>,
    /// One per interval, in order.
    pub samples: Vec<SoakSample>,
    /// By series ([`SERIES`]): the least-squares line through its samples (a series with
    /// fewer than three samples has none).
    pub slopes_per_minute: NullableMap<SoakSlope>,
    /// Some series grows.
    pub growth: Option<bool>,
    /// Every process tree of the stack still alive at the end.
    pub alive: Option<bool>,
    /// The answers that were not 2xx, by kind (`503 overloaded`, `no answer (timeout)` …).
    pub errors: BTreeMap<String, u64>,
}

/// One interval of a soak.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct SoakSample {
    /// Seconds since the soak began, at the end of the interval.
    pub t_s: Option<f64>,
    /// RSS summed over every process of the stack and their descendants.
    pub rss_bytes: Option<f64>,
    /// PSS likewise (null where smaps_rollup cannot be read).
    pub pss_bytes: Option<f64>,
    /// Open file descriptors of those processes.
    pub open_fds: Option<f64>,
    /// Sessions on the stack's database (pg_stat_activity), the asking one aside.
    pub pg_connections: Option<f64>,
    /// p99 of the interval's 2xx answers, ms.
    pub p99_ms: Option<f64>,
    /// Answers in the interval, and those that were not 2xx (or no answer).
    pub requests: Option<f64>,
    pub errors: Option<f64>,
    /// Whether the generator offered the interval's rate in full.
    pub offered_in_full: Option<bool>,
}

/// A series' fitted line over the soak.
#[derive(Debug, Default, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(default)]
pub struct SoakSlope {
    /// Units of the series per minute.
    pub per_minute: Option<f64>,
    /// The first and the last sample.
    pub first: Option<f64>,
    pub last: Option<f64>,
    /// The line rises over the run by more than 10 % of the first value and more than the
    /// series' noise floor (4 MiB of memory, 8 descriptors, 4 connections, 20 ms of p99).
    pub grows: Option<bool>,
}

impl SoakSample {
    /// The value of `series` ([`SERIES`]).
    pub fn value(&self, series: &str) -> Option<f64> {
        match series {
            "rss_bytes" => self.rss_bytes,
            "pss_bytes" => self.pss_bytes,
            "open_fds" => self.open_fds,
            "pg_connections" => self.pg_connections,
            "p99_ms" => self.p99_ms,
            _ => None,
        }
    }
}

impl SoakRun {
    /// `series` over the samples, in order.
    pub fn series(&self, series: &str) -> Vec<Option<f64>> {
        self.samples.iter().map(|s| s.value(series)).collect()
    }

    pub fn slope(&self, series: &str) -> Option<&SoakSlope> {
        self.slopes_per_minute.get(series)?.as_ref()
    }

    /// The series flagged as growing, in [`SERIES`] order.
    pub fn growing(&self) -> Vec<&'static str> {
        SERIES
            .into_iter()
            .filter(|s| self.slope(s).and_then(|s| s.grows) == Some(true))
            .collect()
    }

    /// Answers over the whole soak, and those that were not 2xx.
    pub fn requests(&self) -> Option<f64> {
        sum(self.samples.iter().map(|s| s.requests))
    }

    pub fn failed(&self) -> Option<f64> {
        sum(self.samples.iter().map(|s| s.errors))
    }

    /// Minutes from the first sample to the last.
    pub fn minutes(&self) -> Option<f64> {
        let first = self.samples.first()?.t_s?;
        let last = self.samples.last()?.t_s?;
        Some((last - first) / 60.0)
    }
}

fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.fold(None, |acc, v| match (acc, v) {
        (None, v) => v,
        (Some(a), Some(v)) => Some(a + v),
        (a, None) => a,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raw_file_reads_into_samples_and_slopes() {
        let run: SoakRun = serde_json::from_value(json!({
            "stack": "spin", "rate_rps": 250.0, "duration_s": 30, "interval_s": 10,
            "samples": [
                {"t_s": 10.0, "rss_bytes": 1000, "requests": 2500, "errors": 1, "p99_ms": 3.5},
                {"t_s": 20.0, "rss_bytes": 2000, "requests": 2500, "errors": 0, "p99_ms": null},
                {"t_s": 30.0, "rss_bytes": 3000, "requests": 2499, "errors": 0, "p99_ms": 4.0}
            ],
            "slopes_per_minute": {
                "rss_bytes": {"per_minute": 6000.0, "first": 1000, "last": 3000, "grows": true},
                "open_fds": {"per_minute": 0.0, "first": 40, "last": 40, "grows": false}
            },
            "growth": true, "alive": true, "errors": {"503 overloaded": 1},
            "a field from a newer writer": 1
        }))
        .unwrap();
        assert_eq!(
            run.series("rss_bytes"),
            [Some(1000.0), Some(2000.0), Some(3000.0)]
        );
        assert_eq!(run.series("p99_ms"), [Some(3.5), None, Some(4.0)]);
        assert_eq!(run.growing(), ["rss_bytes"]);
        assert_eq!(run.requests(), Some(7499.0));
        assert_eq!(run.failed(), Some(1.0));
        assert_eq!(run.minutes(), Some(20.0 / 60.0));
        assert!(run.slope("pss_bytes").is_none());
        assert!(SoakRun::default().requests().is_none());
    }
}
