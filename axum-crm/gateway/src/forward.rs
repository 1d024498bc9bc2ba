//! Forwarding to customer-service and order-service, and the gateway's readiness.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum_common::error::{error_response, error_response_with_status};
use axum_common::timing::set_server_timing;
use axum_common::upstream::{self, upstream_error, Answer};
use axum_common::{LimitedBody, Reply, Timer};
use crm_core::http::{Health, Runtime, Service, HEADER_SERVER_TIMING};
use crm_core::timing::append_gateway;
use crm_core::upstream::{
    gateway_verdict, join_url, GatewayVerdict, FORWARDED_REQUEST_HEADERS, PASSED_THROUGH_HEADERS,
};
use crm_core::ApiError;

use crate::AppState;

/// `/customers`, `/customers/{rest}` → customer-service.
pub async fn customers(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let base = state.customer_service_url.clone();
    forward(
        &state,
        Service::CustomerService,
        &base,
        method,
        &uri,
        &headers,
        body,
    )
    .await
}

/// `/orders`, `/orders/{rest}` → order-service.
pub async fn orders(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    let base = state.order_service_url.clone();
    forward(
        &state,
        Service::OrderService,
        &base,
        method,
        &uri,
        &headers,
        body,
    )
    .await
}

/// Method, path, query, body and the request headers core lists go up; status, body and the
/// headers core lists come back, `server-timing` with `gw` appended, unless core's verdict
/// replaces the answer with the gateway's own error.
async fn forward(
    state: &AppState,
    upstream: Service,
    base: &str,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str());
    let bodiless = body.is_empty() && matches!(method, Method::GET | Method::HEAD | Method::DELETE);
    let mut request = state.http.request(method, join_url(base, path_and_query));
    for name in FORWARDED_REQUEST_HEADERS {
        for value in headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    if !bodiless {
        request = request.body(body);
    }
    match upstream::call(request).await {
        Ok(answer) => {
            match gateway_verdict(upstream.as_str(), answer.status.as_u16(), &answer.body) {
                GatewayVerdict::PassThrough => pass_through(answer),
                GatewayVerdict::Replace(err) => {
                    tracing::warn!(
                        upstream = upstream.as_str(),
                        status = answer.status.as_u16(),
                        "upstream failed"
                    );
                    own_error(&err, answer.round_trip)
                }
            }
        }
        Err(failure) => own_error(
            &upstream_error(upstream.as_str(), &failure.error),
            failure.round_trip,
        ),
    }
}

fn pass_through(answer: Answer) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    for name in PASSED_THROUGH_HEADERS {
        if name == HEADER_SERVER_TIMING {
            continue;
        }
        let name = HeaderName::from_static(name);
        for value in answer.headers.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let upstream_timing = answer
        .headers
        .get(HEADER_SERVER_TIMING)
        .and_then(|v| v.to_str().ok());
    let timing = append_gateway(upstream_timing, answer.round_trip);
    if let Ok(value) = HeaderValue::from_str(&timing) {
        headers.insert(HeaderName::from_static(HEADER_SERVER_TIMING), value);
    }
    response
}

/// The gateway's own error: `x-crm-service: gateway` (stamped by the middleware) and
/// `server-timing: gw;dur=…`.
fn own_error(err: &ApiError, round_trip: Duration) -> Response {
    let mut response = error_response(err);
    set_server_timing(&mut response, &append_gateway(None, round_trip));
    response
}

/// `GET /readyz`: both upstreams' `/healthz` answer 200 (not their `/readyz`: a database
/// outage must not take the gateway out of rotation), else 503 `upstream_unavailable`.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let healthy = |base: &str| {
        let request = state
            .http
            .get(join_url(base, crm_core::http::Route::Healthz.pattern()));
        async move {
            matches!(upstream::call(request).await, Ok(answer) if answer.status == StatusCode::OK)
        }
    };
    let (customers, orders) = tokio::join!(
        healthy(&state.customer_service_url),
        healthy(&state.order_service_url)
    );
    let down: Vec<&str> = [
        (customers, Service::CustomerService),
        (orders, Service::OrderService),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, service)| service.as_str())
    .collect();
    if down.is_empty() {
        Timer::start().finish(Ok(Reply::ok(Health::ok(crate::SERVICE, Runtime::Axum))))
    } else {
        let err = ApiError::upstream_unavailable(&down.join(" and "));
        error_response_with_status(StatusCode::SERVICE_UNAVAILABLE, &err)
    }
}
