//! The soak: a running stack under a steady open-loop load (half its capacity, say) for a long
//! time, sampled once per interval — memory (RSS and PSS of every process tree), open file
//! descriptors, the stack's Postgres connections, and the p99 of that interval's answers —
//! then a least-squares slope per series and a flag when one grows. A leak shows as a slope
//! that does not level off; a stack that only warms up (pools filling, allocator arenas)
//! grows early and then stays flat.
//!
//! One function, [`soak`], for every caller: the reliability suite's 20-second test in CI
//! (`tests/reliability/tests/soak.rs`; `CRM_SOAK_SECS` lengthens it) and a benchmark run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::{Connection, PgConnection};

use crate::overload::{open_loop, quantile_ms, OpenLoopReport};
use crate::procfs::{memory_of, open_fds};

/// What to soak.
#[derive(Clone, Debug)]
pub struct SoakSpec {
    /// The URLs the load GETs in turn (through the gateway).
    pub urls: Vec<String>,
    /// `(name, pid)` of each process tree of the stack.
    pub pids: Vec<(String, i32)>,
    /// A Postgres URL that may read `pg_stat_activity` (the admin one).
    pub pg_admin_url: String,
    /// The stack's database: its connections are the ones counted.
    pub database: String,
    /// Requests per second, open loop.
    pub rate: f64,
    pub duration: Duration,
    /// One sample per interval (the load runs throughout).
    pub interval: Duration,
}

/// One interval.
#[derive(Clone, Debug, PartialEq)]
pub struct SoakSample {
    /// Seconds since the start, at the end of the interval.
    pub t_s: f64,
    pub rss_bytes: Option<u64>,
    pub pss_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub pg_connections: Option<i64>,
    /// Of the interval's 2xx answers.
    pub p99_ms: Option<f64>,
    pub requests: u64,
    /// Answers that were not 2xx (or no answer) in the interval.
    pub errors: u64,
    /// Whether the generator offered the interval's rate in full.
    pub offered_in_full: bool,
}

/// The series a soak fits a slope to.
pub const SERIES: [&str; 5] = [
    "rss_bytes",
    "pss_bytes",
    "open_fds",
    "pg_connections",
    "p99_ms",
];

/// A series' fit over the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Slope {
    pub series: &'static str,
    /// Units of the series per minute.
    pub per_minute: f64,
    pub first: f64,
    pub last: f64,
    /// Whether it counts as growth (see [`grows`]).
    pub grows: bool,
}

/// What a soak found.
#[derive(Clone, Debug, Default)]
pub struct SoakReport {
    pub samples: Vec<SoakSample>,
    pub slopes: Vec<Slope>,
    /// Some series grows.
    pub growth: bool,
    /// Every process tree still alive at the end.
    pub alive: bool,
    /// The answers that were not 2xx, by kind (`503 overloaded`, `no answer (timeout)` …).
    pub error_kinds: BTreeMap<String, u64>,
}

impl SoakReport {
    pub fn figures(&self) -> serde_json::Value {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        serde_json::json!({
            "samples": self.samples.iter().map(|s| serde_json::json!({
                "t_s": round(s.t_s), "rss_bytes": s.rss_bytes, "pss_bytes": s.pss_bytes,
                "open_fds": s.open_fds, "pg_connections": s.pg_connections,
                "p99_ms": s.p99_ms.map(round), "requests": s.requests, "errors": s.errors,
                "offered_in_full": s.offered_in_full,
            })).collect::<Vec<_>>(),
            "slopes_per_minute": self.slopes.iter().map(|s| (s.series.to_string(), serde_json::json!({
                "per_minute": round(s.per_minute), "first": round(s.first), "last": round(s.last),
                "grows": s.grows,
            }))).collect::<serde_json::Map<_, _>>(),
            "growth": self.growth,
            "alive": self.alive,
            "errors": self.error_kinds,
        })
    }

    /// Every answer of the run that was not a 2xx.
    pub fn errors(&self) -> u64 {
        self.samples.iter().map(|s| s.errors).sum()
    }
}

