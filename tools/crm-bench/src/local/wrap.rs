//! Commands that run a command beside something they started, and stop it after.
//!
//! `crm-bench postgres -- COMMAND…`: a Postgres for the command (the one configured, else a
//! throwaway cluster), its admin URL in `CRM_PG_ADMIN_URL`; scripts/test.sh runs inside it.
//!
//! `crm-bench stack axum|spin [--shape services|combined] -- COMMAND…`: starts a stack on
//! free loopback ports (a fresh database on the Postgres found or started, the main topology
//! and, in the services shape, the fault topology), runs the command with the stack's URLs in
//! its environment (the contract suite's `CRM_*` variables), then stops everything and drops
//! the database. The exit code is the command's. This is how the contract suite runs by hand:
//!
//!   crm-bench stack spin -- cargo test -p crm-contract-tests

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use crm_harness::faults::Faults;
use crm_harness::pg::{self, Server};
use crm_harness::procs;
use crm_harness::stack::{Binaries, Runtime, Shape, Stack, UPSTREAM_TIMEOUT_MS};

use crate::local::tooling;

#[derive(Args, Debug)]
pub struct StackArgs {
    /// Which implementation.
    #[arg(value_enum)]
    pub runtime: Runtime,
    /// services: one process per service (for Spin one `spin up` per service manifest, as on
    /// Kubernetes); combined: one `spin up` of spin-crm/spin.toml, only the gateway public
    /// (the contract suite then runs its gateway selection: scripts/contract.sh gateway);
    /// node: one container per service on a private containerd 1.7, Spin under
    /// containerd-shim-spin, Axum under runc, with k8s/'s resources as cgroup limits (root;
    /// crm_harness::node), no fault topology.
    #[arg(long, value_enum, default_value = "services")]
    pub shape: Shape,
    /// Leave out the fault topology (the services that refuse, hang or lack a database).
    #[arg(long)]
    pub no_faults: bool,
    /// Directory of the Axum binaries [default: $CARGO_TARGET_DIR/debug]
    #[arg(long, env = "CRM_AXUM_BIN_DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Where the services' logs go, in a folder per stack [default: a fresh temp directory]
    #[arg(long, env = "CRM_LOG_DIR")]
    pub log_dir: Option<PathBuf>,
    /// The command to run while the stack is up.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PostgresArgs {
    /// The command to run while Postgres is up.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

pub fn execute_postgres(args: &PostgresArgs) -> Result<(), String> {
    let code =
        tooling::block_on_interruptible(with_postgres(args)).map_err(|e| format!("{e:#}"))?;
    std::process::exit(code);
}

async fn with_postgres(args: &PostgresArgs) -> Result<i32> {
    let mut server = Server::find_or_start().await?;
    eprintln!("crm-bench postgres: {}", server.describe());
    let outcome = run_command(
        &args.command,
        vec![(
            "CRM_PG_ADMIN_URL".to_string(),
            server.admin_url().to_string(),
        )],
    )
    .await;
    server.cleanup().await;
    outcome
}

/// Runs `command` with `env` added; its exit code (a command killed by a signal: 128 + the
/// signal, the shell's convention).
pub(crate) async fn run_command(command: &[String], env: Vec<(String, String)>) -> Result<i32> {
    let (program, rest) = command.split_first().context("no command given")?;
    let status = tokio::process::Command::new(program)
        .args(rest)
        .envs(env)
        .status()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(9)))
}

pub fn execute_stack(args: &StackArgs) -> Result<(), String> {
    let code = tooling::block_on_interruptible(run(args)).map_err(|e| format!("{e:#}"))?;
    std::process::exit(code);
}

async fn run(args: &StackArgs) -> Result<i32> {
    let (runtime, shape) = (args.runtime, args.shape);
    if shape == Shape::Node {
        return crate::local::node::run(runtime, args).await;
    }
    if let Some(dir) = &args.log_dir {
        // One folder per stack started: scripts/test.sh starts several under one log dir.
        let name = format!(
            "stack-{}-{:?}-{}",
            runtime.as_str(),
            shape,
            std::process::id()
        );
        procs::set_log_dir(&dir.join(name.to_lowercase()))?;
    }
    let mut bins = Binaries::from_env();
    if let Some(dir) = &args.bin_dir {
        bins.axum_dir = dir.clone();
    }
    if runtime == Runtime::Spin {
        bins.spin = Some(tooling::spin_cli()?);
    }
    bins.check(runtime)?;
    bins.install();

    let mut server = Server::find_or_start().await?;
    let outcome = with_stack(&mut server, runtime, shape, args).await;
    server.cleanup().await;
    outcome
}

async fn with_stack(
    server: &mut Server,
    runtime: Runtime,
    shape: Shape,
    args: &StackArgs,
) -> Result<i32> {
    let db = server.create_database("crm_stack").await?;
    let mut stack = Stack::start(runtime, shape, &db, UPSTREAM_TIMEOUT_MS).await?;
    let mut env = stack.env();
    let mut faults = None;
    if shape == Shape::Services && !args.no_faults {
        let started = Faults::start(runtime, &db).await?;
        env.extend(started.env());
        faults = Some(started);
    }
    eprintln!(
        "crm-bench stack: {} ({:?}) up, gateway {}; Postgres {}; logs in {}",
        runtime.as_str(),
        shape,
        stack.gateway_url,
        pg::hide_password(&db),
        procs::log_dir().display()
    );
    let code = run_command(&args.command, env).await;
    if let Some(faults) = faults.as_mut() {
        faults.stop(Duration::from_secs(5));
    }
    stack.stop(Duration::from_secs(5));
    code
}
