//! The environment: the URLs and settings a run is given (tests/contract/README.md), each read
//! when a test needs it, so a missing one fails that test by name instead of skipping it.

use std::time::Duration;

/// Upper bound for one ordinary request. Generous because `/compute` is CPU-bound and the
/// machine may be busy; it exists only so that a hang fails the test.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// How much later than the configured upstream timeout a 504 may arrive before we call it a hang.
const FAULT_MARGIN: Duration = Duration::from_secs(5);

/// A required environment variable; a missing one fails the test that needs it, by name.
pub fn env_var(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value.trim().to_string(),
        _ => panic!(
            "environment variable {name} is not set; the contract suite needs it \
             (see tests/contract/README.md)"
        ),
    }
}

/// A required base URL, without a trailing `/` (paths are appended to it).
pub(crate) fn env_url(name: &str) -> String {
    env_var(name).trim_end_matches('/').to_string()
}

/// `CRM_RUNTIME`: the `x-crm-runtime` every response must carry.
pub fn expected_runtime() -> String {
    let runtime = env_var("CRM_RUNTIME");
    assert!(
        runtime == "axum" || runtime == "spin",
        "CRM_RUNTIME must be `axum` or `spin`, not {runtime:?}"
    );
    runtime
}

/// `CRM_FAULT_TIMEOUT_MS`: the UPSTREAM_TIMEOUT_MS of the fault services.
pub fn fault_timeout() -> Duration {
    let raw = env_var("CRM_FAULT_TIMEOUT_MS");
    let ms: u64 = raw
        .parse()
        .unwrap_or_else(|_| panic!("CRM_FAULT_TIMEOUT_MS must be milliseconds, not {raw:?}"));
    Duration::from_millis(ms)
}

/// The bound on a fault service's answer: its upstream timeout plus a margin; later is a hang.
pub(crate) fn fault_bound() -> Duration {
    fault_timeout() + FAULT_MARGIN
}
