//! `crm-bench containers [--quick] [--out DIR]`: the container shape measured on the node
//! runtime (crm_harness::node; root), customer-service in two columns, `spin-shim` (under
//! containerd-shim-spin v0.22.0) and `axum-container` (the static musl image under runc):
//!
//! - **cold start**: from `ctr run` to the first 200 on `GET /customers/1`, N starts after a
//!   pull (image and the shim's precompiled component removed from containerd's store each
//!   time) and M cached starts (quick 3 + 3, full 10 + 20);
//! - **memory**, alike for both: the container cgroup's working set (what `kubectl top`
//!   shows) and the PSS of every process in the cgroup and of the container's
//!   `containerd-shim-*` process (outside the cgroup: the working set leaves it out), idle and
//!   at the peak of a short load;
//! - **density**: N = 1, 5 (quick) or 1, 5, 10, 20 (full) copies, memory per extra copy with
//!   and without the shims;
//! - **musl as a process**: the image's static musl `axum-customer-service` and the glibc
//!   release build run as plain processes (RSS, PSS idle, a short load's throughput and peak
//!   memory), so the container's cost is told apart from musl's.
//!
//! Written to `DIR/containers.json` ([`Containers`], below, is its format: every size in
//! bytes, every time in milliseconds; the results format keeps it, crate::results::containers),
//! a short table printed. [`measure`] is what the main job
//! calls; it needs root, Docker (the images) and the Spin CLI.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use crm_harness::node::coldstart::{self, ColdStart, StartKind, Target};
use crm_harness::node::density::{self, DensityPoint};
use crm_harness::node::memory::{ContainerMemory, ProcMemory};
use crm_harness::node::{self, load, musl, pins, Node, NodeTools};
use crm_harness::pg::{self, Server};
use crm_harness::procfs;
use crm_harness::procs;
use crm_harness::stack::{Binaries, Runtime, Service};

use crate::local::tooling;
pub use crate::results::containers::{
    ColdStartSeries, Containers, DensityFigures, DensitySeries, MemoryFigures, PerCopy,
    ProcessFigures, ProcessVariant, Spread,
};

#[derive(Args, Debug)]
pub struct ContainersArgs {
    /// Fewer samples (3 + 3 starts, N = 1 and 5, 5 s loads): minutes, not a quarter hour.
    #[arg(long)]
    pub quick: bool,
    /// Where containers.json and the logs go [default: results/containers-<UTC time>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The glibc Axum binaries to compare the musl ones with [default: `cargo build
    /// --release -p axum-customer-service`, symbols stripped as the images' are].
    #[arg(long)]
    pub axum_bin_dir: Option<PathBuf>,
    /// One column only (`spin`: no Axum images, no musl/glibc processes).
    #[arg(long, value_enum)]
    pub only: Option<Runtime>,
}

/// How much of each.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub after_pull: usize,
    pub cached: usize,
    pub density: &'static [usize],
    pub load: Duration,
    pub concurrency: usize,
    pub process_rounds: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                after_pull: 3,
                cached: 3,
                density: &[1, 5],
                load: Duration::from_secs(5),
                concurrency: 16,
                process_rounds: 1,
            }
        } else {
            Plan {
                after_pull: 10,
                cached: 20,
                density: &[1, 5, 10, 20],
                load: Duration::from_secs(15),
                concurrency: 16,
                process_rounds: 3,
            }
        }
    }
}

/// The database route every start and load reads (a seeded row).
const PROBE: &str = "/customers/1";

pub fn execute(args: &ContainersArgs) -> Result<(), String> {
    let out = args.out.clone().unwrap_or_else(|| {
        crm_harness::repo_root()
            .join("results")
            .join(format!("containers-{}", tooling::utc_stamp()))
    });
    tooling::block_on_interruptible(async {
        let runtimes = match args.only {
            Some(r) => vec![r],
            None => vec![Runtime::Spin, Runtime::Axum],
        };
        let result = measure(&out, args.quick, &runtimes, args.axum_bin_dir.clone()).await?;
        for line in table(&result) {
            println!("{line}");
        }
        println!(
            "crm-bench containers: wrote {}",
            out.join("containers.json").display()
        );
        Ok(())
    })
    .map_err(|e| format!("{e:#}"))
}

