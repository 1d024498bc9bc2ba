//! What a service does with an upstream's answer: the gateway's pass-through rule and the
//! order service's customer check (docs/api.md#pass-through-rules, #the-customer-check).

use std::time::Duration;

use crate::error::{contract_error_code, ErrorCode};
use crate::http::{Route, Service};
use crate::ApiError;

/// How long a service waits for an upstream's complete answer unless configured otherwise
/// (`UPSTREAM_TIMEOUT_MS`, Spin variable `upstream_timeout_ms`).
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(DEFAULT_TIMEOUT_MS);

/// A timeout setting as both stacks read it: `""` → [`DEFAULT_TIMEOUT`]; `"500"` → 500 ms;
/// anything else (`0`, `-1`, `2s`) → `None`.
pub fn parse_timeout_ms(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Some(DEFAULT_TIMEOUT);
    }
    raw.parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// The collections the gateway forwards, and the service that owns each.
pub const FORWARDED: [(Route, Service); 2] = [
    (Route::Customers, Service::CustomerService),
    (Route::Orders, Service::OrderService),
];

/// The service the gateway forwards `path` to: a collection itself or anything below it
/// (`/customers`, `/customers/…`), unseen, so the service judges it (404s and 405s included).
pub fn forwarded_to(path: &str) -> Option<Service> {
    FORWARDED.into_iter().find_map(|(collection, service)| {
        let rest = path.strip_prefix(collection.pattern())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(service)
    })
}

/// Response headers the gateway copies from an upstream (`server-timing` gets `gw` appended).
pub const PASSED_THROUGH_HEADERS: [&str; 7] = [
    "content-type",
    "retry-after",
    "location",
    "allow",
    "x-crm-service",
    "x-crm-runtime",
    "server-timing",
];

/// Request headers the gateway forwards.
pub const FORWARDED_REQUEST_HEADERS: [&str; 2] = ["content-type", "accept"];

/// What the gateway makes of an upstream answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayVerdict {
    /// Hand the upstream's status, headers and body to the client.
    PassThrough,
    /// Answer with this error instead.
    Replace(ApiError),
}

/// 2xx, 3xx and 4xx pass through untouched; a 502/503/504 that is a contract error passes
/// through (a live upstream reporting its own dependency); any other 5xx is 502.
pub fn gateway_verdict(upstream: &str, status: u16, body: &[u8]) -> GatewayVerdict {
    if status < 500 {
        return GatewayVerdict::PassThrough;
    }
    let reports_dependency = matches!(
        contract_error_code(body),
        Some(
            ErrorCode::UpstreamUnavailable
                | ErrorCode::DatabaseUnavailable
                | ErrorCode::UpstreamTimeout
                | ErrorCode::Overloaded
        )
    );
    if reports_dependency && matches!(status, 502..=504) {
        GatewayVerdict::PassThrough
    } else {
        GatewayVerdict::Replace(ApiError::upstream_unavailable(upstream))
    }
}

/// The order service's reading of customer-service's `GET /customers/{id}` (status and body).
/// customer-service shedding load is the order service's own overload: 503 `overloaded`, so the
/// client retries later instead of taking a 502 for a broken dependency.
pub fn customer_check(customer_id: i64, status: u16, body: &[u8]) -> Result<(), ApiError> {
    match status {
        200 => Ok(()),
        404 => Err(ApiError::customer_not_found(customer_id)),
        503 if contract_error_code(body) == Some(ErrorCode::Overloaded) => {
            Err(ApiError::overloaded())
        }
        _ => Err(ApiError::upstream_unavailable("customer-service")),
    }
}

/// `base` + `path_and_query`, whatever trailing slash `base` has.
pub fn join_url(base: &str, path_and_query: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path_and_query)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_hundreds_pass_through_untouched() {
        for status in [200, 201, 204, 400, 404, 405, 409, 413, 415] {
            assert_eq!(
                gateway_verdict("x", status, b"whatever"),
                GatewayVerdict::PassThrough
            );
        }
    }

    #[test]
    fn dependency_errors_pass_through_other_5xx_become_502() {
        let db = ApiError::database_unavailable();
        assert_eq!(
            gateway_verdict("x", 503, &db.to_json()),
            GatewayVerdict::PassThrough
        );
        let shed = ApiError::overloaded();
        assert_eq!(
            gateway_verdict("x", 503, &shed.to_json()),
            GatewayVerdict::PassThrough
        );
        let timeout = ApiError::upstream_timeout("customer-service");
        assert_eq!(
            gateway_verdict("x", 504, &timeout.to_json()),
            GatewayVerdict::PassThrough
        );
        for (status, body) in [
            (500, ApiError::internal().to_json()),
            (503, b"Service Unavailable".to_vec()),
            (502, b"<html>bad gateway</html>".to_vec()),
            (500, db.to_json()),
        ] {
            match gateway_verdict("order-service", status, &body) {
                GatewayVerdict::Replace(e) => assert_eq!(e.code, ErrorCode::UpstreamUnavailable),
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn customer_check_outcomes() {
        assert_eq!(customer_check(1, 200, b""), Ok(()));
        assert_eq!(
            customer_check(1, 404, b"").unwrap_err().code,
            ErrorCode::CustomerNotFound
        );
        assert_eq!(
            customer_check(1, 503, &ApiError::database_unavailable().to_json())
                .unwrap_err()
                .code,
            ErrorCode::UpstreamUnavailable
        );
        assert_eq!(
            customer_check(1, 503, &ApiError::overloaded().to_json())
                .unwrap_err()
                .code,
            ErrorCode::Overloaded
        );
        assert_eq!(
            customer_check(1, 400, b"").unwrap_err().code,
            ErrorCode::UpstreamUnavailable
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout_ms(""), Some(DEFAULT_TIMEOUT));
        assert_eq!(parse_timeout_ms(" 500 "), Some(Duration::from_millis(500)));
        for bad in ["0", "-1", "2s", "1.5"] {
            assert_eq!(parse_timeout_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn collections_and_what_is_below_them_are_forwarded() {
        for (path, to) in [
            ("/customers", Some(Service::CustomerService)),
            ("/customers/", Some(Service::CustomerService)),
            ("/customers/1/x", Some(Service::CustomerService)),
            ("/orders", Some(Service::OrderService)),
            ("/orders/ping", Some(Service::OrderService)),
            ("/customersx", None),
            ("/compute", None),
            ("/", None),
        ] {
            assert_eq!(forwarded_to(path), to, "{path}");
        }
    }

    #[test]
    fn urls_join_whatever_the_slash() {
        assert_eq!(
            join_url("http://a:1/", "/customers?x=1"),
            "http://a:1/customers?x=1"
        );
        assert_eq!(join_url("http://a:1", "/customers"), "http://a:1/customers");
    }
}