/// Runs the load for `spec.duration`, one [`SoakSample`] per `spec.interval`, then fits the
/// slopes. Fails only when Postgres cannot be reached for `pg_stat_activity` at the start.
pub async fn soak(spec: &SoakSpec) -> Result<SoakReport> {
    let http = crate::overload::client(Duration::from_secs(15));
    let mut pg = PgConnection::connect(&spec.pg_admin_url)
        .await
        .context("connecting to Postgres to read pg_stat_activity")?;
    let roots: Vec<i32> = spec.pids.iter().map(|(_, pid)| *pid).collect();
    let start = Instant::now();
    let mut report = SoakReport::default();
    while start.elapsed() + spec.interval / 2 < spec.duration {
        let left = spec.duration.saturating_sub(start.elapsed());
        let window = spec.interval.min(left);
        let run = open_loop(&http, &spec.urls, spec.rate, window, 1024).await;
        for answer in run.answers.iter().filter(|a| !a.is_2xx()) {
            *report.error_kinds.entry(answer.label()).or_default() += 1;
        }
        let memory = memory_of(&roots);
        report.samples.push(SoakSample {
            t_s: start.elapsed().as_secs_f64(),
            rss_bytes: memory.map(|m| m.rss_bytes),
            pss_bytes: memory.and_then(|m| m.pss_bytes),
            open_fds: open_fds(&roots),
            pg_connections: connections(&mut pg, &spec.database).await.ok(),
            p99_ms: success_p99(&run),
            requests: run.answers.len() as u64,
            errors: run.answers.iter().filter(|a| !a.is_2xx()).count() as u64,
            offered_in_full: run.offered_in_full(),
        });
        let last = report.samples.last().expect("just pushed");
        eprintln!(
            "soak: {:>5.0} s  rss {:>7.1} MiB  fds {:>5}  pg {:>3}  p99 {:>7.1} ms  {} requests, {} errors",
            last.t_s,
            last.rss_bytes.unwrap_or(0) as f64 / 1048576.0,
            last.open_fds.map_or("-".into(), |v| v.to_string()),
            last.pg_connections.map_or("-".into(), |v| v.to_string()),
            last.p99_ms.unwrap_or(f64::NAN),
            last.requests,
            last.errors,
        );
    }
    let _ = pg.close().await;
    report.slopes = slopes(&report.samples);
    report.growth = report.slopes.iter().any(|s| s.grows);
    report.alive = memory_of(&roots).is_some();
    Ok(report)
}

fn success_p99(run: &OpenLoopReport) -> Option<f64> {
    let ok = run
        .answers
        .iter()
        .filter(|a| a.is_2xx())
        .map(|a| a.latency)
        .collect();
    quantile_ms(ok, 0.99)
}

/// Connections to `database` (sessions of any user), the asking one aside.
pub async fn connections(pg: &mut PgConnection, database: &str) -> Result<i64> {
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_one(pg)
    .await
    .context("reading pg_stat_activity")?;
    Ok(count)
}

/// The value of `series` in a sample.
fn value(sample: &SoakSample, series: &str) -> Option<f64> {
    match series {
        "rss_bytes" => sample.rss_bytes.map(|v| v as f64),
        "pss_bytes" => sample.pss_bytes.map(|v| v as f64),
        "open_fds" => sample.open_fds.map(|v| v as f64),
        "pg_connections" => sample.pg_connections.map(|v| v as f64),
        "p99_ms" => sample.p99_ms,
        _ => None,
    }
}

/// A least-squares line through every series with at least three points; growth flagged by
/// [`grows`].
pub fn slopes(samples: &[SoakSample]) -> Vec<Slope> {
    SERIES
        .iter()
        .filter_map(|series| {
            let points: Vec<(f64, f64)> = samples
                .iter()
                .filter_map(|s| Some((s.t_s / 60.0, value(s, series)?)))
                .collect();
            if points.len() < 3 {
                return None;
            }
            let per_minute = least_squares_slope(&points);
            let (first, last) = (points[0].1, points[points.len() - 1].1);
            let minutes = points[points.len() - 1].0 - points[0].0;
            Some(Slope {
                series,
                per_minute,
                first,
                last,
                grows: grows(series, per_minute, minutes, first),
            })
        })
        .collect()
}

/// The slope of the least-squares line through `points` (x, y).
pub fn least_squares_slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Growth: the fitted line rises over the run by more than 10 % of the first value and by more
/// than the series' noise floor (4 MiB of memory, 8 descriptors, 4 connections, 20 ms of p99):
/// a warm-up of a few connections or pages is not a leak, a steady climb is.
pub fn grows(series: &str, per_minute: f64, minutes: f64, first: f64) -> bool {
    let rise = per_minute * minutes;
    let floor = match series {
        "rss_bytes" | "pss_bytes" => 4.0 * 1048576.0,
        "open_fds" => 8.0,
        "pg_connections" => 4.0,
        _ => 20.0,
    };
    rise > floor && rise > 0.10 * first.abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, rss_mib: f64, fds: u64) -> SoakSample {
        SoakSample {
            t_s,
            rss_bytes: Some((rss_mib * 1048576.0) as u64),
            pss_bytes: None,
            open_fds: Some(fds),
            pg_connections: Some(5),
            p99_ms: Some(3.0),
            requests: 100,
            errors: 0,
            offered_in_full: true,
        }
    }

    #[test]
    fn a_steady_climb_is_growth_a_flat_line_is_not() {
        let leaking: Vec<SoakSample> = (0..10)
            .map(|i| sample(60.0 * i as f64, 20.0 + 5.0 * i as f64, 30))
            .collect();
        let found = slopes(&leaking);
        let rss = found.iter().find(|s| s.series == "rss_bytes").unwrap();
        assert!((rss.per_minute - 5.0 * 1048576.0).abs() < 1.0);
        assert!(rss.grows);
        let fds = found.iter().find(|s| s.series == "open_fds").unwrap();
        assert_eq!(fds.per_minute, 0.0);
        assert!(!fds.grows);
        assert!(!found.iter().any(|s| s.series == "pss_bytes"));
    }

    #[test]
    fn least_squares_of_a_line_is_its_slope() {
        assert_eq!(
            least_squares_slope(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)]),
            2.0
        );
        assert_eq!(least_squares_slope(&[(1.0, 1.0), (1.0, 3.0)]), 0.0);
    }
}
