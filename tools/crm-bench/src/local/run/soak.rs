//! The soak step (`--soak 10m`, `SOAK`): each stack column started on its own after the
//! samples, under a steady open-loop load of half its gateway's read capacity (wrk, this run's
//! capacity step; measured here when that step measured none) for the soak's duration,
//! sampled once per `--soak-interval` by `crm_harness::soak` — RSS and PSS of its processes,
//! their open descriptors, its Postgres connections, the interval's p99 — then stopped. The
//! slopes and growth flags are the harness's; the raw file is `soak/<label>.json`
//! (results/soak.rs).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use crm_harness::soak::{soak, SoakReport, SoakSpec};
use crm_harness::wrk::Route;
use serde_json::json;

use super::running::Running;
use super::Run;
use crate::results::collect::{write_json, SOAK_DIR};
use crate::results::label::Label;

/// The seeded customers the load reads (ids 1..=this, as the floor test and the ladder do).
const SOAK_IDS: u32 = 100;

/// The settings' line in environment.json (`soak`): what was planned, or "off".
pub(super) fn setting(soak: Option<Duration>, interval: Duration) -> String {
    match soak {
        None => "off".into(),
        Some(d) => format!(
            "{} s per stack at half of its gateway's read capacity, a sample every {} s",
            d.as_secs(),
            interval.as_secs()
        ),
    }
}

impl Run {
    /// The Soak step: the stack started, soaked, stopped (whatever the outcome); its file
    /// written.
    pub(super) async fn soak(&mut self, label: Label) -> Result<()> {
        let duration = self.settings.soak.context("no --soak duration")?;
        let interval = self.settings.soak_interval;
        let db = self.database_of(label)?;
        let stack = Running::start(label, &db, self.spin.as_deref()).await?;
        let url = stack.gateway_url();
        self.say(label, "up", &format!("gateway {url}, for the soak"));
        let pids = stack.pids();
        // Held where Stop and the end of the run find it.
        self.running = Some(stack);
        let outcome = self
            .soak_stack(label, &db, &url, pids, duration, interval)
            .await;
        if let Some(mut stack) = self.running.take() {
            stack.stop(Duration::from_secs(5));
            self.say(label, "stopped", "every process of the stack");
        }
        outcome
    }

    /// The gateway's read capacity: the median of this run's capacity samples, else one wrk
    /// run now. With where it came from.
    async fn soak_capacity(
        &mut self,
        label: Label,
        url: &str,
        pids: &[(String, i32)],
    ) -> Result<(f64, String)> {
        let target = format!("{}-gateway", label.as_str());
        let measured = self.gateway_read_capacities(label);
        if let Some(median) = crate::results::samples::median(&measured) {
            let source = format!(
                "this run's capacity step (wrk, {}{})",
                if measured.len() > 1 {
                    format!("the median of {} samples", measured.len())
                } else {
                    "one sample".to_string()
                },
                if self.settings.samples as usize > measured.len() {
                    ", the others failed"
                } else {
                    ""
                }
            );
            return Ok((median, source));
        }
        self.progress.say(&format!(
            "{target}: no read capacity measured in this run; measuring it for the soak"
        ));
        let ids = self.settings.seed_customers.min(1000);
        let rps = self
            .capacity_of(
                &target,
                label.as_str(),
                url,
                Route::Read { ids },
                pids.to_vec(),
            )
            .await?;
        Ok((
            rps,
            "wrk, measured by the soak step (the capacity step measured none)".into(),
        ))
    }

    async fn soak_stack(
        &mut self,
        label: Label,
        db: &str,
        url: &str,
        pids: Vec<(String, i32)>,
        duration: Duration,
        interval: Duration,
    ) -> Result<()> {
        let (capacity, capacity_source) = self.soak_capacity(label, url, &pids).await?;
        if !capacity.is_finite() || capacity < 2.0 {
            bail!(
                "the gateway's read capacity is {capacity:.1} req/s: nothing to soak at half of it"
            );
        }
        let rate = capacity / 2.0;
        let ids = self.settings.seed_customers.min(SOAK_IDS);
        let route =
            format!("GET /customers/{{id}} of the seeded ids 1..{ids}, through the gateway");
        let database = reqwest::Url::parse(db)
            .ok()
            .map(|u| u.path().trim_start_matches('/').to_string())
            .filter(|d| !d.is_empty())
            .with_context(|| {
                format!("no database name in {}", crm_harness::pg::hide_password(db))
            })?;
        let spec = SoakSpec {
            urls: (1..=ids)
                .map(|id| format!("{url}/customers/{id}"))
                .collect(),
            pids,
            pg_admin_url: self.server.admin_url().to_string(),
            database,
            rate,
            duration,
            interval,
        };
        self.say(
            label,
            "soak",
            &format!(
                "{rate:.0} req/s open-loop (half of the gateway's read capacity {capacity:.0} \
                 req/s, {capacity_source}) for {} s, a sample every {} s; {route}",
                duration.as_secs(),
                interval.as_secs_f64()
            ),
        );
        let what = format!("soak at {rate:.0} req/s");
        let running = soak(&spec);
        tokio::pin!(running);
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let report = loop {
            tokio::select! {
                report = &mut running => break report?,
                _ = ticker.tick() => self.progress.tick(&what),
            }
        };
        let mut figures = report.figures();
        figures["stack"] = json!(label.as_str());
        figures["route"] = json!(route);
        figures["rate_rps"] = json!(round(rate));
        figures["capacity_rps"] = json!(round(capacity));
        figures["capacity_source"] = json!(capacity_source);
        figures["duration_s"] = json!(duration.as_secs_f64());
        figures["interval_s"] = json!(interval.as_secs_f64());
        let dir = self.out.join(SOAK_DIR);
        std::fs::create_dir_all(&dir)?;
        write_json(&dir.join(format!("{}.json", label.as_str())), &figures)
            .map_err(anyhow::Error::msg)?;
        self.say(label, "soak", &headline(&report));
        if !report.alive {
            bail!("a process of the stack was gone at the end of the soak");
        }
        Ok(())
    }