/// Measures `runtimes`' columns (and, with Axum, the musl and glibc processes) into
/// `out/containers.json` (logs in `out/logs`).
pub async fn measure(
    out: &Path,
    quick: bool,
    runtimes: &[Runtime],
    glibc_dir: Option<PathBuf>,
) -> Result<Containers> {
    if !node::running_as_root() {
        bail!("crm-bench containers runs a private containerd: run it as root (or with sudo)");
    }
    std::fs::create_dir_all(out)?;
    procs::set_log_dir(&out.join("logs"))?;
    let plan = Plan::new(quick);
    let say = |line: &str| eprintln!("crm-bench containers: {line}");

    let spin = tooling::spin_cli()?;
    let mut bins = Binaries::from_env();
    bins.spin = Some(spin.clone());
    bins.check(Runtime::Spin)?;
    bins.install();
    let with_axum = runtimes.contains(&Runtime::Axum);
    let (images, glibc_dir) = if with_axum {
        say("the Axum images and their static binaries (scripts/build-axum-images.sh)");
        let images = node::axum_images()?;
        let glibc_dir = match glibc_dir {
            Some(dir) => dir,
            None => build_glibc(out)?,
        };
        (Some(images), Some(glibc_dir))
    } else {
        (None, None)
    };

    let mut server = Server::find_or_start().await?;
    let result = async {
        let db = server.create_database("crm_containers").await?;
        pg::migrate(&db).await?;
        say(&format!("seeded: {}", pg::seed(&db, 100, 0).await?));
        let mut doc = Containers {
            quick,
            versions: versions(),
            probe: format!("GET {PROBE} (customer-service, a seeded row)"),
            cold_start: Vec::new(),
            memory: Vec::new(),
            density: Vec::new(),
            processes: Vec::new(),
            notes: notes(),
        };
        for &runtime in runtimes {
            on_node(runtime, &plan, &db, &spin, images.as_deref(), &mut doc, say).await?;
        }
        let Some(glibc_dir) = glibc_dir else {
            return write(out, doc);
        };
        say("musl and glibc builds of axum-customer-service as processes");
        let musl_dir = musl::static_bin_dir()?;
        for round in 1..=plan.process_rounds {
            for (name, dir) in [
                ("axum-glibc-process", &glibc_dir),
                ("axum-musl-process", &musl_dir),
            ] {
                let v = process_variant(name, dir, round, &db, &plan).await?;
                say(&format!(
                    "{name} round {round}: idle PSS {:.1} MiB, {:.0} ok/s under load, peak PSS {:.1} MiB",
                    mib(v.idle_pss),
                    v.load_ok_per_s,
                    mib(v.load_peak_pss)
                ));
                doc.processes.push(v);
            }
        }
        write(out, doc)
    }
    .await;
    server.cleanup().await;
    result
}

