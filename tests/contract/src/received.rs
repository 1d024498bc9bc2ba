//! [`Received`]: one complete response as the suite received it, with the accessors and
//! assertions tests read it through.

use std::collections::BTreeSet;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Service};
use crate::env::expected_runtime;
use crate::invariants::{self, parse_server_timing};
use crate::raw::RawResponse;

/// The `server-timing` entries of a data service's response that read or wrote the database
/// and encoded a document (`Received::assert_timing` adds the gateway's `gw`).
pub const DB_TIMING: &[&str] = &["conn", "query", "ser", "total"];
/// Entries of a response that touched Postgres but may not have encoded a JSON document.
pub const DB_TIMING_MIN: &[&str] = &["conn", "query", "total"];
/// `DB_TIMING` with the customer check (`verify`) of an order create.
pub const CREATE_TIMING: &[&str] = &["conn", "query", "verify", "ser", "total"];

/// One complete HTTP response, with the request that got it (for failure messages).
#[derive(Debug)]
pub struct Received {
    pub method: Method,
    pub url: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub(crate) fn from_raw(method: Method, url: String, response: RawResponse) -> Received {
        Received {
            method,
            url,
            status: response.status,
            headers: response.headers,
            body: response.body,
        }
    }

    /// `METHOD url -> status body`, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {} -> {} {}",
            self.method,
            self.url,
            self.status,
            String::from_utf8_lossy(&self.body)
        )
    }

    /// A header's value; several lines of one header are joined with ", " as HTTP allows.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .get_all(name)
            .iter()
            .map(|v| {
                v.to_str()
                    .unwrap_or_else(|_| panic!("{name} is not ASCII: {}", self.describe()))
            })
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.describe()))
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        self.assert_status(status);
        self.json()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) {
        assert_eq!(
            self.status,
            status,
            "unexpected status: {}",
            self.describe()
        );
    }

    /// Asserts an error response with this status and code; returns the `error` object.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        self.assert_status(status);
        let doc = self.json();
        assert_eq!(
            doc["error"]["code"],
            code,
            "unexpected error code: {}",
            self.describe()
        );
        doc["error"].clone()
    }

    /// Asserts `validation_failed` and returns the failing fields' names, in response order.
    #[track_caller]
    pub fn validation_fields(&self) -> Vec<String> {
        let error = self.assert_error(400, "validation_failed");
        error["fields"]
            .as_array()
            .expect("fields is an array")
            .iter()
            .map(|f| f["field"].as_str().expect("field is a string").to_string())
            .collect()
    }

    /// Asserts `validation_failed` naming exactly these fields, in this order.
    #[track_caller]
    pub fn assert_invalid_fields(&self, expected: &[&str]) {
        assert_eq!(
            self.validation_fields(),
            expected,
            "failing fields: {}",
            self.describe()
        );
    }

    #[track_caller]
    pub fn assert_service(&self, service: Service) {
        assert_eq!(
            self.header("x-crm-service").as_deref(),
            Some(service.name()),
            "x-crm-service: {}",
            self.describe()
        );
    }

    /// The `location` header (the contract's is a path such as `/customers/7`).
    #[track_caller]
    pub fn location(&self) -> String {
        self.header("location")
            .unwrap_or_else(|| panic!("no location header: {}", self.describe()))
    }

    /// The `allow` header's methods.
    #[track_caller]
    pub fn allowed_methods(&self) -> BTreeSet<String> {
        let allow = self
            .header("allow")
            .unwrap_or_else(|| panic!("no allow header: {}", self.describe()));
        allow.split(',').map(|m| m.trim().to_string()).collect()
    }

    #[track_caller]
    pub fn assert_empty_body(&self) {
        assert!(
            self.body.is_empty(),
            "expected no body: {}",
            self.describe()
        );
    }

    /// The names of the `server-timing` entries, in order (their format is checked on receipt).
    pub fn timing_names(&self) -> Vec<String> {
        self.header("server-timing")
            .map(|value| {
                parse_server_timing(&value)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A `server-timing` entry's duration in ms.
    pub fn timing(&self, name: &str) -> Option<f64> {
        let value = self.header("server-timing")?;
        parse_server_timing(&value)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d)
    }

    /// Asserts exactly these `server-timing` entries in this order, plus the gateway's `gw`
    /// last when `api` is a gateway.
    #[track_caller]
    pub fn assert_timing(&self, api: &Api, names: &[&str]) {
        let mut expected: Vec<&str> = names.to_vec();
        if api.is_gateway() {
            expected.push("gw");
        }
        assert_eq!(
            self.timing_names(),
            expected,
            "server-timing {:?}: {}",
            self.header("server-timing"),
            self.describe()
        );
    }

    /// Asserts these `server-timing` entries appear in this relative order (others may too),
    /// plus `gw` last when `api` is a gateway.
    #[track_caller]
    pub fn assert_timing_includes(&self, api: &Api, names: &[&str]) {
        let actual = self.timing_names();
        let mut rest = actual.iter();
        for name in names {
            assert!(
                rest.any(|n| n == name),
                "server-timing {actual:?} lacks {name:?} (in order {names:?}): {}",
                self.describe()
            );
        }
        if api.is_gateway() {
            assert_eq!(
                actual.last().map(String::as_str),
                Some("gw"),
                "the gateway appends gw last: {}",
                self.describe()
            );
        }
    }

    /// Asserts what every service response owes (the checks `Api` runs on each response), for
    /// a response read with `Api::send_raw`.
    #[track_caller]
    pub fn assert_invariants(&self) {
        invariants::check(self, &expected_runtime());
    }

    /// A refusal by the HTTP server itself, before any service code ran: hyper answers a
    /// malformed or oversized request head with a bare 400 or 431 (no body, no contract
    /// headers) and closes the connection (docs/api.md#hostile-input).
    pub fn is_bare_protocol_rejection(&self) -> bool {
        matches!(self.status, 400 | 408 | 413 | 414 | 431)
            && self.body.is_empty()
            && self.header("x-crm-runtime").is_none()
            && self
                .header("connection")
                .is_some_and(|c| c.eq_ignore_ascii_case("close"))
    }
}
