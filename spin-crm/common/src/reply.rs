//! Building responses: every one carries `x-crm-runtime: spin` and `x-crm-service`, bodies are
//! JSON with `content-type: application/json`, errors are `crm-core`'s documents, and
//! `server-timing` appears when the request touched Postgres or an upstream, or computed.

use std::time::{Duration, Instant};

use crm_core::http::{
    to_json, Runtime, Service, CONTENT_TYPE_JSON, HEADER_RUNTIME, HEADER_SERVER_TIMING,
    HEADER_SERVICE,
};
use crm_core::timing::{Phase, ServerTiming};
use crm_core::ApiError;
use serde::Serialize;
use spin_sdk::http::Response;

/// The per-request state of a handler: which service answers, when the handler started, and
/// the phases measured so far.
pub struct Ctx {
    pub service: Service,
    started: Instant,
    pub timing: ServerTiming,
    timing_override: Option<String>,
}

/// Runs a handler body with a fresh context for `service`, and turns its result (a response or
/// a contract error) into the response, with the headers and timing every answer carries.
pub fn run(service: Service, f: impl FnOnce(&mut Ctx) -> Result<Response, ApiError>) -> Response {
    let mut ctx = Ctx::new(service);
    let result = f(&mut ctx);
    ctx.respond(result)
}

impl Ctx {
    pub fn new(service: Service) -> Self {
        Ctx {
            service,
            started: Instant::now(),
            timing: ServerTiming::new(),
            timing_override: None,
        }
    }

    /// Runs `f`, adding its duration to `phase`.
    pub fn time<T>(&mut self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.timing.add(phase, start.elapsed());
        out
    }

    /// Adds an already measured duration.
    pub fn record(&mut self, phase: Phase, duration: Duration) {
        self.timing.add(phase, duration);
    }

    /// 200 with a JSON document; encoding is timed as `ser`.
    pub fn ok<T: Serialize>(&mut self, value: &T) -> Response {
        let body = self.time(Phase::Ser, || to_json(value));
        self.finish(200, Some(body), &[])
    }

    /// 201 with `location`.
    pub fn created<T: Serialize>(&mut self, location: &str, value: &T) -> Response {
        let body = self.time(Phase::Ser, || to_json(value));
        self.finish(201, Some(body), &[("location", location)])
    }

    /// 204, no body.
    pub fn no_content(&mut self) -> Response {
        self.finish(204, None, &[])
    }

    /// The contract's error document for `err` (with `allow` on a 405).
    pub fn error(&mut self, err: &ApiError) -> Response {
        self.error_with_status(err.status(), err)
    }

    /// `err`'s document under another status: the gateway's `/readyz` answers 503 with
    /// `upstream_unavailable` (docs/api.md#health-and-readiness).
    pub fn error_with_status(&mut self, status: u16, err: &ApiError) -> Response {
        let extra: Vec<(&str, &str)> = err
            .allow
            .map(|allow| ("allow", allow))
            .into_iter()
            .chain(err.code.retry_after().map(|secs| ("retry-after", secs)))
            .collect();
        self.finish(status, Some(err.to_json()), &extra)
    }

    /// A gateway's own error on a forwarded route: `server-timing: gw;dur=` (the time spent
    /// on the upstream until it failed) instead of the handler phases.
    pub fn gateway_error(&mut self, err: &ApiError, round_trip: Duration) -> Response {
        self.gateway_timing(round_trip);
        self.error(err)
    }

    /// Makes the response's `server-timing` the gateway's `gw;dur=` alone.
    pub fn gateway_timing(&mut self, round_trip: Duration) {
        self.timing_override = Some(crm_core::timing::append_gateway(None, round_trip));
    }

    /// Either outcome of a handler.
    pub fn respond(&mut self, result: Result<Response, ApiError>) -> Response {
        result.unwrap_or_else(|err| self.error(&err))
    }

    /// Assembles the response, `server-timing` as core's `ServerTiming::answer_header` decides
    /// (or the gateway's own `gw;dur=`).
    fn finish(&mut self, status: u16, body: Option<Vec<u8>>, extra: &[(&str, &str)]) -> Response {
        let mut builder = Response::builder();
        builder
            .status(status)
            .header(HEADER_RUNTIME, Runtime::Spin.as_str())
            .header(HEADER_SERVICE, self.service.as_str());
        let timing = match self.timing_override.take() {
            Some(value) => Some(value),
            None => self.timing.answer_header(self.started.elapsed()),
        };
        if let Some(value) = timing {
            builder.header(HEADER_SERVER_TIMING, value);
        }
        for (name, value) in extra {
            builder.header(*name, *value);
        }
        match body {
            Some(body) => builder
                .header("content-type", CONTENT_TYPE_JSON)
                .body(body)
                .build(),
            None => builder.build(),
        }
    }
}
