//! crm-bench: the CRM benchmark (Axum vs Spin) — its results format, its report, the local run
//! and the pieces the k3d scripts record with. The map (README.md beside Cargo.toml says more):
//!
//! - `results/`: the results format (summary.json's model, collect, samples, the k6 summary
//!   reader, environment and pins, artifacts); depends on nothing else here;
//! - `report/`: summary.json → report.md and charts/*.svg (sections, tables, charts);
//! - `local/`: what runs on this machine: `run` (the main job) and `stack` / `postgres`;
//! - `cluster/`: what the k3d scripts call (`env`, `artifacts`, `parse`, `cluster`);
//! - `output.rs`: JSON and lines on stdout.
//!
//! This file only parses the command line and dispatches; nothing imports it.
//!
//!   crm-bench collect results/<timestamp>   raw files -> summary.json (docs/results-schema.md)
//!   crm-bench report results/<timestamp>    summary.json -> report.md and charts/*.svg
//!   crm-bench schema                        the JSON Schema of summary.json
//!   crm-bench env | artifacts | parse | cluster   the pieces the k3d scripts record with
//!   crm-bench run [--quick]                 the main job: the side-by-side local benchmark
//!   crm-bench stack axum|spin -- COMMAND    a stack up around a command (the contract suite)
//!   crm-bench postgres -- COMMAND           Postgres up around a command (scripts/test.sh)
//!   crm-bench containers [--quick]          the container shape: cold starts, memory, density
//!   crm-bench layers [--seconds N]          what each of Axum's middleware layers costs

mod cluster;
mod local;
mod output;
mod report;
mod results;

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cluster::commands::{self as cluster_commands, ArtifactsArgs, ClusterCmd, EnvArgs, ParseCmd};
use local::{containers, layers, run, wrap};

#[derive(Parser)]
#[command(
    name = "crm-bench",
    about = "The CRM benchmark (Axum vs Spin): runs, results (summary.json) and reports"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write report.md and charts/*.svg from a results folder's summary.json.
    Report {
        /// The results folder, e.g. results/20261121T081530Z.
        dir: PathBuf,
        /// Read this summary instead of <dir>/summary.json.
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Write <dir>/summary.json from a results folder's raw files and print a short table.
    Collect {
        /// The results folder, e.g. results/20261121T081530Z.
        dir: PathBuf,
        /// No table on stdout.
        #[arg(long)]
        quiet: bool,
    },
    /// Print the JSON Schema of summary.json (docs/results.schema.json is this output).
    Schema,
    /// Print the "environment" object of summary.json: machine, tool versions, pins, settings.
    Env(EnvArgs),
    /// Print the "artifacts" object of a k3d stack: image sizes (axum) or Wasm components (spin).
    Artifacts(ArtifactsArgs),
    /// Parse what the k3d scripts record (k6 summaries, kubectl top, probe logs, pushes).
    #[command(subcommand)]
    Parse(ParseCmd),
    /// Assemble the k3d tests' result files (cold start, resources) and describe them.
    #[command(subcommand)]
    Cluster(ClusterCmd),
    /// Run the side-by-side benchmark on this machine (the main job).
    // Boxed: its settings (the CPU budget's among them) make it far larger than the others.
    Run(Box<run::RunArgs>),
    /// Start a stack on free ports, run a command with its URLs exported, stop the stack.
    Stack(wrap::StackArgs),
    /// Find or start Postgres, run a command with its admin URL in CRM_PG_ADMIN_URL, stop it.
    Postgres(wrap::PostgresArgs),
    /// Measure the container shape on the node runtime (root): cold starts, memory as a
    /// cluster sees it, density, the musl binary as a process; writes containers.json.
    Containers(containers::ContainersArgs),
    /// What each of Axum's middleware layers costs: customer-service alone on the CPU budget's
    /// core with each layer switched off (CRM_BENCH_LAYERS_OFF, measurement only), every layer
    /// off and the floor; wrk's read capacity and CPU per request; writes layers.json.
    Layers(layers::LayersArgs),
}

/// `crm-bench collect`: summary.json written, then (unless quiet) a short table and the
/// problems recorded.
fn collect(dir: &Path, quiet: bool) -> Result<(), String> {
    let summary = results::collect::write_summary(dir)?;
    if !quiet {
        output::say(&results::collect::table(&summary))?;
        for p in &summary.problems {
            output::say(&format!("note: {p}"))?;
        }
        output::say(&format!("wrote {}", dir.join("summary.json").display()))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Report { dir, summary } => report::write(dir, summary.as_deref()),
        Command::Collect { dir, quiet } => collect(dir, *quiet),
        Command::Schema => output::print_json(&results::schema()),
        Command::Env(args) => cluster_commands::env(args),
        Command::Artifacts(args) => cluster_commands::artifacts(args),
        Command::Parse(cmd) => cluster_commands::parse(cmd),
        Command::Cluster(cmd) => cluster_commands::cluster(cmd),
        Command::Run(args) => run::execute(args),
        Command::Stack(args) => wrap::execute_stack(args),
        Command::Postgres(args) => wrap::execute_postgres(args),
        Command::Containers(args) => containers::execute(args),
        Command::Layers(args) => layers::execute(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crm-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