fn write(out: &Path, doc: Containers) -> Result<Containers> {
    let path = out.join("containers.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(doc)
}

/// The node part for one runtime: a fresh node, its customer-service image in the loopback
/// registry, cold starts, memory idle and under load, density; the node stopped (and checked
/// clean).
async fn on_node(
    runtime: Runtime,
    plan: &Plan,
    db: &str,
    spin: &Path,
    images: Option<&Path>,
    doc: &mut Containers,
    say: impl Fn(&str) + Copy,
) -> Result<()> {
    let column = column(runtime);
    say(&format!("{column}: starting the node runtime"));
    let mut node = Node::start(NodeTools::find()?).await?;
    let outcome = async {
        let local =
            node::service_image(&node, runtime, Service::CustomerService, Some(spin), images)?;
        let image = match runtime {
            // Already the registry's (`spin registry push`, then pulled).
            Runtime::Spin => local,
            Runtime::Axum => node.push_image(&local, "axum-customer-service")?,
        };
        let target = Target {
            runtime,
            image: &image,
            database_url: db,
            probe_path: PROBE,
        };
        let starts = coldstart::customer_service_starts(
            &mut node,
            &target,
            plan.after_pull,
            plan.cached,
            say,
        )
        .await?;
        for kind in [StartKind::AfterPull, StartKind::Cached] {
            doc.cold_start.push(series(column, kind, &starts));
        }
        doc.memory
            .extend(memory_idle_and_load(&mut node, &target, plan, say).await?);
        let points =
            density::customer_service_density(&mut node, &target, plan.density, say).await?;
        doc.density.push(density_series(column, &points));
        Ok::<(), anyhow::Error>(())
    }
    .await;
    let stopped = node.stop(Duration::from_secs(5));
    outcome?;
    stopped?;
    Ok(())
}

/// One container: its memory idle (2 s after its first 200), then at the peak (by working set)
/// of a short load on the probe route.
async fn memory_idle_and_load(
    node: &mut Node,
    target: &Target<'_>,
    plan: &Plan,
    say: impl Fn(&str),
) -> Result<Vec<MemoryFigures>> {
    let column = column(target.runtime);
    let id = format!("{}-memory", target.runtime.as_str());
    let result = async {
        coldstart::start_once(node, target, &id).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle = node.memory(&id)?;
        let port = node_port(node, &id)?;
        let url = format!("http://127.0.0.1:{port}{}", target.probe_path);
        let node_ref: &Node = node;
        let mut peak: Option<ContainerMemory> = None;
        let figures = load::run(&url, plan.concurrency, plan.load, || {
            if let Ok(m) = node_ref.memory(&id) {
                if peak
                    .as_ref()
                    .is_none_or(|p| m.working_set_bytes > p.working_set_bytes)
                {
                    peak = Some(m);
                }
            }
        })
        .await;
        let peak = peak.context("no memory reading during the load")?;
        say(&format!(
            "{column}: idle working set {:.1} MiB (PSS {:.1} MiB + shim {:.1} MiB); under load {:.0} ok/s, working set {:.1} MiB",
            mib(idle.working_set_bytes),
            mib(idle.cgroup_pss()),
            mib(idle.shim_outside_pss()),
            figures.ok_per_second(),
            mib(peak.working_set_bytes)
        ));
        Ok::<_, anyhow::Error>(vec![
            memory_figures(column, "idle", &idle, None),
            memory_figures(column, "load", &peak, Some(figures.ok_per_second())),
        ])
    }
    .await;
    node.remove_container(&id, Duration::from_secs(5));
    result
}

/// The port a container listens on (its `LISTEN_ADDR` / `SPIN_HTTP_LISTEN_ADDR`), from
/// `ctr containers info`.
fn node_port(node: &Node, id: &str) -> Result<u16> {
    let info = node.ctr(&["containers", "info", id])?;
    info.split('"')
        .find_map(|s| {
            s.strip_prefix("LISTEN_ADDR=127.0.0.1:")
                .or_else(|| s.strip_prefix("SPIN_HTTP_LISTEN_ADDR=127.0.0.1:"))
        })
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no listen address in {id}'s spec"))
}

async fn process_variant(
    name: &str,
    dir: &Path,
    round: usize,
    db: &str,
    plan: &Plan,
) -> Result<ProcessVariant> {
    let binary = dir.join("axum-customer-service");
    let (mut proc, url) = musl::start_customer_service(dir, &format!("{name}-{round}"), db).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = proc.pid();
    let idle = procfs::memory_of(&[pid]).context("the process is gone")?;
    let mut peak = idle;
    let figures = load::run(
        &format!("{url}{PROBE}"),
        plan.concurrency,
        plan.load,
        || {
            if let Some(m) = procfs::memory_of(&[pid]) {
                if m.rss_bytes > peak.rss_bytes {
                    peak = m;
                }
            }
        },
    )
    .await;
    proc.stop(Duration::from_secs(5));
    Ok(ProcessVariant {
        name: name.to_string(),
        binary: binary.display().to_string(),
        built_by: musl::describe_binary(&binary)?,
        round,
        idle_rss: idle.rss_bytes,
        idle_pss: idle.pss_bytes.unwrap_or_default(),
        load_ok_per_s: figures.ok_per_second(),
        load_peak_rss: peak.rss_bytes,
        load_peak_pss: peak.pss_bytes.unwrap_or_default(),
    })
}

/// The glibc release build of customer-service, symbols stripped as build-static.sh strips
/// the musl one, the same CARGO_PROFILE_RELEASE_* settings (inherited by both builds).
fn build_glibc(out: &Path) -> Result<PathBuf> {
    // A target directory of its own: the stripped profile in the run's would rebuild every
    // dependency there, and again when the run next builds its unstripped binaries.
    let target = tooling::target_dir().join("glibc-stripped");
    let mut cargo = Command::new("cargo");
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "-p",
            "axum-customer-service",
            "--target-dir",
        ])
        .arg(&target)
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .env("SQLX_OFFLINE", "true")
        .current_dir(crm_harness::repo_root());
    eprintln!("crm-bench containers: cargo build --release -p axum-customer-service (glibc)");
    tooling::build("cargo build --release", cargo, &out.join("build-glibc.log"))?;
    Ok(target.join("release"))
}

