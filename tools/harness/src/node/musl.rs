//! The Axum images' binaries as plain processes: the static x86_64 musl executables
//! scripts/build-static.sh builds (musl's allocator; on a host without rustup's musl target,
//! Debian's rustc with `-Zbuild-std`) are what the runc containers run. Started as processes,
//! they separate what the container costs from what musl costs against the glibc build the
//! process columns measure.
//!
//! The whole process stack can run from them too: `CRM_AXUM_BIN_DIR=$(dirname of
//! [`static_bin_dir`])`, since they carry cargo's names (`axum-customer-service`, …).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::probe::wait_for_200;
use crate::procs::{free_port, Proc};
use crate::stack::{NOWHERE, START_LIMIT, UPSTREAM_TIMEOUT_MS};

/// The folder of the static binaries the images were built from (`bin/` of
/// scripts/build-axum-images.sh's folder; built when missing).
pub fn static_bin_dir() -> Result<PathBuf> {
    let dir = super::axum_images()?.join("bin");
    let bin = dir.join("axum-customer-service");
    if !bin.exists() {
        anyhow::bail!(
            "{} missing: scripts/build-axum-images.sh keeps the static binaries in bin/",
            bin.display()
        );
    }
    Ok(dir)
}

/// `axum-customer-service` of `bin_dir` as a process on a free port, on `database_url`, up
/// once `/readyz` answers 200 (its migrations ran); the process and its URL.
pub async fn start_customer_service(
    bin_dir: &Path,
    name: &str,
    database_url: &str,
) -> Result<(Proc, String)> {
    let port = free_port()?;
    let mut cmd = Command::new(bin_dir.join("axum-customer-service"));
    cmd.env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("METRICS_ADDR", format!("127.0.0.1:{}", free_port()?))
        .env("DATABASE_URL", database_url)
        .env("CUSTOMER_SERVICE_URL", NOWHERE)
        .env("ORDER_SERVICE_URL", NOWHERE)
        .env("UPSTREAM_TIMEOUT_MS", UPSTREAM_TIMEOUT_MS.to_string())
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
    let mut proc = Proc::spawn(name, cmd, libc::SIGTERM)?;
    let url = format!("http://127.0.0.1:{port}");
    wait_for_200(&format!("{url}/readyz"), START_LIMIT, Some(&mut proc)).await?;
    Ok((proc, url))
}

/// What a binary says built it: the `rustc version …` of its `.comment` section, and whether
/// it is static (no ELF interpreter). From `readelf`.
pub fn describe_binary(binary: &Path) -> Result<String> {
    let comment = Command::new("readelf")
        .args(["-p", ".comment"])
        .arg(binary)
        .output()
        .context("cannot run readelf")?;
    let text = String::from_utf8_lossy(&comment.stdout);
    let mut compilers: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(']').map(|(_, v)| v.trim().to_string()))
        .filter(|v| v.contains("rustc") || v.contains("GCC") || v.contains("clang"))
        .collect();
    compilers.sort();
    compilers.dedup();
    let headers = Command::new("readelf")
        .args(["-lW"])
        .arg(binary)
        .output()
        .context("cannot run readelf")?;
    let linking = if String::from_utf8_lossy(&headers.stdout).contains("INTERP") {
        "dynamic"
    } else {
        "static"
    };
    Ok(format!(
        "{linking}; {}",
        if compilers.is_empty() {
            "no .comment".to_string()
        } else {
            compilers.join(", ")
        }
    ))
}
