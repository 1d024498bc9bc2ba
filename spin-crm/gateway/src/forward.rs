//! Forwarding `/customers…` and `/orders…` to the service that owns them, and the gateway's
//! readiness.

use std::time::{Duration, Instant};

use crm_core::http::{
    Health, Route, Runtime, Service, HEADER_RUNTIME, HEADER_SERVER_TIMING, HEADER_SERVICE,
    MAX_BODY_BYTES,
};
use crm_core::timing::append_gateway;
use crm_core::upstream::{
    gateway_verdict, GatewayVerdict, FORWARDED_REQUEST_HEADERS, PASSED_THROUGH_HEADERS,
};
use crm_core::ApiError;
use spin_common::upstream::{Call, UpstreamResponse};
use spin_common::Ctx;
use spin_sdk::http::{Request, Response};

use crate::SERVICE;

/// Sends the request on: method, path, query, body and the forwarded headers. The service judges
/// everything but the body size, which the gateway limits itself, as the Axum gateway does
/// (docs/api.md#forwarding): an oversized body is never forwarded.
pub fn forward(req: &Request, upstream: Service) -> Response {
    if req.body().len() > MAX_BODY_BYTES {
        return spin_common::run(SERVICE, |_| Err(ApiError::payload_too_large()));
    }
    let started = Instant::now();
    let response = call(req, upstream);
    let round_trip = started.elapsed();
    let mut ctx = Ctx::new(SERVICE);
    match response {
        Ok(response) => match gateway_verdict(upstream.as_str(), response.status, &response.body) {
            GatewayVerdict::PassThrough => pass_through(response, round_trip),
            GatewayVerdict::Replace(err) => ctx.gateway_error(&err, round_trip),
        },
        Err(err) => ctx.gateway_error(&err, round_trip),
    }
}

fn call(req: &Request, upstream: Service) -> Result<UpstreamResponse, ApiError> {
    let path_and_query = req.path_and_query().unwrap_or(req.path());
    let mut call = Call::to(upstream, req.method().clone(), path_and_query)?;
    for name in FORWARDED_REQUEST_HEADERS {
        if let Some(value) = req.header(name) {
            call = call.header(name, value.as_bytes());
        }
    }
    if !req.body().is_empty() {
        call = call.body(req.body());
    }
    call.send()
        .map_err(|failure| failure.to_api_error(upstream.as_str()))
}

/// The upstream's status, body and contract headers; `gw;dur=` appended to its timing.
fn pass_through(upstream: UpstreamResponse, round_trip: Duration) -> Response {
    let mut builder = Response::builder();
    builder
        .status(upstream.status)
        .header(HEADER_RUNTIME, Runtime::Spin.as_str())
        .header(HEADER_SERVICE, SERVICE.as_str());
    for name in PASSED_THROUGH_HEADERS {
        if name == HEADER_SERVER_TIMING {
            continue;
        }
        if let Some(value) = upstream.header(name) {
            builder.header(name, value);
        }
    }
    builder.header(
        HEADER_SERVER_TIMING,
        append_gateway(upstream.header(HEADER_SERVER_TIMING), round_trip),
    );
    builder.body(upstream.body).build()
}

/// `GET /readyz`: both upstreams' `/healthz` answer 200, else 503 `upstream_unavailable`.
pub fn readyz(ctx: &mut Ctx) -> Response {
    let started = Instant::now();
    for upstream in [Service::CustomerService, Service::OrderService] {
        if let Err(err) = healthy(upstream) {
            ctx.gateway_timing(started.elapsed());
            return ctx.error_with_status(503, &err);
        }
    }
    ctx.ok(&Health::ok(SERVICE, Runtime::Spin))
}

/// `upstream`'s `/healthz` answers 200; a failed call is `upstream_unavailable`, however it
/// failed, and a deployment error (a missing variable) is itself.
fn healthy(upstream: Service) -> Result<(), ApiError> {
    let name = upstream.as_str();
    match Call::get(upstream, Route::Healthz.pattern())?.send() {
        Ok(response) if response.status == 200 => Ok(()),
        Ok(response) => {
            eprintln!("{name} /healthz answered {}", response.status);
            Err(ApiError::upstream_unavailable(name))
        }
        Err(failure) => {
            eprintln!("{name} /healthz: {failure:?}");
            Err(ApiError::upstream_unavailable(name))
        }
    }
}
