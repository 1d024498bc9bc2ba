//! The subcommands the k3d scripts call (scripts/bench-all.sh, scripts/setup-all.sh via
//! scripts/lib/cluster.sh, tests/cluster/*.sh): thin wrappers that read files and arguments,
//! call the results format (environment, artifacts, the k6 summary reader) or the cluster
//! side (parse, assemble, step_load), and print JSON.

use super::{assemble, parse, step_load};
use crate::output::{print_json, say};
use crate::results::{artifacts, environment, k6_summary};
use clap::{Args, Subcommand, ValueEnum};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EnvArgs {
    /// Which runner: k3d or local.
    #[arg(long)]
    kind: Kind,
    /// A pinned version, KEY=VALUE (repeatable), e.g. cert_manager=v1.14.3.
    #[arg(long = "pin", value_name = "KEY=VALUE")]
    pins: Vec<String>,
    /// A setting of the run, KEY=VALUE (repeatable), e.g. vus=20.
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    settings: Vec<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    K3d,
    Local,
}

#[derive(Args)]
pub struct ArtifactsArgs {
    #[arg(long)]
    stack: StackKind,
    /// Where the images were pushed (axum); default $REGISTRY_PUSH, else localhost:$REGISTRY_PORT.
    #[arg(long)]
    registry: Option<String>,
    /// The repository (spin: its spin-crm/<service>/spin.toml); default the current directory.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// axum: size the release binaries in this directory instead of the images (a local run).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// spin: the Spin CLI that runs the components, listed apart as the runtime (a local run).
    #[arg(long)]
    spin_cli: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StackKind {
    Axum,
    Spin,
}

#[derive(Subcommand)]
pub enum ParseCmd {
    /// A k6 summary (SUMMARY_JSON) -> our figures (JSON).
    K6 { file: PathBuf },
    /// `kubectl top pod --no-headers` output (FILE, or - for stdin) -> one JSON line of rows.
    Top { file: PathBuf },
    /// A probe log and the kill time (µs since the epoch) -> availability figures (JSON).
    Availability { log: PathBuf, kill_us: u64 },
    /// A probe log and the start time (µs since the epoch) -> the first 200 (JSON).
    Coldstart { log: PathBuf, since_us: u64 },
    /// A k6 duration ("500ms", "1m30s") in seconds; exit status 1 when it is not one.
    Duration { text: String },
    /// A Deployment's .spec.selector (JSON, FILE or -) -> "k=v,k2=v2" for `kubectl get -l`.
    Selector { file: PathBuf },
    /// The Deployment a pod name belongs to.
    PodService { pod: String },
    /// The last sha256 digest printed by `docker push` / `spin registry push` (FILE or -);
    /// exit status 1 when there is none.
    PushDigest { file: PathBuf },
    /// A JSON object from key=string, key:=raw JSON, key@=JSON file (null if absent or not
    /// JSON); dotted keys nest.
    JsonObj {
        #[arg(allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The value at a dotted PATH of a JSON document (FILE or -): a string as it is, anything
    /// else as JSON; exit status 1 when there is none.
    JsonGet { file: PathBuf, path: String },
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// One cold-start run -> one JSON line (stdout) and a description (stderr). The pod that
    /// answered is read as `kubectl get pod -o json` from --pod-json (FILE or -).
    ColdstartRun {
        #[arg(long)]
        run: u32,
        #[arg(long)]
        pods_before: u32,
        #[arg(long)]
        scale_up_us: u64,
        #[arg(long)]
        probe_log: PathBuf,
        #[arg(long)]
        direct_log: PathBuf,
        #[arg(long)]
        pod_json: Option<PathBuf>,
    },
    /// The runs (JSON lines of coldstart-run) -> coldstart.json, and a description.
    Coldstart {
        #[arg(long)]
        runs: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        stack: String,
        #[arg(long)]
        namespace: String,
        #[arg(long)]
        target: String,
        #[arg(long)]
        probe_url: String,
    },
    /// `kubectl top` samples (JSON lines of `parse top`) of each phase -> resources.json, and a
    /// line per phase and service.
    Resources {
        #[arg(long)]
        idle: PathBuf,
        #[arg(long)]
        load: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        stack: String,
        #[arg(long)]
        namespace: String,
        /// The services to report (a missing one is null).
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// One line describing an availability.json.
    DescribeAvailability { file: PathBuf },
    /// The step-load scenario's k6 summary and replica samples -> step-load.json, and a line.
    StepLoad {
        /// Lines `<t_us> <deployment> <ready> <desired>` (tests/cluster/step-load-test.sh).
        #[arg(long)]
        replicas: PathBuf,
        /// The k6 summary of tests/k6/step-load-test.js.
        #[arg(long)]
        k6: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        stack: String,
        #[arg(long)]
        namespace: String,
    },
}

fn write_or_print<T: serde::Serialize>(value: &T, out: Option<&Path>) -> Result<(), String> {
    match out {
        Some(path) => crate::results::collect::write_json(path, value),
        None => print_json(value),
    }
}

/// A file's text; "-" is stdin.
fn read_text(path: &Path) -> Result<String, String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    serde_json::from_str(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn env(args: &EnvArgs) -> Result<(), String> {
    let pairs = |items: &[String]| -> Result<BTreeMap<_, _>, String> {
        items.iter().map(|i| environment::pair(i)).collect()
    };
    let kind = match args.kind {
        Kind::K3d => "k3d",
        Kind::Local => "local",
    };
    let env = environment::environment(kind, pairs(&args.pins)?, pairs(&args.settings)?);
    write_or_print(&env, args.out.as_deref())
}

pub fn artifacts(args: &ArtifactsArgs) -> Result<(), String> {
    let result = match (args.stack, &args.bin_dir) {
        (StackKind::Axum, Some(dir)) => artifacts::axum_binaries(dir),
        (StackKind::Axum, None) => {
            let registry = args.registry.clone().unwrap_or_else(|| {
                std::env::var("REGISTRY_PUSH").unwrap_or_else(|_| {
                    let port = std::env::var("REGISTRY_PORT").unwrap_or_else(|_| "5001".into());
                    format!("localhost:{port}")
                })
            });
            artifacts::axum_images(&registry)
        }
        (StackKind::Spin, _) => artifacts::spin_wasm(&args.root, args.spin_cli.as_deref()),
    };
    write_or_print(&result, args.out.as_deref())
}

pub fn parse(cmd: &ParseCmd) -> Result<(), String> {
    match cmd {
        ParseCmd::K6 { file } => {
            let raw: serde_json::Value = read_json(file)?;
            if !raw.is_object() {
                return Err(format!("{}: not a k6 summary", file.display()));
            }
            print_json(&k6_summary::parse_summary(
                &raw,
                &file.display().to_string(),
            ))
        }
        ParseCmd::Top { file } => {
            let rows = parse::parse_top(&read_text(file)?);
            // One line: the caller appends it to a JSON-lines file of samples.
            say(&serde_json::to_string(&rows).map_err(|e| e.to_string())?)
        }
        ParseCmd::Availability { log, kill_us } => {
            let probes = parse::parse_probe_log(&read_text(log)?);
            print_json(&parse::availability(&probes, *kill_us))
        }
        ParseCmd::Coldstart { log, since_us } => {
            let probes = parse::parse_probe_log(&read_text(log)?);
            print_json(&parse::first_success(&probes, *since_us))
        }
        ParseCmd::Duration { text } => {
            let s = k6_summary::duration_seconds(text)
                .ok_or_else(|| format!("not a k6 duration: {text:?}"))?;
            say(&s.to_string())?;
            Ok(())
        }
        ParseCmd::Selector { file } => {
            say(&parse::label_selector(&read_json(file)?))?;
            Ok(())
        }
        ParseCmd::PodService { pod } => {
            say(parse::pod_service(pod))?;
            Ok(())
        }
        ParseCmd::PushDigest { file } => {
            let text = read_text(file)?;
            let digest = parse::push_digest(&text)
                .ok_or_else(|| format!("no sha256 digest in {}", file.display()))?;
            say(digest)?;
            Ok(())
        }
        ParseCmd::JsonObj { args } => print_json(&parse::json_object(args)?),
        ParseCmd::JsonGet { file, path } => {
            let doc: serde_json::Value = read_json(file)?;
            match parse::json_get(&doc, path) {
                Some(serde_json::Value::String(s)) => say(s)?,
                Some(v) => say(&v.to_string())?,
                None => return Err(format!("no {path} in {}", file.display())),
            }
            Ok(())
        }
    }
}

pub fn cluster(cmd: &ClusterCmd) -> Result<(), String> {
    match cmd {
        ClusterCmd::ColdstartRun {
            run,
            pods_before,
            scale_up_us,
            probe_log,
            direct_log,
            pod_json,
        } => {
            let pod = match pod_json {
                Some(p) => Some(assemble::pod_info(&read_json(p)?)),
                None => None,
            };
            let r = assemble::coldstart_run(
                *run,
                *pods_before,
                *scale_up_us,
                probe_log,
                direct_log,
                pod,
            )?;
            eprintln!("{}", assemble::describe_run(&r));
            say(&serde_json::to_string(&r).map_err(|e| e.to_string())?)?;
            Ok(())
        }
        ClusterCmd::Coldstart {
            runs,
            out,
            stack,
            namespace,
            target,
            probe_url,
        } => {
            let runs = read_text(runs)?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<Vec<assemble::ColdstartRun>, _>>()
                .map_err(|e| format!("runs file: {e}"))?;
            let at = assemble::ColdstartTarget {
                stack,
                namespace,
                target,
                probe_url,
            };
            let c = assemble::coldstart_summary(&runs, &at)?;
            crate::results::collect::write_json(out, &c)?;
            say(&assemble::describe_coldstart(&c))?;
            Ok(())
        }
        ClusterCmd::Resources {
            idle,
            load,
            out,
            stack,
            namespace,
            services,
        } => {
            let at = assemble::ResourcesTarget {
                stack,
                namespace,
                services,
            };
            let r = assemble::resources_summary(
                &assemble::read_samples(idle)?,
                &assemble::read_samples(load)?,
                &at,
            );
            crate::results::collect::write_json(out, &r)?;
            for line in assemble::describe_resources(&r) {
                say(&line)?;
            }
            Ok(())
        }
        ClusterCmd::DescribeAvailability { file } => {
            say(&assemble::describe_availability(&read_json(file)?))?;
            Ok(())
        }
        ClusterCmd::StepLoad {
            replicas,
            k6,
            out,
            stack,
            namespace,
        } => {
            let samples = step_load::parse_replicas(&read_text(replicas)?)
                .map_err(|e| format!("{}: {e}", replicas.display()))?;
            let at = step_load::StepLoadTarget {
                stack: stack.clone(),
                namespace: namespace.clone(),
                k6_file: k6.file_name().map_or_else(
                    || k6.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
            };
            let r = step_load::step_load(&read_json(k6)?, samples, &at)
                .map_err(|e| format!("{}: {e}", k6.display()))?;
            crate::results::collect::write_json(out, &r)?;
            say(&step_load::describe(&r))
        }
    }
}
