//! The contract's error codes and its one error document.

use serde::Serialize;

/// Every code the contract allows, and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidBody,
    ValidationFailed,
    InvalidParameter,
    CustomerNotFound,
    NotFound,
    MethodNotAllowed,
    InvalidStatusTransition,
    PayloadTooLarge,
    UnsupportedMediaType,
    Internal,
    UpstreamUnavailable,
    DatabaseUnavailable,
    UpstreamTimeout,
    Overloaded,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::InvalidBody,
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidParameter,
        ErrorCode::CustomerNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::InvalidStatusTransition,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Internal,
        ErrorCode::UpstreamUnavailable,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::UpstreamTimeout,
        ErrorCode::Overloaded,
    ];

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidBody
            | ErrorCode::ValidationFailed
            | ErrorCode::InvalidParameter
            | ErrorCode::CustomerNotFound => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::InvalidStatusTransition => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::Internal => 500,
            ErrorCode::UpstreamUnavailable => 502,
            ErrorCode::DatabaseUnavailable | ErrorCode::Overloaded => 503,
            ErrorCode::UpstreamTimeout => 504,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidBody => "invalid_body",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::CustomerNotFound => "customer_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::InvalidStatusTransition => "invalid_status_transition",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Internal => "internal",
            ErrorCode::UpstreamUnavailable => "upstream_unavailable",
            ErrorCode::DatabaseUnavailable => "database_unavailable",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Overloaded => "overloaded",
        }
    }

    /// The `retry-after` header (seconds) its answer carries: the 503s, which say "this passes,
    /// come back", and nothing else.
    pub fn retry_after(self) -> Option<&'static str> {
        matches!(self, ErrorCode::DatabaseUnavailable | ErrorCode::Overloaded)
            .then_some(RETRY_AFTER_SECS)
    }

    pub fn parse(code: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == code)
    }
}

/// The `retry-after` of a 503 (seconds). One second: a shed request costs the service almost
/// nothing, and an outage of Postgres is usually a restart of a few seconds; clients that honour
/// the header spread their retries over the next seconds instead of retrying at once.
pub const RETRY_AFTER_SECS: &str = "1";

/// One failing field of a `validation_failed` error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// An error answer of the contract: a code (which fixes the HTTP status), a message for people,
/// and for `validation_failed` the list of failing fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
    /// For 405 only: the `allow` header value.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct ErrorDocument<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [FieldError]>,
}

/// The longest `message` (in characters): messages quote the offending input (a path id, a
/// query value, serde's view of a body), which a client controls; past this they are cut, so an
/// answer never reflects kilobytes of a hostile URL or body back.
pub const MESSAGE_MAX_CHARS: usize = 200;

fn bounded(mut message: String) -> String {
    if message.char_indices().nth(MESSAGE_MAX_CHARS).is_some() {
        let (cut, _) = message
            .char_indices()
            .nth(MESSAGE_MAX_CHARS - 1)
            .expect("longer");
        message.truncate(cut);
        message.push('…');
    }
    message
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: bounded(message.into()),
            fields: Vec::new(),
            allow: None,
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn validation(fields: Vec<FieldError>) -> Self {
        ApiError {
            fields,
            ..ApiError::new(
                ErrorCode::ValidationFailed,
                "the request body breaks one or more rules",
            )
        }
    }

    pub fn invalid_body(detail: impl std::fmt::Display) -> Self {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!("the request body is not valid: {detail}"),
        )
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidParameter, message)
    }

    pub fn not_found() -> Self {
        ApiError::new(ErrorCode::NotFound, "no such resource")
    }

    pub fn customer_not_found(customer_id: i64) -> Self {
        ApiError::new(
            ErrorCode::CustomerNotFound,
            format!("customer {customer_id} does not exist"),
        )
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("method not allowed; allowed: {allow}"),
            )
        }
    }

    pub fn payload_too_large() -> Self {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "the request body is larger than {} bytes",
                crate::http::MAX_BODY_BYTES
            ),
        )
    }

    pub fn unsupported_media_type() -> Self {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request body must be sent with content-type: application/json",
        )
    }

    /// A bug. The message never carries the cause: log it, don't send it.
    pub fn internal() -> Self {
        ApiError::new(ErrorCode::Internal, "internal error")
    }

    pub fn database_unavailable() -> Self {
        ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database is unavailable",
        )
    }

    /// The service is at its limit of requests in flight and refused this one before doing any
    /// of its work (nothing was read or written): retry after `retry-after`.
    pub fn overloaded() -> Self {
        ApiError::new(
            ErrorCode::Overloaded,
            "the service is at its limit of requests in flight; retry later",
        )
    }

    pub fn upstream_unavailable(upstream: &str) -> Self {
        ApiError::new(
            ErrorCode::UpstreamUnavailable,
            format!("{upstream} is unavailable"),
        )
    }

    pub fn upstream_timeout(upstream: &str) -> Self {
        ApiError::new(
            ErrorCode::UpstreamTimeout,
            format!("{upstream} did not answer in time"),
        )
    }

    /// The JSON document sent as the response body.
    pub fn to_json(&self) -> Vec<u8> {
        let doc = ErrorDocument {
            error: ErrorBody {
                code: self.code,
                message: &self.message,
                fields: (self.code == ErrorCode::ValidationFailed).then_some(&self.fields[..]),
            },
        };
        serde_json::to_vec(&doc).expect("an error document always serialises")
    }
}