fn column(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Spin => "spin-shim",
        Runtime::Axum => "axum-container",
    }
}

fn series(column: &str, kind: StartKind, starts: &[ColdStart]) -> ColdStartSeries {
    let of_kind: Vec<&ColdStart> = starts.iter().filter(|s| s.kind == kind).collect();
    let first_200_ms: Vec<f64> = of_kind.iter().map(|s| ms(s.first_200)).collect();
    ColdStartSeries {
        column: column.to_string(),
        kind: kind.as_str().to_string(),
        first_200: spread(&first_200_ms),
        first_200_ms,
        pull_ms: of_kind.iter().filter_map(|s| s.pull.map(ms)).collect(),
        precompiled_blobs_after: of_kind.iter().map(|s| s.precompiled_after).collect(),
        precompiled_blobs_left_by_gc: of_kind.iter().map(|s| s.precompiled_left_by_gc).sum(),
    }
}

fn spread(values: &[f64]) -> Spread {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        v[((v.len() - 1) as f64 * q).round() as usize]
    };
    Spread {
        n: v.len(),
        min: at(0.0),
        p50: at(0.5),
        p90: at(0.9),
        max: at(1.0),
    }
}

fn memory_figures(
    column: &str,
    state: &str,
    m: &ContainerMemory,
    load_ok_per_s: Option<f64>,
) -> MemoryFigures {
    let process = |p: &ProcMemory, place: &str| ProcessFigures {
        pid: p.pid,
        name: p.name.clone(),
        place: place.to_string(),
        rss: p.rss_bytes,
        pss: p.pss_bytes,
        anon: p.anon_bytes,
    };
    let mut processes: Vec<ProcessFigures> =
        m.in_cgroup.iter().map(|p| process(p, "cgroup")).collect();
    if let (Some(shim), false) = (&m.shim, m.shim_in_cgroup) {
        processes.push(process(shim, "shim (outside the cgroup)"));
    }
    MemoryFigures {
        column: column.to_string(),
        state: state.to_string(),
        working_set: m.working_set_bytes,
        cgroup_usage: m.usage_bytes,
        cgroup_inactive_file: m.inactive_file_bytes,
        cgroup_pss: m.cgroup_pss(),
        shim_pss_outside_cgroup: m.shim_outside_pss(),
        pss_with_shim: m.pss_with_shim(),
        shim_in_cgroup: m.shim_in_cgroup,
        processes,
        load_ok_per_s,
    }
}

fn density_series(column: &str, points: &[DensityPoint]) -> DensitySeries {
    let figures: Vec<DensityFigures> = points
        .iter()
        .map(|p| DensityFigures {
            n: p.n,
            all_up_ms: ms(p.all_up),
            working_set: p.working_set(),
            cgroup_pss: p.cgroup_pss(),
            shims_pss: p.shims_pss(),
            pss_with_shims: p.pss_with_shims(),
        })
        .collect();
    let per = |f: fn(&DensityFigures) -> u64| -> f64 {
        match (figures.first(), figures.last()) {
            (Some(a), Some(b)) if b.n > a.n => (f(b) as f64 - f(a) as f64) / (b.n - a.n) as f64,
            _ => 0.0,
        }
    };
    DensitySeries {
        column: column.to_string(),
        per_extra_copy: PerCopy {
            working_set: per(|f| f.working_set),
            pss_without_shims: per(|f| f.cgroup_pss),
            pss_with_shims: per(|f| f.pss_with_shims),
        },
        points: figures,
    }
}

fn versions() -> Vec<(String, String)> {
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    vec![
        ("containerd".into(), pins::CONTAINERD_VERSION.into()),
        ("containerd-shim-spin".into(), pins::SHIM_VERSION.into()),
        ("spin in the shim".into(), pins::SHIM_SPIN_VERSION.into()),
        (
            "cgroup".into(),
            if unified { "v2" } else { "v1" }.to_string(),
        ),
    ]
}

fn notes() -> Vec<String> {
    vec![
        "first_200: from `ctr run` (task created and started) to the first 200 on the probe; \
         after_pull: the image removed (ctr images rm --sync) with the shim's precompiled \
         component, pulled again from a loopback registry (pull_ms, not in first_200), so a Spin \
         start compiles the component; cached: image and precompiled component in the store"
            .into(),
        "working_set: the cgroup's usage minus inactive file pages (cAdvisor, what kubectl top \
         shows); it leaves out the containerd-shim process, which lives outside the cgroup: \
         pss_with_shim adds it"
            .into(),
        "the page cache is not dropped between starts (a shared machine): a runc start after a \
         pull may read its binary from the cache"
            .into(),
        "processes: the image's static musl binary and the glibc release build, the same \
         sources and CARGO_PROFILE_RELEASE_* settings; built_by says which rustc built each"
            .into(),
    ]
}

