//! Configuration: Spin variables (`database_url`, `customer_service_url`, `order_service_url`,
//! `upstream_timeout_ms`), declared per component in `spin.toml`. They are read per request,
//! as Spin serves them; a missing one is a deployment bug, answered 500.

use std::time::Duration;

use crm_core::http::Service;
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

/// `database_url`.
pub fn database_url() -> Result<String, ApiError> {
    required("database_url")
}

/// The base URL of `service`: `customer_service_url` or `order_service_url`.
pub fn service_url(service: Service) -> Result<String, ApiError> {
    match service {
        Service::CustomerService => required("customer_service_url"),
        Service::OrderService => required("order_service_url"),
        Service::Gateway => {
            eprintln!("no service calls the gateway");
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
