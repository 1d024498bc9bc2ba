//! What `crm-bench run` and `crm-bench stack` need around the measurements: an async runtime
//! that stops cleanly on Ctrl-C, the Spin CLI, release builds.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// Runs `body` on a single-threaded runtime (children are spawned from this thread, which
/// `PR_SET_PDEATHSIG` needs). Ctrl-C (or SIGTERM) drops the body, whose processes stop as
/// they are dropped, and then fails with "interrupted".
pub fn block_on_interruptible<T>(body: impl Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = body => result,
            _ = tokio::signal::ctrl_c() => bail!("interrupted (Ctrl-C): everything started was stopped"),
            _ = term.recv() => bail!("terminated (SIGTERM): everything started was stopped"),
        }
    })
}

/// The Spin CLI: `CRM_SPIN_BIN`, else scripts/lib/spin.sh (SPIN_BIN, PATH, or Spin's 3.5.1
/// release installed into ~/.cache/crm; it refuses any other version).
pub fn spin_cli() -> Result<PathBuf> {
    if let Ok(bin) = std::env::var("CRM_SPIN_BIN") {
        if !bin.trim().is_empty() {
            return Ok(PathBuf::from(bin.trim()));
        }
    }
    let resolver = crm_harness::repo_root().join("scripts/lib/spin.sh");
    let out = Command::new("bash")
        .arg(&resolver)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", resolver.display()))?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || path.is_empty() {
        bail!("no Spin 3.5.1 (above); or measure Axum alone with --stacks axum");
    }
    Ok(PathBuf::from(path))
}

/// What the Spin components measured were built with, as scripts/build-wasm.sh recorded it
/// beside them (toolchain, profile, wasm-opt's version and level), on one line; or that no
/// record was found, rather than an assumed build.
pub fn wasm_build_info() -> String {
    let path =
        crm_harness::repo_root().join("spin-crm/target/wasm32-wasip1/release/build-info.txt");
    match std::fs::read_to_string(&path) {
        Ok(text) => text.lines().map(str::trim).collect::<Vec<_>>().join("; "),
        Err(_) => format!("unknown build (no {})", path.display()),
    }
}

/// `spin --version`'s first two words, e.g. "spin 3.5.1".
pub fn spin_version(spin: &Path) -> String {
    Command::new(spin)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            text.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|| "spin (version unknown)".to_string())
}

/// Runs a build command with its output in `log`; on failure, the log's tail in the error.
pub fn build(what: &str, mut cmd: Command, log: &Path) -> Result<()> {
    let file =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    cmd.stdout(file.try_clone()?).stderr(file);
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{what} failed (log: {}):\n{}",
            log.display(),
            tail.join("\n")
        );
    }
    Ok(())
}

/// The cargo target directory builds go to (`CARGO_TARGET_DIR`, else the repository's).
pub fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crm_harness::repo_root().join("target"))
}

/// The default results folder name: the UTC time, e.g. 20261121T081530Z.
pub fn utc_stamp() -> String {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}