/// The short table printed at the end.
pub fn table(doc: &Containers) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<16} {:<11} {:>4} {:>9} {:>9} {:>9}",
        "cold start", "kind", "n", "p50 ms", "p90 ms", "max ms"
    )];
    for s in &doc.cold_start {
        lines.push(format!(
            "{:<16} {:<11} {:>4} {:>9.0} {:>9.0} {:>9.0}",
            s.column, s.kind, s.first_200.n, s.first_200.p50, s.first_200.p90, s.first_200.max
        ));
    }
    lines.push(format!(
        "{:<16} {:<6} {:>12} {:>12} {:>12} {:>10}",
        "memory (MiB)", "state", "working set", "cgroup PSS", "+ shim PSS", "ok/s"
    ));
    for m in &doc.memory {
        lines.push(format!(
            "{:<16} {:<6} {:>12.1} {:>12.1} {:>12.1} {:>10}",
            m.column,
            m.state,
            mib(m.working_set),
            mib(m.cgroup_pss),
            mib(m.shim_pss_outside_cgroup),
            m.load_ok_per_s
                .map(|r| format!("{r:.0}"))
                .unwrap_or_default()
        ));
    }
    lines.push(format!(
        "{:<16} {:>14} {:>16} {:>16}",
        "per extra copy", "working set", "PSS w/o shims", "PSS with shims"
    ));
    for d in &doc.density {
        lines.push(format!(
            "{:<16} {:>14.1} {:>16.1} {:>16.1}",
            d.column,
            d.per_extra_copy.working_set / 1048576.0,
            d.per_extra_copy.pss_without_shims / 1048576.0,
            d.per_extra_copy.pss_with_shims / 1048576.0
        ));
    }
    for p in &doc.processes {
        lines.push(format!(
            "{:<20} round {}: idle RSS {:.1} MiB, PSS {:.1} MiB; {:.0} ok/s; {}",
            p.name,
            p.round,
            mib(p.idle_rss),
            mib(p.idle_pss),
            p.load_ok_per_s,
            p.built_by
        ));
    }
    lines
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_picks_nearest_ranks() {
        let s = spread(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.n, s.min, s.p50, s.p90, s.max), (5, 1.0, 3.0, 5.0, 5.0));
        assert_eq!(spread(&[]).n, 0);
    }

    #[test]
    fn per_extra_copy_is_the_slope_from_the_first_to_the_last_n() {
        let copy = |ws: u64, pss: u64, shim: u64| ContainerMemory {
            working_set_bytes: ws,
            in_cgroup: vec![ProcMemory {
                pss_bytes: pss,
                ..ProcMemory::default()
            }],
            shim: Some(ProcMemory {
                pss_bytes: shim,
                ..ProcMemory::default()
            }),
            ..ContainerMemory::default()
        };
        let point = |n: usize| DensityPoint {
            n,
            all_up: Duration::ZERO,
            copies: (0..n).map(|_| copy(10, 20, 5)).collect(),
        };
        let d = density_series("x", &[point(1), point(5)]);
        assert_eq!(d.per_extra_copy.working_set, 10.0);
        assert_eq!(d.per_extra_copy.pss_without_shims, 20.0);
        assert_eq!(d.per_extra_copy.pss_with_shims, 25.0);
        // One N only: no slope.
        assert_eq!(
            density_series("x", &[point(1)]).per_extra_copy.working_set,
            0.0
        );
    }

    #[test]
    fn a_shim_inside_the_cgroup_is_counted_once() {
        let mut m = ContainerMemory {
            in_cgroup: vec![ProcMemory {
                pss_bytes: 7,
                ..ProcMemory::default()
            }],
            shim: Some(ProcMemory {
                pss_bytes: 3,
                ..ProcMemory::default()
            }),
            ..ContainerMemory::default()
        };
        assert_eq!(m.pss_with_shim(), 10);
        m.shim_in_cgroup = true;
        assert_eq!((m.pss_with_shim(), m.shim_outside_pss()), (7, 0));
    }
}
