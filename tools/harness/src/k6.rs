//! Running a k6 script with typed settings. The scripts (`tests/k6/*-test.js`) read their
//! settings from the environment and write their summary to `SUMMARY_JSON`; reading that
//! summary is the results model's job (`crm-bench`), not this module's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::procs::Proc;

/// One k6 run.
#[derive(Clone, Debug)]
pub struct K6Run {
    /// The script, e.g. `tests/k6/load-test.js`.
    pub script: PathBuf,
    /// The script's settings (`BASE_URL`, `VUS`, `DURATION`, …), passed as environment.
    pub env: Vec<(String, String)>,
    /// Where the script writes its summary (`SUMMARY_JSON`).
    pub summary: PathBuf,
    /// k6's own output.
    pub log: PathBuf,
    /// A run still going after this has hung: it is stopped and reported as such.
    pub limit: Duration,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum K6Outcome {
    Passed,
    /// Exit 99: the summary is written and its figures stand; the report flags them.
    ThresholdsCrossed,
    Failed(Option<i32>),
    TimedOut,
}

impl K6Outcome {
    /// Whether the run produced figures worth keeping.
    pub fn has_figures(self) -> bool {
        matches!(self, K6Outcome::Passed | K6Outcome::ThresholdsCrossed)
    }
}

/// Runs the script and waits for it (polling: the caller's runtime keeps running).
pub async fn run(k6: &Path, run: &K6Run) -> Result<K6Outcome> {
    let mut cmd = Command::new(k6);
    cmd.args(["run", "--quiet", "--no-color"])
        .arg(&run.script)
        .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("SUMMARY_JSON", &run.summary)
        .env("K6_NO_USAGE_REPORT", "true");
    let mut proc = Proc::spawn_logged("k6", cmd, libc::SIGINT, run.log.clone())?;
    let Some(status) = proc.wait_exit_async(run.limit).await else {
        proc.stop(Duration::from_secs(10));
        return Ok(K6Outcome::TimedOut);
    };
    Ok(match status.code() {
        Some(0) => K6Outcome::Passed,
        Some(99) => K6Outcome::ThresholdsCrossed,
        code => K6Outcome::Failed(code),
    })
}

/// The k6 binary: on PATH (the scripts put the pinned one first there), else the project's
/// pinned k6, installed on first use by the tool table (`scripts/tools.sh`).
pub fn ensure_k6() -> Result<PathBuf> {
    match which("k6") {
        Some(k6) => Ok(k6),
        None => crate::tools::path("k6"),
    }
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
