//! Spin variables: the components' configuration (`database_url`, `customer_service_url`,
//! `order_service_url`, `upstream_timeout_ms`), declared per component in `spin.toml`.

use std::time::Duration;

use crm_core::upstream::parse_timeout_ms;
use crm_core::ApiError;

/// A variable the component cannot work without; missing or unreadable is a deployment bug
/// (500, the name goes to the log only).
pub fn required(name: &str) -> Result<String, ApiError> {
    match spin_sdk::variables::get(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Ok(_) => {
            eprintln!("spin variable {name} is empty");
            Err(ApiError::internal())
        }
        Err(e) => {
            eprintln!("spin variable {name}: {e:?}");
            Err(ApiError::internal())
        }
    }
}

/// `upstream_timeout_ms`: a positive number of milliseconds; empty or absent means core's
/// default, as `UPSTREAM_TIMEOUT_MS` does for Axum.
pub fn upstream_timeout() -> Result<Duration, ApiError> {
    let raw = spin_sdk::variables::get("upstream_timeout_ms").unwrap_or_default();
    parse_timeout_ms(&raw).ok_or_else(|| {
        eprintln!("spin variable upstream_timeout_ms is not a positive integer: {raw:?}");
        ApiError::internal()
    })
}
