//! `crm-bench stack axum|spin --shape node -- COMMAND…`: the stack as containers of the node
//! runtime (crm_harness::node): a private containerd 1.7 and a loopback registry, the Spin
//! services under containerd-shim-spin from their `spin registry push` artifacts, the Axum
//! services under runc from their static scratch images, each with its manifest's resources
//! as cgroup limits (read back and checked before the command runs). Then the command, with
//! the stack's CRM_* URLs, then everything stopped: a stop that leaves a process, mount,
//! cgroup, socket or image store behind fails the run. Needs root.

use std::time::Duration;

use anyhow::Result;
use crm_harness::node::NodeStack;
use crm_harness::pg::{self, Server};
use crm_harness::procs;
use crm_harness::stack::{Binaries, Runtime, UPSTREAM_TIMEOUT_MS};

use crate::local::tooling;
use crate::local::wrap::{run_command, StackArgs};

pub async fn run(runtime: Runtime, args: &StackArgs) -> Result<i32> {
    if let Some(dir) = &args.log_dir {
        let name = format!("stack-{}-node-{}", runtime.as_str(), std::process::id());
        procs::set_log_dir(&dir.join(name))?;
    }
    let spin = match runtime {
        Runtime::Spin => {
            let mut bins = Binaries::from_env();
            let spin = tooling::spin_cli()?;
            bins.spin = Some(spin.clone());
            bins.check(Runtime::Spin)?;
            bins.install();
            Some(spin)
        }
        Runtime::Axum => None,
    };
    let mut server = Server::find_or_start().await?;
    let outcome = with_node_stack(&mut server, runtime, spin, args).await;
    server.cleanup().await;
    outcome
}

async fn with_node_stack(
    server: &mut Server,
    runtime: Runtime,
    spin: Option<std::path::PathBuf>,
    args: &StackArgs,
) -> Result<i32> {
    let db = server.create_database("crm_node").await?;
    let mut stack = NodeStack::start(runtime, &db, spin.as_deref(), UPSTREAM_TIMEOUT_MS).await?;
    for (svc, took) in &stack.first_200 {
        eprintln!(
            "crm-bench stack: {} {}: first /healthz 200 {:.0} ms after ctr run",
            runtime.as_str(),
            svc.as_str(),
            took.as_secs_f64() * 1000.0
        );
    }
    for line in stack.describe_cgroups()? {
        eprintln!("crm-bench stack: cgroup {line}");
    }
    let checked = stack.check_cgroups();
    let code = match checked {
        Ok(()) => {
            eprintln!(
                "crm-bench stack: {} (node runtime: containerd {}, {}) up, gateway {}; Postgres {}; logs in {}",
                runtime.as_str(),
                crm_harness::node::pins::CONTAINERD_VERSION,
                match runtime {
                    Runtime::Spin => format!(
                        "containerd-shim-spin {} (Spin {})",
                        crm_harness::node::pins::SHIM_VERSION,
                        crm_harness::node::pins::SHIM_SPIN_VERSION
                    ),
                    Runtime::Axum => "runc".to_string(),
                },
                stack.gateway_url,
                pg::hide_password(&db),
                procs::log_dir().display()
            );
            run_command(&args.command, stack.env()).await
        }
        Err(e) => Err(e),
    };
    let stopped = stack.stop(Duration::from_secs(5));
    match &stopped {
        Ok(report) => {
            for (id, exit) in &report.exits {
                eprintln!("crm-bench stack: {id} stopped: {exit}");
            }
            eprintln!(
                "crm-bench stack: node runtime stopped in {:.1} s; nothing left behind (processes, mounts, cgroups, sockets, image store)",
                report.took.as_secs_f64()
            );
        }
        Err(e) => eprintln!("crm-bench stack: {e:#}"),
    }
    let code = code?;
    stopped?;
    Ok(code)
}
