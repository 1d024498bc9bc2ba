//! Calls to another service over wasi:http 0.2 with the contract's timeout.
//!
//! spin-sdk's `http::send` passes no request options, so this goes one level down, to the
//! `wasi:http/outgoing-handler` binding spin-sdk generates, and does two things:
//!
//! - it sets the wasi:http `request-options` (connect, first-byte and between-bytes timeouts)
//!   to the timeout, which Spin's outbound HTTP honours for real network calls;
//! - it enforces one deadline for the *complete* answer itself, by polling every wait together
//!   with a `wasi:clocks` timer, because a request-option timeout bounds each phase rather than
//!   the whole exchange, and is not applied to requests Spin answers in-process (service
//!   chaining to `*.spin.internal`).
//!
//! A timeout is [`Failure::Timeout`] (504 `upstream_timeout`); anything else that keeps an
//! answer from arriving (refused, reset, DNS, a host not in `allowed_outbound_hosts`) is
//! [`Failure::Unavailable`] (502 `upstream_unavailable`).

use std::time::Duration;

use crm_core::http::Service;
use crm_core::upstream::join_url;
use crm_core::ApiError;
use spin_sdk::http::Method;
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::{
    self, ErrorCode, Fields, IncomingBody, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{poll, Pollable};
use wasi::io::streams::{OutputStream, StreamError};

/// An upstream's complete response.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: u16,
    /// Header names as the upstream sent them (wasi:http lower-cases them).
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl UpstreamResponse {
    /// The first value of a header, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }
}

/// Why no complete response came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    Unavailable(String),
}

impl Failure {
    /// The contract's error for a failed call to `upstream` (a service name).
    pub fn to_api_error(&self, upstream: &str) -> ApiError {
        eprintln!("call to {upstream} failed: {self:?}");
        match self {
            Failure::Timeout => ApiError::upstream_timeout(upstream),
            Failure::Unavailable(_) => ApiError::upstream_unavailable(upstream),
        }
    }
}

/// One request to another service, within `upstream_timeout_ms`.
pub struct Call<'a> {
    method: Method,
    /// Absolute: `http://host:port/path?query`.
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<&'a [u8]>,
    timeout: Duration,
}

impl<'a> Call<'a> {
    /// `method path_and_query` on `service`, its base URL and the timeout read from the
    /// component's variables.
    pub fn to(service: Service, method: Method, path_and_query: &str) -> Result<Self, ApiError> {
        let base = crate::config::service_url(service)?;
        Ok(Call {
            method,
            url: join_url(&base, path_and_query),
            headers: Vec::new(),
            body: None,
            timeout: crate::config::upstream_timeout()?,
        })
    }

    /// `GET path` on `service`, asking for JSON: the customer check, the readiness probes.
    pub fn get(service: Service, path: &str) -> Result<Self, ApiError> {
        Ok(Self::to(service, Method::Get, path)?.header("accept", b"application/json"))
    }

    pub fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.headers.push((name.to_owned(), value.to_vec()));
        self
    }

    /// The request body, announced with its `content-length`.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        let length = body.len().to_string();
        self.body = Some(body);
        self.header("content-length", length.as_bytes())
    }

    /// Sends the request and reads the whole response within the timeout.
    pub fn send(self) -> Result<UpstreamResponse, Failure> {
        send(self)
    }
}

fn send(call: Call<'_>) -> Result<UpstreamResponse, Failure> {
    let deadline = Deadline::after(call.timeout);
    let (scheme, authority, path_and_query) = split_url(&call.url)
        .ok_or_else(|| Failure::Unavailable(format!("not an absolute http URL: {}", call.url)))?;

    let headers = Fields::new();
    for (name, value) in &call.headers {
        headers
            .append(name, value)
            .map_err(|e| Failure::Unavailable(format!("header {name}: {e:?}")))?;
    }
    let request = OutgoingRequest::new(headers);
    let invalid = |what: &str| Failure::Unavailable(format!("invalid request {what}"));
    request
        .set_method(&call.method)
        .map_err(|()| invalid("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| invalid("authority"))?;
    request
        .set_path_with_query(Some(path_and_query))
        .map_err(|()| invalid("path"))?;
    let outgoing_body = request.body().map_err(|()| invalid("body"))?;
    let stream = outgoing_body
        .write()
        .map_err(|()| Failure::Unavailable("request body not writable".into()))?;

    // The body goes in before the request is handed to the host, whole and finished when the
    // host takes it at once (the contract's bodies are small: it always does). Handed over
    // first, Spin's HTTP client writes the head alone and the body in a second segment; Spin
    // 3.5.1 opens outbound connections without TCP_NODELAY (crates/factor-outbound-http/src/
    // wasi.rs:598, `TcpStream::connect`), so Nagle holds the body until the head's ACK, which
    // the upstream's kernel delays: about 40 ms on every POST and PUT between two `spin up`s.
    let rest = write_at_once(&stream, call.body.unwrap_or_default())?;
    let pending = if rest.is_empty() {
        drop(stream);
        OutgoingBody::finish(outgoing_body, None).map_err(|code| classify(&code))?;
        None
    } else {
        Some((outgoing_body, stream))
    };

    let future = outgoing_handler::handle(request, Some(options(call.timeout)))
        .map_err(|code| classify(&code))?;
    if let Some((outgoing_body, stream)) = pending {
        write_body(outgoing_body, stream, rest, &deadline)?;
    }

    let response = loop {
        match future.get() {
            Some(Ok(Ok(response))) => break response,
            Some(Ok(Err(code))) => return Err(classify(&code)),
            Some(Err(())) => return Err(Failure::Unavailable("response taken twice".into())),
            None => deadline.wait(&future.subscribe())?,
        }
    };
    let status = response.status();
    let headers = response.headers().entries();
    let body = response
        .consume()
        .map_err(|()| Failure::Unavailable("response body unavailable".into()))?;
    let body = read_body(body, &deadline)?;
    Ok(UpstreamResponse {
        status,
        headers,
        body,
    })
}

/// The wasi:http timeouts, all set to the call's timeout (a host that does not support one
/// keeps its default; the deadline still applies).
fn options(timeout: Duration) -> RequestOptions {
    let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));
    options
}

