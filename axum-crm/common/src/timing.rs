//! Per-request timing (`server-timing`) and the success answers handlers build.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::header::LOCATION;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use crm_core::http::HEADER_SERVER_TIMING;
use crm_core::timing::{Phase, ServerTiming};
use crm_core::ApiError;
use serde::Serialize;

use crate::error::{error_response, json_response};

/// A handler's success: status, optional JSON document, optional `location`.
#[derive(Debug)]
pub struct Reply<T> {
    status: StatusCode,
    body: Option<T>,
    location: Option<String>,
}

impl<T> Reply<T> {
    pub fn ok(body: T) -> Self {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            location: None,
        }
    }

    pub fn created(location: String, body: T) -> Self {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
            location: Some(location),
        }
    }
}

impl Reply<()> {
    pub fn no_content() -> Self {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            location: None,
        }
    }
}

/// Measures one request: phases as they happen, `ser` and `total` when the answer is built.
#[derive(Debug)]
pub struct Timer {
    timing: ServerTiming,
    started: Instant,
}

impl Default for Timer {
    fn default() -> Self {
        Self::start()
    }
}

impl Timer {
    pub fn start() -> Self {
        Timer {
            timing: ServerTiming::new(),
            started: Instant::now(),
        }
    }

    /// Runs `fut`, adding its duration to `phase` whatever it returns.
    pub async fn time<F: Future>(&mut self, phase: Phase, fut: F) -> F::Output {
        let started = Instant::now();
        let output = fut.await;
        self.timing.add(phase, started.elapsed());
        output
    }

    /// Adds a duration measured elsewhere (`/compute` measures on the blocking pool).
    pub fn record(&mut self, phase: Phase, duration: Duration) {
        self.timing.add(phase, duration);
    }

    pub fn timing(&self) -> &ServerTiming {
        &self.timing
    }

    /// The answer: the document with `ser` measured, or the error; `server-timing` as core's
    /// [`ServerTiming::answer_header`] decides.
    pub fn finish<T: Serialize>(mut self, result: Result<Reply<T>, ApiError>) -> Response {
        let mut response = match result {
            Ok(reply) => {
                let mut response = match &reply.body {
                    Some(body) => {
                        let started = Instant::now();
                        let bytes = crm_core::http::to_json(body);
                        self.timing.add(Phase::Ser, started.elapsed());
                        json_response(reply.status, bytes)
                    }
                    None => {
                        let mut response = Response::default();
                        *response.status_mut() = reply.status;
                        response
                    }
                };
                if let Some(location) = reply.location.as_deref() {
                    if let Ok(value) = HeaderValue::from_str(location) {
                        response.headers_mut().insert(LOCATION, value);
                    }
                }
                response
            }
            Err(err) => error_response(&err),
        };
        if let Some(value) = self.timing.answer_header(self.started.elapsed()) {
            set_server_timing(&mut response, &value);
        }
        response
    }
}

pub fn set_server_timing(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER_SERVER_TIMING), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(r: &Response) -> Option<String> {
        r.headers()
            .get(HEADER_SERVER_TIMING)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn measured_requests_carry_their_phases_in_contract_order() {
        let mut t = Timer::start();
        t.time(Phase::Query, tokio::time::sleep(Duration::from_millis(2)))
            .await;
        t.time(Phase::Conn, async {}).await;
        let r = t.finish(Ok(Reply::created("/customers/1".into(), [1, 2])));
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()[LOCATION], "/customers/1");
        let h = header(&r).unwrap();
        let names: Vec<&str> = h
            .split(", ")
            .map(|e| e.split(';').next().unwrap())
            .collect();
        assert_eq!(names, ["conn", "query", "ser", "total"]);
    }

    #[tokio::test]
    async fn errors_after_a_lookup_carry_conn_query_total() {
        let mut t = Timer::start();
        t.time(Phase::Conn, async {}).await;
        t.time(Phase::Query, async {}).await;
        let r = t.finish::<()>(Err(ApiError::not_found()));
        assert_eq!(r.status(), 404);
        let h = header(&r).unwrap();
        assert!(h.starts_with("conn;dur="), "{h}");
        assert!(
            h.contains(", query;dur=") && h.contains(", total;dur="),
            "{h}"
        );
        assert!(!h.contains("ser;"), "{h}");
    }

    #[test]
    fn untouched_requests_carry_no_timing() {
        let r = Timer::start().finish::<()>(Err(ApiError::invalid_parameter("x")));
        assert!(header(&r).is_none());
        let r = Timer::start().finish(Ok(Reply::no_content()));
        assert_eq!(r.status(), 204);
        assert!(header(&r).is_none());
    }
}
