//! Density: N copies of customer-service started at once on one database, in three layouts
//! (N Axum processes; N Spin components under one `spin up`; N `spin up`s of the service
//! manifest), for each N: the time from the first spawn until every copy serves data, and the
//! memory of them all (RSS and PSS), then everything stopped before the next N. Written to
//! `density/density.json` with the memory each extra copy costs. Method and caveats:
//! docs/benchmark.md ("Density").

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crm_harness::pg;
use crm_harness::probe::first_200_after;
use crm_harness::procfs;
use crm_harness::procs::{free_port, Proc};
use crm_harness::stack::{
    spawn_service, spawn_service_with_env, spin_up_on_database, Binaries, Runtime, ServiceConfig,
};

use super::settings::Settings;
use super::{variant, Run};
use crate::results::collect::{write_json, DENSITY_DIR};
use crate::results::model::{Density, DensityLayout, DensityPoint};

/// The signal `spin up` and the Axum services stop on (SIGTERM).
const SIGTERM: i32 = 15;

/// What a copy must answer 200 on to count as up: a read from the database, not a health
/// check. Copy k reads customer k (the seed holds at least as many customers as copies).
fn probe_path(k: u32) -> String {
    format!("/customers/{k}")
}

/// How often each copy is asked while the copies start: a prober per copy, so not as often as
/// the cold-start probe (many probers would take the CPU the copies start on).
const PROBE_INTERVAL: Duration = Duration::from_millis(20);

/// How long N copies may take to serve data before the N counts as failed.
const UP_LIMIT: Duration = Duration::from_secs(120);

/// Customers seeded at least (orders do not matter here).
const SEED_CUSTOMERS: u32 = 100;

/// How the copies run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Axum,
    SpinOneUp,
    SpinNUps,
}

impl Layout {
    const ALL: [Layout; 3] = [Layout::Axum, Layout::SpinOneUp, Layout::SpinNUps];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Axum => "axum",
            Layout::SpinOneUp => "spin-one-up",
            Layout::SpinNUps => "spin-n-ups",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Layout::Axum => {
                "N axum-customer-service processes (release build), each on its own port, \
                 metrics listener off"
            }
            Layout::SpinOneUp => {
                "one `spin up` of a generated manifest holding N customer-service components \
                 (the same .wasm), component k on the exact route /customers/k"
            }
            Layout::SpinNUps => "N `spin up`s of spin-crm/customer-service/spin.toml",
        }
    }

    fn is_spin(self) -> bool {
        self != Layout::Axum
    }
}

/// The plan's entry: its name and estimate in seconds; `None` when no N is asked for.
pub fn plan_entry(settings: &Settings, with_spin: bool) -> Option<(String, u64)> {
    let counts = &settings.density_counts;
    if counts.is_empty() {
        return None;
    }
    let layouts = if with_spin { 3 } else { 1 };
    let per_layout: u64 = counts
        .iter()
        .map(|&n| settle(settings).as_secs() + 2 + u64::from(n) / 4)
        .sum();
    let list = counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let which = if with_spin {
        "axum, spin-one-up, spin-n-ups"
    } else {
        "axum"
    };
    Some((
        format!("density: N = {list} copies of customer-service ({which})"),
        3 + layouts * per_layout,
    ))
}

/// What environment.json records: the N, or "off" (collect then expects no density.json).
pub fn setting(settings: &Settings) -> String {
    if settings.density_counts.is_empty() {
        return "off".into();
    }
    let list: Vec<String> = settings.density_counts.iter().map(u32::to_string).collect();
    format!(
        "{} copies of customer-service per layout; settle {} s",
        list.join(","),
        settle(settings).as_secs()
    )
}

/// The pause between the last copy up and the memory reading: start-up allocations settle.
fn settle(settings: &Settings) -> Duration {
    Duration::from_secs(if settings.quick { 1 } else { 2 })
}

/// N copies running: their processes (stopped when dropped) and the URL each must answer.
struct Copies {
    procs: Vec<Proc>,
    urls: Vec<String>,
}

impl Copies {
    fn pids(&self) -> Vec<i32> {
        self.procs.iter().map(Proc::pid).collect()
    }

    /// Asks every process to stop at once, then waits for each (SIGKILL after the grace).
    fn stop(mut self) {
        for p in &self.procs {
            p.signal(SIGTERM);
        }
        for p in &mut self.procs {
            p.stop(Duration::from_secs(5));
        }
    }