/// Writes all of `bytes` if the stream takes them without waiting, else nothing; returns what
/// is left to write.
fn write_at_once<'b>(stream: &OutputStream, bytes: &'b [u8]) -> Result<&'b [u8], Failure> {
    if bytes.is_empty() {
        return Ok(bytes);
    }
    match stream.check_write() {
        Ok(n) if usize::try_from(n).unwrap_or(usize::MAX) >= bytes.len() => {
            stream.write(bytes).map_err(|e| stream_failure(&e))?;
            Ok(&[])
        }
        Ok(_) | Err(StreamError::Closed) => Ok(bytes),
        Err(e) => Err(stream_failure(&e)),
    }
}

/// The rest of the body, once the request is on its way, within the deadline.
fn write_body(
    body: OutgoingBody,
    stream: OutputStream,
    bytes: &[u8],
    deadline: &Deadline,
) -> Result<(), Failure> {
    {
        let stream = stream;
        // `Closed` means the host will take no more: with a `content-length` it closes once that
        // many bytes are in, and an upstream that answers before reading everything closes it
        // early. Either way the answer decides, so writing just stops.
        let mut rest = bytes;
        while !rest.is_empty() {
            let permitted = match stream.check_write() {
                Ok(0) => {
                    deadline.wait(&stream.subscribe())?;
                    continue;
                }
                Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Err(StreamError::Closed) => return Ok(()),
                Err(e) => return Err(stream_failure(&e)),
            };
            let n = rest.len().min(permitted);
            match stream.write(&rest[..n]) {
                Ok(()) => rest = &rest[n..],
                Err(StreamError::Closed) => return Ok(()),
                Err(e) => return Err(stream_failure(&e)),
            }
        }
        match stream.flush() {
            Ok(()) => {}
            Err(StreamError::Closed) => return Ok(()),
            Err(e) => return Err(stream_failure(&e)),
        }
        // The flush is done when the stream accepts writes again.
        loop {
            match stream.check_write() {
                Ok(0) => deadline.wait(&stream.subscribe())?,
                Ok(_) | Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_failure(&e)),
            }
        }
    }
    OutgoingBody::finish(body, None).map_err(|code| classify(&code))
}

fn read_body(body: IncomingBody, deadline: &Deadline) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    {
        let stream = body
            .stream()
            .map_err(|()| Failure::Unavailable("response body not readable".into()))?;
        loop {
            match stream.read(64 * 1024) {
                Ok(chunk) if chunk.is_empty() => deadline.wait(&stream.subscribe())?,
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(e) => return Err(stream_failure(&e)),
            }
        }
    }
    drop(IncomingBody::finish(body));
    Ok(bytes)
}

fn stream_failure(err: &StreamError) -> Failure {
    match err {
        StreamError::Closed => Failure::Unavailable("stream closed".into()),
        StreamError::LastOperationFailed(io) => match types::http_error_code(io) {
            Some(code) => classify(&code),
            None => Failure::Unavailable(io.to_debug_string()),
        },
    }
}

/// Timeouts of any phase are timeouts; every other error is "unavailable".
fn classify(code: &ErrorCode) -> Failure {
    match code {
        ErrorCode::ConnectionTimeout
        | ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => Failure::Timeout,
        other => Failure::Unavailable(format!("{other:?}")),
    }
}

/// A monotonic-clock instant after which waiting stops.
struct Deadline(monotonic_clock::Instant);

impl Deadline {
    fn after(timeout: Duration) -> Self {
        let nanos = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        Deadline(monotonic_clock::now().saturating_add(nanos))
    }

    /// Blocks until `ready` is ready or the deadline passes.
    fn wait(&self, ready: &Pollable) -> Result<(), Failure> {
        let timer = monotonic_clock::subscribe_instant(self.0);
        let woke = poll(&[ready, &timer]);
        if woke.contains(&0) {
            Ok(())
        } else {
            Err(Failure::Timeout)
        }
    }
}

/// `http://host:port/path?q` → (scheme, `host:port`, `/path?q`).
fn split_url(url: &str) -> Option<(Scheme, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        _ => return None,
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || !path.starts_with('/') {
        return None;
    }
    Some((scheme, authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let (s, a, p) = split_url("http://customer-service.spin.internal/customers/1?x=1").unwrap();
        assert!(matches!(s, Scheme::Http));
        assert_eq!(
            (a, p),
            ("customer-service.spin.internal", "/customers/1?x=1")
        );
        let (_, a, p) = split_url("https://127.0.0.1:8001").unwrap();
        assert_eq!((a, p), ("127.0.0.1:8001", "/"));
        assert!(split_url("customer-service:8001/x").is_none());
        assert!(split_url("ftp://x/").is_none());
        assert!(split_url("http:///x").is_none());
        assert!(split_url("http://a?b").is_none());
    }
}
