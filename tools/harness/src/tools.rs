//! The project's tool table (`scripts/lib/tools.sh`), the one place that knows where each tool
//! comes from and how it is installed (Debian packages as root or through sudo, PyPI tools into
//! pinned venvs). The harness asks it rather than installing anything itself, so a tool is
//! installed the same way whether a script or crm-bench needs it first.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

fn tools_sh() -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(crate::repo_root().join("scripts/tools.sh"));
    cmd
}

/// Installs `tool` when it is missing; the error says what to install when it cannot.
pub fn ensure(tool: &str) -> Result<()> {
    let status = tools_sh()
        .args(["ensure", tool])
        .status()
        .context("cannot run scripts/tools.sh")?;
    if !status.success() {
        bail!("{tool} is missing and could not be installed (scripts/tools.sh said why, above)");
    }
    Ok(())
}

/// The command to run for `tool`, installed first when missing.
pub fn path(tool: &str) -> Result<PathBuf> {
    let out = tools_sh()
        .args(["path", tool])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run scripts/tools.sh")?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || path.is_empty() {
        bail!("{tool} is missing and could not be installed (scripts/tools.sh said why, above)");
    }
    Ok(PathBuf::from(path))
}