/// Whether a response body is one of the contract's error documents, and which code it names.
pub fn contract_error_code(body: &[u8]) -> Option<ErrorCode> {
    #[derive(serde::Deserialize)]
    struct Doc {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: String,
    }
    let doc: Doc = serde_json::from_slice(body).ok()?;
    ErrorCode::parse(&doc.error.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn messages_quoting_hostile_input_are_cut() {
        let short = ApiError::invalid_parameter("id must be a positive integer, got \"x\"");
        assert_eq!(short.message, "id must be a positive integer, got \"x\"");
        let long = ApiError::invalid_parameter(format!("got {:?}", "é".repeat(100_000)));
        assert_eq!(long.message.chars().count(), MESSAGE_MAX_CHARS);
        assert!(long.message.ends_with('…'));
        let exact = ApiError::new(ErrorCode::InvalidBody, "x".repeat(MESSAGE_MAX_CHARS));
        assert_eq!(exact.message, "x".repeat(MESSAGE_MAX_CHARS));
    }

    #[test]
    fn every_code_round_trips_and_has_its_contract_status() {
        let expected = [
            ("invalid_body", 400),
            ("validation_failed", 400),
            ("invalid_parameter", 400),
            ("customer_not_found", 400),
            ("not_found", 404),
            ("method_not_allowed", 405),
            ("invalid_status_transition", 409),
            ("payload_too_large", 413),
            ("unsupported_media_type", 415),
            ("internal", 500),
            ("upstream_unavailable", 502),
            ("database_unavailable", 503),
            ("upstream_timeout", 504),
            ("overloaded", 503),
        ];
        assert_eq!(ErrorCode::ALL.len(), expected.len());
        for (name, status) in expected {
            let code = ErrorCode::parse(name).expect(name);
            assert_eq!(code.as_str(), name);
            assert_eq!(code.status(), status, "{name}");
        }
        assert_eq!(ErrorCode::parse("teapot"), None);
    }

    #[test]
    fn fields_appear_only_with_validation_failed() {
        let v: Value = serde_json::from_slice(&ApiError::not_found().to_json()).unwrap();
        assert_eq!(v["error"]["code"], "not_found");
        assert!(v["error"].get("fields").is_none());

        let err = ApiError::validation(vec![FieldError {
            field: "email",
            message: "is required".into(),
        }]);
        let v: Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(v["error"]["code"], "validation_failed");
        assert_eq!(v["error"]["fields"][0]["field"], "email");
        assert_eq!(v["error"]["fields"][0]["message"], "is required");
    }

    #[test]
    fn contract_error_code_recognises_only_contract_documents() {
        assert_eq!(
            contract_error_code(&ApiError::database_unavailable().to_json()),
            Some(ErrorCode::DatabaseUnavailable)
        );
        assert_eq!(contract_error_code(br#"{"error":{"code":"boom"}}"#), None);
        assert_eq!(contract_error_code(b"<html>502</html>"), None);
    }

    #[test]
    fn only_the_503s_carry_retry_after() {
        for code in ErrorCode::ALL {
            assert_eq!(
                code.retry_after().is_some(),
                code.status() == 503,
                "{}",
                code.as_str()
            );
        }
    }

    #[test]
    fn internal_never_carries_a_cause() {
        assert_eq!(ApiError::internal().message, "internal error");
    }
}
