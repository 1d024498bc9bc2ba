//! The gateway as a Spin component: forwards `/customers…` to customer-service and `/orders…` to
//! order-service (`customer_service_url`, `order_service_url`, each call within
//! `upstream_timeout_ms`), answers `/compute`, `/healthz` and `/readyz` itself. What passes
//! through and what is replaced is `crm_core::upstream::gateway_verdict`.

use std::time::Instant;

use crm_core::compute::ComputeResult;
use crm_core::http::{
    Health, Route, Runtime, Service, GATEWAY_ROUTES, HEADER_RUNTIME, HEADER_SERVER_TIMING,
    HEADER_SERVICE, MAX_BODY_BYTES,
};
use crm_core::params::ComputeQuery;
use crm_core::timing::{append_gateway, millis, Phase};
use crm_core::upstream::{
    gateway_verdict, join_url, GatewayVerdict, FORWARDED_REQUEST_HEADERS, PASSED_THROUGH_HEADERS,
};
use crm_core::ApiError;
use spin_common::routing::{self, query};
use spin_common::upstream::{self, Answer, Call};
use spin_common::{vars, Ctx};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

const SERVICE: Service = Service::Gateway;

/// An upstream: its service name and the variable holding its base URL.
#[derive(Clone, Copy)]
struct Upstream {
    name: &'static str,
    url_variable: &'static str,
}

const CUSTOMERS: Upstream = Upstream {
    name: "customer-service",
    url_variable: "customer_service_url",
};
const ORDERS: Upstream = Upstream {
    name: "order-service",
    url_variable: "order_service_url",
};

#[http_component]
fn handle(req: Request) -> Response {
    // Everything under the two collections is the services' to judge (404s and 405s included),
    // so it is forwarded before any routing of the gateway's own.
    let path = req.path();
    if is_under(path, Route::Customers.pattern()) {
        return forward(&req, CUSTOMERS);
    }
    if is_under(path, Route::Orders.pattern()) {
        return forward(&req, ORDERS);
    }
    routing::serve(SERVICE, GATEWAY_ROUTES, &req, |ctx, route, _| {
        match (route, req.method()) {
            (Route::Compute, Method::Get) => compute(ctx, &req),
            (Route::Healthz, Method::Get) => routing::healthz(ctx),
            (Route::Readyz, Method::Get) => Ok(ready(ctx)),
            (route, _) => Err(route.not_allowed()),
        }
    })
}

/// `/customers` itself or anything below it (`/customers/…`).
fn is_under(path: &str, collection: &str) -> bool {
    path.strip_prefix(collection)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn with_ctx(f: impl FnOnce(&mut Ctx) -> Result<Response, ApiError>) -> Response {
    spin_common::run(SERVICE, f)
}

/// `GET /compute?n=&algo=`: Fibonacci in the component, `server-timing: compute;dur=`.
fn compute(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let q = ComputeQuery::parse(query(req))?;
    let started = Instant::now();
    let value = q.algo.run(std::hint::black_box(q.n));
    let elapsed = started.elapsed();
    ctx.record(Phase::Compute, elapsed);
    Ok(ctx.json(
        200,
        &ComputeResult {
            n: q.n,
            algo: q.algo,
            result: value.to_string(),
            compute_ms: millis(elapsed),
        },
    ))
}

/// Sends the request on: method, path, query, body and the forwarded headers. The service judges
/// everything but the body size, which the gateway limits itself, as the Axum gateway does
/// (docs/api.md#forwarding): an oversized body is never forwarded.
fn forward(req: &Request, upstream: Upstream) -> Response {
    if req.body().len() > MAX_BODY_BYTES {
        return with_ctx(|_| Err(ApiError::payload_too_large()));
    }
    let started = Instant::now();
    let answer = call_upstream(req, upstream);
    let round_trip = started.elapsed();
    let mut ctx = Ctx::new(SERVICE);
    match answer {
        Ok(answer) => match gateway_verdict(upstream.name, answer.status, &answer.body) {
            GatewayVerdict::PassThrough => pass_through(answer, round_trip),
            GatewayVerdict::Replace(err) => ctx.gateway_error(&err, round_trip),
        },
        Err(err) => ctx.gateway_error(&err, round_trip),
    }
}

fn call_upstream(req: &Request, upstream: Upstream) -> Result<Answer, ApiError> {
    let base = vars::required(upstream.url_variable)?;
    let timeout = vars::upstream_timeout()?;
    let url = join_url(&base, req.path_and_query().unwrap_or(req.path()));
    let mut headers: Vec<(String, Vec<u8>)> = FORWARDED_REQUEST_HEADERS
        .iter()
        .filter_map(|name| {
            req.header(name)
                .map(|value| (name.to_string(), value.as_bytes().to_vec()))
        })
        .collect();
    let body = (!req.body().is_empty()).then(|| req.body());
    if let Some(body) = body {
        headers.push(("content-length".into(), body.len().to_string().into_bytes()));
    }
    upstream::send(Call {
        method: req.method().clone(),
        url: &url,
        headers,
        body,
        timeout,
    })
    .map_err(|failure| failure.to_api_error(upstream.name))
}

/// The upstream's status, body and contract headers; `gw;dur=` appended to its timing.
fn pass_through(answer: Answer, round_trip: std::time::Duration) -> Response {
    let mut builder = Response::builder();
    builder
        .status(answer.status)
        .header(HEADER_RUNTIME, Runtime::Spin.as_str())
        .header(HEADER_SERVICE, SERVICE.as_str());
    for name in PASSED_THROUGH_HEADERS {
        if name == HEADER_SERVER_TIMING {
            continue;
        }
        if let Some(value) = answer.header(name) {
            builder.header(name, value);
        }
    }
    builder.header(
        HEADER_SERVER_TIMING,
        append_gateway(answer.header(HEADER_SERVER_TIMING), round_trip),
    );
    builder.body(answer.body).build()
}

/// `GET /readyz`: both upstreams' `/healthz` answer 200, else 503 `upstream_unavailable`.
fn ready(ctx: &mut Ctx) -> Response {
    let started = Instant::now();
    for upstream in [CUSTOMERS, ORDERS] {
        if let Err(err) = probe(upstream) {
            ctx.gateway_timing(started.elapsed());
            return ctx.error_with_status(503, &err);
        }
    }
    ctx.json(200, &Health::ok(SERVICE, Runtime::Spin))
}

fn probe(upstream: Upstream) -> Result<(), ApiError> {
    let base = vars::required(upstream.url_variable)?;
    let timeout = vars::upstream_timeout()?;
    let url = join_url(&base, Route::Healthz.pattern());
    let answer = upstream::send(Call {
        method: Method::Get,
        url: &url,
        headers: vec![("accept".into(), b"application/json".to_vec())],
        body: None,
        timeout,
    });
    match answer {
        Ok(answer) if answer.status == 200 => Ok(()),
        Ok(answer) => {
            eprintln!("{} /healthz answered {}", upstream.name, answer.status);
            Err(ApiError::upstream_unavailable(upstream.name))
        }
        Err(failure) => {
            eprintln!("{} /healthz: {failure:?}", upstream.name);
            Err(ApiError::upstream_unavailable(upstream.name))
        }
    }
}