    /// The log tails of the copies that exited, for an error message.
    fn exited(&mut self) -> String {
        self.procs
            .iter_mut()
            .filter_map(|p| {
                (!p.is_running()).then(|| format!("{} exited:\n{}", p.name, p.log_tail(20)))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Run {
    /// The density step: a fresh database, every layout at every N, density.json. A layout
    /// that fails is recorded and the others still run.
    pub(super) async fn density(&mut self) -> Result<()> {
        let dir = self.out.join(DENSITY_DIR);
        std::fs::create_dir_all(&dir)?;
        let counts = self.settings.density_counts.clone();
        let most = counts.iter().copied().max().unwrap_or(1);
        let db = self.server.create_database("crm_bench_density").await?;
        pg::migrate(&db).await?;
        pg::seed(&db, SEED_CUSTOMERS.max(most), SEED_CUSTOMERS).await?;
        let mut result = Density {
            test: Some("density".into()),
            counts: counts.clone(),
            probe_path: Some("/customers/k".into()),
            settle_s: Some(settle(&self.settings).as_secs_f64()),
            ..Density::default()
        };
        for layout in Layout::ALL {
            let measured = if layout.is_spin() && self.spin.is_none() {
                DensityLayout {
                    description: Some(layout.description().into()),
                    error: Some("not measured: no Spin stack in this run (--stacks)".into()),
                    ..DensityLayout::default()
                }
            } else {
                self.density_layout(layout, &counts, &db, &dir).await
            };
            result
                .layouts
                .insert(layout.name().to_string(), Some(measured));
        }
        write_json(&dir.join("density.json"), &result).map_err(anyhow::Error::msg)?;
        self.progress
            .say(&format!("density: {}", headline(&result)));
        let measured = result.layouts.values().flatten().any(|l| {
            l.points
                .iter()
                .any(|p| p.error.is_none() && p.up_ms.is_some())
        });
        if !measured {
            bail!("no layout was measured (above)");
        }
        Ok(())
    }

    /// One layout at every N, smallest first; a failed N is recorded and the next tried.
    async fn density_layout(
        &mut self,
        layout: Layout,
        counts: &[u32],
        db: &str,
        dir: &Path,
    ) -> DensityLayout {
        let settle = settle(&self.settings);
        let mut points = Vec::new();
        for &n in counts {
            self.progress.tick("density");
            let point = match measure(layout, n, db, dir, settle).await {
                Ok(point) => point,
                Err(e) => {
                    let what = format!("density {} N={n}", layout.name());
                    self.progress.say(&format!("FAILED: {what}: {e:#}"));
                    self.failures.push(what);
                    DensityPoint {
                        instances: Some(n),
                        error: Some(format!("{e:#}")),
                        ..DensityPoint::default()
                    }
                }
            };
            points.push(point);
            per_extra(&mut points);
            if let Some(p) = points.last().filter(|p| p.error.is_none()) {
                self.progress.say(&format!(
                    "density {} N={n}: {}",
                    layout.name(),
                    point_line(p)
                ));
            }
        }
        DensityLayout {
            description: Some(layout.description().into()),
            points,
            error: None,
        }
    }
}

/// Starts N copies at once, waits until each serves data, lets them settle, reads their
/// memory, stops them.
async fn measure(
    layout: Layout,
    n: u32,
    db: &str,
    dir: &Path,
    settle: Duration,
) -> Result<DensityPoint> {
    let started = Instant::now();
    let mut copies = match layout {
        Layout::Axum => spawn_axum(n, db)?,
        Layout::SpinOneUp => spawn_spin_one_up(n, db, dir)?,
        Layout::SpinNUps => spawn_spin_n_ups(n, db)?,
    };
    let deadline = started + UP_LIMIT;
    let mut probes = tokio::task::JoinSet::new();
    for url in copies.urls.clone() {
        probes.spawn(async move {
            let (at, _) = first_200_after(&url, started, PROBE_INTERVAL, deadline).await;
            (url, at)
        });
    }
    let mut last = Duration::ZERO;
    let mut never = Vec::new();
    while let Some(joined) = probes.join_next().await {
        match joined.context("a probe task failed")? {
            (_, Some(at)) => last = last.max(at),
            (url, None) => never.push(url),
        }
    }
    if !never.is_empty() {
        let exited = copies.exited();
        copies.stop();
        bail!(
            "{} of {n} never answered 200 within {UP_LIMIT:?} (first: {}){}",
            never.len(),
            never[0],
            if exited.is_empty() {
                String::new()
            } else {
                format!("\n{exited}")
            }
        );
    }
    tokio::time::sleep(settle).await;
    let memory = procfs::memory_of(&copies.pids());
    let exited = copies.exited();
    copies.stop();
    let memory = memory
        .filter(|_| exited.is_empty())
        .with_context(|| format!("a copy exited before its memory was read\n{exited}"))?;
    Ok(DensityPoint {
        instances: Some(n),
        processes: Some(memory.processes),
        up_ms: Some((last.as_secs_f64() * 1e6).round() / 1e3),
        rss_bytes: Some(memory.rss_bytes as f64),
        pss_bytes: memory.pss_bytes.map(|b| b as f64),
        anon_bytes: memory.anon_bytes.map(|b| b as f64),
        ..DensityPoint::default()
    })
}

fn url(port: u16, k: u32) -> String {
    format!("http://127.0.0.1:{port}{}", probe_path(k))
}

/// One copy of customer-service as the harness starts any service, on a free port: the
/// customer service needs no upstream, so its upstream URLs point nowhere.
fn copy_config(runtime: Runtime, db: &str) -> Result<ServiceConfig> {
    ServiceConfig::customer_service_alone(runtime, db)
}

/// N axum-customer-service processes, each on a free port, without the admin listener
/// (`METRICS_ADDR=off`): a copy is the service alone, as the Spin copies are.
fn spawn_axum(n: u32, db: &str) -> Result<Copies> {
    let mut copies = Copies {
        procs: Vec::new(),
        urls: Vec::new(),
    };
    let no_metrics = [("METRICS_ADDR".to_string(), "off".to_string())];
    for k in 1..=n {
        let config = copy_config(Runtime::Axum, db)?;
        let proc = spawn_service_with_env(&config, &format!("density{k}"), &no_metrics)?;
        copies.procs.push(proc);
        copies.urls.push(url(config.port, k));
    }
    Ok(copies)
}

fn service_manifest() -> PathBuf {
    Binaries::current()
        .spin_dir
        .join("customer-service")
        .join("spin.toml")
}

/// N `spin up`s of the service manifest.
fn spawn_spin_n_ups(n: u32, db: &str) -> Result<Copies> {
    let mut copies = Copies {
        procs: Vec::new(),
        urls: Vec::new(),
    };
    for k in 1..=n {
        let config = copy_config(Runtime::Spin, db)?;
        copies
            .procs
            .push(spawn_service(&config, &format!("density{k}"))?);
        copies.urls.push(url(config.port, k));
    }
    Ok(copies)
}

/// One `spin up` of a manifest with N customer-service components, written to
/// `dir/spin-one-up-N.toml`.
fn spawn_spin_one_up(n: u32, db: &str, dir: &Path) -> Result<Copies> {
    let source = service_manifest();
    let text = std::fs::read_to_string(&source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    let wasm_dir = Binaries::current()
        .spin_dir
        .join("target/wasm32-wasip1/release");
    let manifest = dir.join(format!("spin-one-up-{n}.toml"));
    let header = format!(
        "# Written by crm-bench run (density): {n} copies of the component of {}, one \
         exact route each.\n",
        source.display()
    );
    std::fs::write(&manifest, header + &one_up_manifest(&text, n, &wasm_dir)?)
        .with_context(|| format!("cannot write {}", manifest.display()))?;
    let name = "density-spin-one-up";
    let port = free_port()?;
    let mut cmd = spin_up_on_database(manifest, port, name, db)?;
    crm_harness::budget::confine(&mut cmd);
    let proc = Proc::spawn(name, cmd, SIGTERM)?;
    Ok(Copies {
        procs: vec![proc],
        urls: (1..=n).map(|k| url(port, k)).collect(),
    })
}

/// The component id the service manifest gives customer-service.
const COMPONENT: &str = "customer-service";

/// The service manifest with its one component repeated `n` times (ids
/// `customer-service-copy1`…: Spin wants each dash-separated word of an id to start with a
/// letter; the same module from `wasm_dir`, the same variables and outbound
/// hosts), component k on the exact route `/customers/k`. Exact routes, not a prefix per
/// component: the component routes on the request's whole path, so under a route `/c2/...`
/// the request `/c2/customers/2` is its 404 (tried on Spin 3.5.1), while `/customers/2`
/// reaches copy 2 with the path it expects. The application
/// and its variables are kept; comments and the build section are left out.
fn one_up_manifest(service_manifest: &str, n: u32, wasm_dir: &Path) -> Result<String> {
    let own = |header: &str| {
        header == format!("[component.{COMPONENT}]")
            || header.starts_with(&format!("[component.{COMPONENT}.variables"))
    };
    let (mut head, mut component) = (String::new(), String::new());
    let mut section: Option<String> = None;
    for line in service_manifest.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with('[') {
            section = Some(trimmed.to_string());
        }
        match section.as_deref() {
            None | Some("[application]") | Some("[variables]") => {
                head.push_str(line);
                head.push('\n');
            }
            Some(h) if own(h) => {
                let line = line.replacen(&format!("[component.{COMPONENT}"), "[component.@ID@", 1);
                component.push_str(&line);
                component.push('\n');
            }
            Some(_) => {}
        }
    }
    if component.is_empty() {
        bail!("the manifest has no [component.{COMPONENT}]");
    }
    let mut out = head.trim_end().to_string();
    out.push_str("\n\n");
    for k in 1..=n {
        let id = format!("{COMPONENT}-copy{k}");
        out.push_str(&format!(
            "[[trigger.http]]\nroute = \"{}\"\ncomponent = \"{id}\"\n\n",
            probe_path(k)
        ));
        out.push_str(component.trim_end().replace("@ID@", &id).as_str());
        out.push_str("\n\n");
    }
    let out = variant::with_sources_in(&out, wasm_dir);
    let files = variant::component_files(&out)?;
    if files.len() != n as usize {
        bail!(
            "the generated manifest holds {} components, not {n}",
            files.len()
        );
    }
    Ok(out)
}

/// Fills the per-extra-copy figures: (figure(N) − figure(base)) / (N − base), the base being
/// the smallest N measured (normally 1). Points that failed have none, nor does the base.
pub fn per_extra(points: &mut [DensityPoint]) {
    let ok = |p: &DensityPoint| p.error.is_none() && p.instances.is_some();
    let Some(base) = points
        .iter()
        .filter(|p| ok(p))
        .min_by_key(|p| p.instances)
        .cloned()
    else {
        return;
    };
    let b = base.instances.unwrap_or(1);
    for p in points.iter_mut().filter(|p| ok(p)) {
        let n = p.instances.unwrap_or(b);
        let slope = |at: Option<f64>, from: Option<f64>| {
            (n > b)
                .then(|| Some((at? - from?) / f64::from(n - b)))
                .flatten()
        };
        p.rss_per_extra_bytes = slope(p.rss_bytes, base.rss_bytes);
        p.pss_per_extra_bytes = slope(p.pss_bytes, base.pss_bytes);
        p.anon_per_extra_bytes = slope(p.anon_bytes, base.anon_bytes);
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / 1048576.0
}

/// "up in 312 ms; RSS 45.1 MiB, PSS 30.2 MiB; +5.0 MiB PSS per extra copy".
fn point_line(p: &DensityPoint) -> String {
    let fig = |v: Option<f64>| v.map_or("?".into(), |b| format!("{:.1} MiB", mib(b)));
    let mut line = format!(
        "up in {:.0} ms; RSS {}, PSS {}, anonymous {} ({} process{})",
        p.up_ms.unwrap_or(f64::NAN),
        fig(p.rss_bytes),
        fig(p.pss_bytes),
        fig(p.anon_bytes),
        p.processes.unwrap_or(0),
        if p.processes == Some(1) { "" } else { "es" }
    );
    if let (Some(pss), Some(anon)) = (p.pss_per_extra_bytes, p.anon_per_extra_bytes) {
        line.push_str(&format!(
            "; per extra copy +{:.1} MiB PSS, +{:.1} MiB anonymous",
            mib(pss),
            mib(anon)
        ));
    }
    line
}

/// The largest N of each layout: its PSS per extra copy and its time to up.
fn headline(d: &Density) -> String {
    let parts: Vec<String> = Layout::ALL
        .iter()
        .map(|l| l.name())
        .filter_map(|name| {
            let p = d
                .layouts
                .get(name)?
                .as_ref()?
                .points
                .iter()
                .rev()
                .find(|p| p.error.is_none() && p.up_ms.is_some())?;
            let extra = p.anon_per_extra_bytes.map_or(String::new(), |b| {
                format!(", +{:.1} MiB anonymous per extra copy", mib(b))
            });
            Some(format!(
                "{name} N={} up in {:.0} ms{extra}",
                p.instances.unwrap_or(0),
                p.up_ms.unwrap_or(f64::NAN)
            ))
        })
        .collect();
    if parts.is_empty() {
        "nothing measured".into()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: u32, rss: f64, pss: Option<f64>) -> DensityPoint {
        DensityPoint {
            instances: Some(n),
            up_ms: Some(10.0),
            rss_bytes: Some(rss),
            pss_bytes: pss,
            anon_bytes: pss.map(|p| p / 2.0),
            ..DensityPoint::default()
        }
    }

    #[test]
    fn per_extra_copy_is_the_slope_from_the_smallest_n() {
        let mut points = vec![
            point(1, 100.0, Some(80.0)),
            point(5, 500.0, Some(120.0)),
            point(10, 1000.0, None),
        ];
        per_extra(&mut points);
        assert_eq!(points[0].rss_per_extra_bytes, None);
        assert_eq!(points[1].rss_per_extra_bytes, Some(100.0));
        assert_eq!(points[1].pss_per_extra_bytes, Some(10.0));
        assert_eq!(points[1].anon_per_extra_bytes, Some(5.0));
        // PSS unreadable at N=10: no PSS slope, the RSS one stays.
        assert_eq!(points[2].rss_per_extra_bytes, Some(100.0));
        assert_eq!(points[2].pss_per_extra_bytes, None);
    }

    #[test]
    fn a_failed_base_moves_the_base_to_the_next_n() {
        let mut points = vec![
            DensityPoint {
                instances: Some(1),
                error: Some("did not start".into()),
                ..DensityPoint::default()
            },
            point(5, 500.0, Some(200.0)),
            point(10, 700.0, Some(300.0)),
        ];
        per_extra(&mut points);
        assert_eq!(points[0].rss_per_extra_bytes, None);
        assert_eq!(points[1].rss_per_extra_bytes, None);
        assert_eq!(points[2].rss_per_extra_bytes, Some(40.0));
        assert_eq!(points[2].pss_per_extra_bytes, Some(20.0));
    }

    #[test]
    fn the_headline_gives_each_layout_its_largest_measured_n_in_layout_order() {
        let mut failed = point(20, 1.0, None);
        failed.error = Some("never answered".into());
        let mut axum = vec![
            point(1, 1.0, Some(4.0)),
            point(10, 10.0, Some(22.0)),
            failed,
        ];
        per_extra(&mut axum);
        let layout = |points: Vec<DensityPoint>| {
            Some(DensityLayout {
                points,
                ..DensityLayout::default()
            })
        };
        let d = Density {
            layouts: [
                ("spin-n-ups".to_string(), layout(vec![point(1, 1.0, None)])),
                ("axum".to_string(), layout(axum)),
                ("spin-one-up".to_string(), None),
            ]
            .into_iter()
            .collect(),
            ..Density::default()
        };
        let line = headline(&d);
        assert!(line.starts_with("axum N=10 up in 10 ms, +"), "{line}");
        assert!(line.ends_with("; spin-n-ups N=1 up in 10 ms"), "{line}");
        assert_eq!(headline(&Density::default()), "nothing measured");
    }

    #[test]
    fn the_one_up_manifest_repeats_the_component_on_exact_routes() {
        let path = crm_harness::repo_root().join("spin-crm/customer-service/spin.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let out = one_up_manifest(&text, 3, Path::new("/opt/wasm")).unwrap();
        let files = variant::component_files(&out).unwrap();
        let ids: Vec<&str> = files.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "customer-service-copy1",
                "customer-service-copy2",
                "customer-service-copy3"
            ]
        );
        assert!(files.iter().all(|(_, f)| f == "spin_customer_service.wasm"));
        assert!(out.contains("source = \"/opt/wasm/spin_customer_service.wasm\""));
        assert!(out.contains("route = \"/customers/3\"\ncomponent = \"customer-service-copy3\""));
        assert!(out.contains("[component.customer-service-copy2.variables]\ndatabase_url = "));
        assert!(out.contains("database_host = { default = "), "{out}");
        assert!(!out.contains("route = \"/...\"") && !out.contains(".build]"));
        assert_eq!(out.matches("allowed_outbound_hosts").count(), 3);
    }

    #[test]
    fn the_plan_entry_follows_the_counts_and_the_runtimes() {
        let mut s = super::super::plan::tests::quick();
        s.density_counts = vec![1, 2];
        let (name, estimate) = plan_entry(&s, true).unwrap();
        assert!(
            name.contains("N = 1, 2") && name.contains("spin-n-ups"),
            "{name}"
        );
        let (name, axum_only) = plan_entry(&s, false).unwrap();
        assert!(!name.contains("spin"), "{name}");
        assert!(axum_only < estimate);
        s.density_counts.clear();
        assert!(plan_entry(&s, true).is_none());
    }
}