    /// Every sample's gateway read capacity of this run (wrk), in sample order.
    fn gateway_read_capacities(&self, label: Label) -> Vec<f64> {
        let target = format!("{}-gateway", label.as_str());
        self.budget
            .capacity_points()
            .iter()
            .filter(|p| p.target.as_deref() == Some(&target) && p.route.as_deref() == Some("read"))
            .filter_map(|p| p.throughput_rps)
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect()
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// "12 samples, 5400 requests, 0 errors; rss 61.2 → 63.0 MiB (+0.18 MiB/min), … growth: none".
fn headline(report: &SoakReport) -> String {
    let requests: u64 = report.samples.iter().map(|s| s.requests).sum();
    let mut parts = Vec::new();
    for slope in &report.slopes {
        let (first, last, per_minute) = match slope.series {
            "rss_bytes" | "pss_bytes" => (
                format!("{:.1}", slope.first / 1048576.0),
                format!("{:.1} MiB", slope.last / 1048576.0),
                format!("{:+.2} MiB/min", slope.per_minute / 1048576.0),
            ),
            "p99_ms" => (
                format!("{:.1}", slope.first),
                format!("{:.1} ms", slope.last),
                format!("{:+.2} ms/min", slope.per_minute),
            ),
            _ => (
                format!("{:.0}", slope.first),
                format!("{:.0}", slope.last),
                format!("{:+.2}/min", slope.per_minute),
            ),
        };
        let name = slope
            .series
            .trim_end_matches("_bytes")
            .trim_end_matches("_ms");
        let grows = if slope.grows { ", GROWS" } else { "" };
        parts.push(format!("{name} {first} → {last} ({per_minute}{grows})"));
    }
    let growing: Vec<&str> = report
        .slopes
        .iter()
        .filter(|s| s.grows)
        .map(|s| s.series)
        .collect();
    format!(
        "{} samples, {requests} requests, {} errors; {}; growth: {}{}",
        report.samples.len(),
        report.errors(),
        parts.join(", "),
        if growing.is_empty() {
            "none".to_string()
        } else {
            growing.join(", ")
        },
        if report.alive {
            ""
        } else {
            "; a process was gone at the end"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::soak::SoakRun;
    use crm_harness::soak::{slopes, SoakSample};

    /// What the step writes (the harness's figures and the run's additions) is what collect
    /// and the report read.
    #[test]
    fn the_harness_figures_read_as_the_results_type() {
        let samples: Vec<SoakSample> = (1u32..=4)
            .map(|i| SoakSample {
                t_s: 10.0 * f64::from(i),
                rss_bytes: Some(40 * 1048576 + u64::from(i) * 8 * 1048576),
                pss_bytes: None,
                open_fds: Some(70),
                pg_connections: Some(5),
                p99_ms: Some(2.5),
                requests: 1000,
                errors: u64::from(i == 2),
                offered_in_full: true,
            })
            .collect();
        let slopes = slopes(&samples);
        let report = SoakReport {
            growth: slopes.iter().any(|s| s.grows),
            slopes,
            samples,
            alive: true,
            error_kinds: [("503 overloaded".to_string(), 1)].into(),
        };
        let mut figures = report.figures();
        figures["rate_rps"] = json!(450.0);
        figures["duration_s"] = json!(40.0);
        let run: SoakRun = serde_json::from_value(figures).unwrap();
        assert_eq!(run.samples.len(), 4);
        assert_eq!(run.rate_rps, Some(450.0));
        assert_eq!(run.growing(), ["rss_bytes"]);
        assert_eq!(run.slope("open_fds").and_then(|s| s.per_minute), Some(0.0));
        assert_eq!(run.requests(), Some(4000.0));
        assert_eq!(run.failed(), Some(1.0));
        assert_eq!(run.errors["503 overloaded"], 1);
        assert_eq!(run.alive, Some(true));
        let line = headline(&report);
        assert!(
            line.starts_with(
                "4 samples, 4000 requests, 1 errors; rss 48.0 → 72.0 MiB (+48.00 MiB/min, GROWS)"
            ),
            "{line}"
        );
        assert!(line.ends_with("growth: rss_bytes"), "{line}");
    }

    #[test]
    fn the_setting_says_what_was_planned() {
        let interval = Duration::from_secs(60);
        assert_eq!(setting(None, interval), "off");
        assert!(setting(Some(Duration::from_secs(600)), interval).starts_with("600 s per stack"));
    }
}
