//! Forwarding `/customers…` and `/orders…` to the service that owns them, and the gateway's
//! readiness.

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum_common::upstream::{self, upstream_error, UpstreamResponse};
use axum_common::{AppError, LimitedBody, Reply};
use crm_core::http::{Health, Route, Runtime, Service, HEADER_SERVER_TIMING};
use crm_core::timing::append_gateway;
use crm_core::upstream::{
    forwarded_to, gateway_verdict, join_url, GatewayVerdict, FORWARDED_REQUEST_HEADERS,
    PASSED_THROUGH_HEADERS,
};
use crm_core::ApiError;

use crate::AppState;

/// Method, path, query, body and the request headers core lists go up; status, body and the
/// headers core lists come back, `server-timing` with `gw` appended, unless core's verdict
/// replaces the response with the gateway's own error.
pub async fn forward(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    LimitedBody(body): LimitedBody,
) -> Response {
    // The router only sends the forwarded collections here.
    let Some(upstream) = forwarded_to(uri.path()) else {
        return AppError(ApiError::not_found()).into_response();
    };
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |pq| pq.as_str());
    let bodiless = body.is_empty() && matches!(method, Method::GET | Method::HEAD | Method::DELETE);
    let url = join_url(state.base_url(upstream), path_and_query);
    let mut request = state.http.request(method, url);
    for name in FORWARDED_REQUEST_HEADERS {
        for value in headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    if !bodiless {
        request = request.body(body);
    }
    match upstream::call(upstream.as_str(), request).await {
        Ok(response) => {
            let status = response.status.as_u16();
            match gateway_verdict(upstream.as_str(), status, &response.body) {
                GatewayVerdict::PassThrough => pass_through(response),
                GatewayVerdict::Replace(err) => {
                    tracing::warn!(upstream = upstream.as_str(), status, "upstream failed");
                    own_error(err, response.round_trip)
                }
            }
        }
        Err(failure) => own_error(
            upstream_error(upstream.as_str(), &failure.error),
            failure.round_trip,
        ),
    }
}

fn pass_through(upstream: UpstreamResponse) -> Response {
    let mut response = Response::new(Body::from(upstream.body));
    *response.status_mut() = upstream.status;
    let headers = response.headers_mut();
    for name in PASSED_THROUGH_HEADERS {
        if name == HEADER_SERVER_TIMING {
            continue;
        }
        let name = HeaderName::from_static(name);
        for value in upstream.headers.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let upstream_timing = upstream
        .headers
        .get(HEADER_SERVER_TIMING)
        .and_then(|v| v.to_str().ok());
    let timing = append_gateway(upstream_timing, upstream.round_trip);
    if let Ok(value) = HeaderValue::from_str(&timing) {
        headers.insert(HeaderName::from_static(HEADER_SERVER_TIMING), value);
    }
    response
}

/// The gateway's own error: `x-crm-service: gateway` (stamped by the middleware) and
/// `server-timing: gw;dur=…`.
fn own_error(err: ApiError, round_trip: Duration) -> Response {
    let timing = [(HEADER_SERVER_TIMING, append_gateway(None, round_trip))];
    (timing, AppError(err)).into_response()
}

/// `GET /readyz`: both upstreams' `/healthz` answer 200 (not their `/readyz`: a database
/// outage must not take the gateway out of rotation), else 503 `upstream_unavailable`.
pub async fn readyz(
    State(state): State<AppState>,
) -> Result<Reply<Health>, (StatusCode, AppError)> {
    let healthy = |upstream: Service| {
        let url = join_url(state.base_url(upstream), Route::Healthz.pattern());
        let request = state.http.get(url);
        async move {
            let up = matches!(upstream::call(upstream.as_str(), request).await, Ok(r) if r.status == StatusCode::OK);
            (up, upstream)
        }
    };
    let (customers, orders) = tokio::join!(
        healthy(Service::CustomerService),
        healthy(Service::OrderService)
    );
    let down: Vec<&str> = [customers, orders]
        .into_iter()
        .filter(|(up, _)| !up)
        .map(|(_, service)| service.as_str())
        .collect();
    if down.is_empty() {
        Ok(Reply::ok(Health::ok(crate::SERVICE, Runtime::Axum)))
    } else {
        let err = ApiError::upstream_unavailable(&down.join(" and "));
        Err((StatusCode::SERVICE_UNAVAILABLE, AppError(err)))
    }
}
