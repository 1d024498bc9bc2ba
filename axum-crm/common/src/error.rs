//! The contract's error document as an axum response, and the fallbacks that keep the
//! framework's own answers (unknown path, wrong method, timeouts, panics) inside the contract.

use axum::body::{Body, HttpBody};
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{BoxError, Router};
use bytes::Bytes;
use crm_core::http::{Route, CONTENT_TYPE_JSON};
use crm_core::{ApiError, ErrorCode};

/// An [`ApiError`] that axum can answer with: the status its code fixes, the JSON document,
/// and `allow` on a 405.
#[derive(Debug)]
pub struct AppError(pub ApiError);

impl From<ApiError> for AppError {
    fn from(err: ApiError) -> Self {
        AppError(err)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        error_response(&self.0)
    }
}

/// `body` as an `application/json` response.
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    response
}

pub fn error_response(err: &ApiError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_response_with_status(status, err)
}

/// The error document under another status than its code's (the gateway's `/readyz` answers
/// 503 with `upstream_unavailable`).
pub fn error_response_with_status(status: StatusCode, err: &ApiError) -> Response {
    let mut response = json_response(status, err.to_json());
    if let Some(allow) = err.allow {
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static(allow));
    }
    response
}

/// The router's fallback: 404 `not_found` for any path the service does not serve.
pub async fn not_found() -> AppError {
    AppError(ApiError::not_found())
}

/// Registering a route of core's table: its pattern, its handlers, and the contract's 405 for
/// every other method.
pub trait ContractRoutes<S> {
    fn contract_route(self, route: Route, handlers: MethodRouter<S>) -> Self;
}

impl<S> ContractRoutes<S> for Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    fn contract_route(self, route: Route, handlers: MethodRouter<S>) -> Self {
        self.route(route.pattern(), methods(route, handlers))
    }
}

/// A route's method router with the contract's 405: any other method, HEAD included (axum would
/// otherwise serve HEAD with the GET handler), answers `method_not_allowed` with the route's
/// `allow` from core's table.
pub fn methods<S>(route: Route, router: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    let refuse = move || async move { AppError(route.not_allowed()) };
    router.head(refuse).fallback(refuse)
}

/// The last line of defence, as `map_response` middleware: an error answer without a JSON body
/// (a framework default, a timeout, a caught panic) becomes the contract's document for its
/// status. Our own handlers never produce one.
pub async fn contract_errors<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crm_core::http::is_json_content_type);
    if status.as_u16() < 400 || is_json {
        return response.map(Body::new);
    }
    let err = match status.as_u16() {
        400 => ApiError::invalid_body("the request could not be read"),
        404 => ApiError::not_found(),
        405 => ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed"),
        413 => ApiError::payload_too_large(),
        415 => ApiError::unsupported_media_type(),
        502 => ApiError::upstream_unavailable("an upstream"),
        503 => ApiError::database_unavailable(),
        504 => ApiError::upstream_timeout("an upstream"),
        _ => ApiError::internal(),
    };
    // A status outside the contract's table (408, 500 from a panic, ...) becomes its code's.
    let status = match status.as_u16() {
        400 | 404 | 405 | 413 | 415 | 502 | 503 | 504 => status,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let (mut parts, _) = response.into_parts();
    parts.status = status;
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_JSON));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(err.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn code_of(response: Response) -> (u16, String) {
        let status = response.status().as_u16();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        (status, v["error"]["code"].as_str().unwrap().to_owned())
    }

    #[tokio::test]
    async fn framework_errors_become_contract_documents() {
        for (status, expected) in [
            (404, (404, "not_found")),
            (413, (413, "payload_too_large")),
            (408, (500, "internal")),
            (503, (503, "database_unavailable")),
            (504, (504, "upstream_timeout")),
            (500, (500, "internal")),
        ] {
            let mut r = Response::new(Body::from("plain text"));
            *r.status_mut() = StatusCode::from_u16(status).unwrap();
            let r = contract_errors(r).await;
            assert_eq!(r.headers()[CONTENT_TYPE], CONTENT_TYPE_JSON);
            let (s, c) = code_of(r).await;
            assert_eq!((s, c.as_str()), expected);
        }
    }

    #[tokio::test]
    async fn json_and_successful_answers_are_left_alone() {
        let r = error_response(&ApiError::customer_not_found(3));
        assert_eq!(
            code_of(contract_errors(r).await).await,
            (400, "customer_not_found".into())
        );
        let r: Response = contract_errors(Response::new(Body::from("ok"))).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers().get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn method_not_allowed_carries_allow() {
        let r = AppError(ApiError::method_not_allowed("GET, POST")).into_response();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[ALLOW], "GET, POST");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    }
}
