//! The runtime floors (`axum-crm/floor`, `spin-crm/floor`): per runtime, the least a service
//! does for `GET /customers/{id}` (the same SELECT and pool size / per-request connection as
//! customer-service, the row as JSON, nothing else) and a bare `GET /hello`. The benchmark
//! reads each stack against its floor: what the runtime costs apart from this project's code.
//!
//! A floor never migrates: its database must hold the schema ([`crate::pg::migrate`]).

use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Result};

use crate::probe::wait_for_200;
use crate::procs::{free_port, Proc};
use crate::stack::{spin_database, spin_up, Binaries, Runtime, START_LIMIT};

/// A floor, running.
pub struct Floor {
    pub runtime: Runtime,
    /// `http://127.0.0.1:<port>`: `/customers/{id}`, `/hello`, `/healthz`.
    pub url: String,
    pub proc: Proc,
}

impl Floor {
    /// `(name, pid)` for sampling, as [`crate::stack::Stack::pids`].
    pub fn pids(&self) -> Vec<(String, i32)> {
        vec![("floor".to_string(), self.proc.pid())]
    }

    /// The stop signal, then SIGKILL after `grace` (dropping it does the same with 5 s).
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.proc.stop(grace)
    }
}

/// The floor of `runtime` on a free port, on `database_url`, answering `/healthz` (within
/// [`START_LIMIT`]).
pub async fn start(runtime: Runtime, database_url: &str) -> Result<Floor> {
    let mut floor = spawn(runtime, database_url)?;
    wait_for_200(
        &format!("{}/healthz", floor.url),
        START_LIMIT,
        Some(&mut floor.proc),
    )
    .await?;
    Ok(floor)
}

/// Starts the floor of `runtime` and returns at once (cold-start timing starts here).
pub fn spawn(runtime: Runtime, database_url: &str) -> Result<Floor> {
    let bins = Binaries::current();
    bins.check_floor(runtime)?;
    let port = free_port()?;
    let name = format!("{}-floor", runtime.as_str());
    let mut cmd = match runtime {
        Runtime::Axum => {
            let mut cmd = Command::new(axum_binary(bins));
            cmd.env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
                .env("DATABASE_URL", database_url);
            cmd
        }
        Runtime::Spin => {
            let mut cmd = spin_up(spin_manifest(bins), port, &name)?;
            cmd.envs(spin_database(database_url)?);
            cmd
        }
    };
    crate::budget::confine(&mut cmd);
    Ok(Floor {
        runtime,
        url: format!("http://127.0.0.1:{port}"),
        proc: Proc::spawn(&name, cmd, libc::SIGTERM)?,
    })
}

fn axum_binary(bins: &Binaries) -> PathBuf {
    bins.axum_dir.join("axum-floor")
}

fn spin_manifest(bins: &Binaries) -> PathBuf {
    bins.spin_dir.join("floor/spin.toml")
}

/// The built floor component the manifest runs.
fn spin_module(bins: &Binaries) -> PathBuf {
    bins.spin_dir
        .join("target/wasm32-wasip1/release/spin_floor.wasm")
}

impl Binaries {
    /// Fails, saying how to build it, when the floor of `runtime` is missing.
    pub fn check_floor(&self, runtime: Runtime) -> Result<()> {
        match runtime {
            Runtime::Axum => {
                let bin = axum_binary(self);
                if !bin.exists() {
                    bail!(
                        "{} missing: build it with `cargo build -p axum-floor` (--release for \
                         the benchmark), or point CRM_AXUM_BIN_DIR at the binaries",
                        bin.display()
                    );
                }
            }
            Runtime::Spin => {
                self.check_spin_cli()?;
                let wasm = spin_module(self);
                if !wasm.exists() {
                    bail!(
                        "{} missing: build it with `scripts/build-wasm.sh floor` (or \
                         scripts/build-wasm.sh, which builds every component)",
                        wasm.display()
                    );
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nowhere() -> Binaries {
        Binaries {
            axum_dir: PathBuf::from("/nonexistent/bin"),
            spin: Some(PathBuf::from("/bin/sh")),
            spin_dir: PathBuf::from("/nonexistent/spin-crm"),
        }
    }

    #[test]
    fn a_missing_floor_names_its_build_command() {
        let axum = nowhere().check_floor(Runtime::Axum).unwrap_err();
        assert!(
            axum.to_string().contains("cargo build -p axum-floor"),
            "{axum}"
        );
        let spin = nowhere().check_floor(Runtime::Spin).unwrap_err();
        assert!(
            spin.to_string().contains("scripts/build-wasm.sh floor"),
            "{spin}"
        );
    }
}
