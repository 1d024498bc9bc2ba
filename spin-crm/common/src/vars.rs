//! Spin variables: the components' configuration (`database_url`, `customer_service_url`,
//! `order_service_url`, `upstream_timeout_ms`), declared per component in `spin.toml`.

use std::time::Duration;

use crm_core::ApiError;

/// `upstream_timeout_ms` when the manifest leaves it empty: the contract's default.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_millis(2000);

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

/// `upstream_timeout_ms`: a positive number of milliseconds; empty or absent means the default.
pub fn upstream_timeout() -> Result<Duration, ApiError> {
    let raw = spin_sdk::variables::get("upstream_timeout_ms").unwrap_or_default();
    parse_timeout_ms(&raw).ok_or_else(|| {
        eprintln!("spin variable upstream_timeout_ms is not a positive integer: {raw:?}");
        ApiError::internal()
    })
}

/// `""` → the default; `"500"` → 500 ms; anything else (`0`, `-1`, `2s`) → `None`.
pub fn parse_timeout_ms(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(DEFAULT_UPSTREAM_TIMEOUT);
    }
    raw.parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout_ms(""), Some(DEFAULT_UPSTREAM_TIMEOUT));
        assert_eq!(parse_timeout_ms(" 500 "), Some(Duration::from_millis(500)));
        for bad in ["0", "-1", "2s", "1.5"] {
            assert_eq!(parse_timeout_ms(bad), None, "{bad}");
        }
    }
}
