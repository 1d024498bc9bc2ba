//! The edge of every service: core's route table registered with the contract's 404 and 405,
//! `/healthz`, the extractors that read a request in the contract's order (path before body;
//! body size, then media type, then JSON) and can only fail with a contract error, and the
//! last line of defence that keeps the framework's own answers (timeouts, panics) inside the
//! contract.

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, MethodRouter};
use axum::{BoxError, Router};
use bytes::Bytes;
use crm_core::http::{
    decode_json_body, Health, Route, Runtime, Service, CONTENT_TYPE_JSON, MAX_BODY_BYTES,
};
use crm_core::params::parse_id;
use crm_core::{ApiError, ErrorCode};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::reply::{AppError, Reply};

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
    if let Some(seconds) = err.code.retry_after() {
        parts.headers.insert(
            axum::http::header::RETRY_AFTER,
            HeaderValue::from_static(seconds),
        );
    }
    Response::from_parts(parts, Body::from(err.to_json()))
}

/// `GET /healthz`: never touches a dependency.
pub fn healthz<S>(service: Service) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    methods(
        Route::Healthz,
        get(move || async move { Reply::ok(Health::ok(service, Runtime::Axum)) }),
    )
}

/// The id of `/customers/{id}` or `/orders/{id}`: the last path segment, checked by
/// [`parse_id`] (400 `invalid_parameter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let segment = parts.uri.path().rsplit('/').next().unwrap_or_default();
        Ok(Id(parse_id(segment)?))
    }
}

/// A request body of at most [`MAX_BODY_BYTES`]; larger → 413 `payload_too_large`.
///
/// An oversized body is still read to its end (up to [`DRAIN_MAX_BYTES`], within
/// [`DRAIN_TIMEOUT`]) and dropped before the 413 goes out: answering while the client is still
/// sending makes hyper close the connection under it, and most clients then report a reset
/// instead of the answer. Beyond that bound the 413 goes out at once and the connection closes.
#[derive(Debug, Clone)]
pub struct LimitedBody(pub Bytes);

/// The most an oversized body is read (and dropped) for, so its sender gets the 413.
pub const DRAIN_MAX_BYTES: u64 = 1024 * 1024;
/// How long an oversized body is drained for at most.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl<S: Send + Sync> FromRequest<S> for LimitedBody {
    type Rejection = AppError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, AppError> {
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
            if announced.is_some_and(|len| len <= DRAIN_MAX_BYTES) {
                drain(req.into_body()).await;
            }
            return Err(AppError(ApiError::payload_too_large()));
        }
        let mut body = req.into_body();
        let mut collected = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                AppError(ApiError::invalid_body(format_args!(
                    "the body could not be read ({e})"
                )))
            })?;
            if let Ok(data) = frame.into_data() {
                if collected.len() + data.len() > MAX_BODY_BYTES {
                    drain(body).await;
                    return Err(AppError(ApiError::payload_too_large()));
                }
                collected.extend_from_slice(&data);
            }
        }
        Ok(LimitedBody(Bytes::from(collected)))
    }
}

/// Reads and drops what is left of a body, within the drain bounds.
async fn drain(body: axum::body::Body) {
    let bounded = Limited::new(body, DRAIN_MAX_BYTES as usize).collect();
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, bounded).await;
}

/// A JSON request body decoded by [`decode_json_body`]: 413, 415, then 400 `invalid_body`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let LimitedBody(bytes) = LimitedBody::from_request(req, state).await?;
        Ok(JsonBody(decode_json_body(content_type.as_deref(), &bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::error_response;
    use axum::body::to_bytes;
    use axum::http::header::ALLOW;
    use axum::response::IntoResponse;

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

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[allow(dead_code)]
        a: Option<i64>,
    }

    fn request(content_type: Option<&str>, body: Vec<u8>) -> Request {
        let mut builder = Request::builder().method("POST").uri("/customers");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(Body::from(body)).unwrap()
    }

    async fn decode(content_type: Option<&str>, body: Vec<u8>) -> Result<Probe, ErrorCode> {
        JsonBody::<Probe>::from_request(request(content_type, body), &())
            .await
            .map(|JsonBody(p)| p)
            .map_err(|AppError(e)| e.code)
    }

    #[tokio::test]
    async fn bodies_are_checked_in_contract_order() {
        let json = Some("application/json");
        assert!(decode(json, b"{\"a\":1}".to_vec()).await.is_ok());
        assert_eq!(
            decode(Some("text/plain"), vec![b' '; MAX_BODY_BYTES + 1])
                .await
                .unwrap_err(),
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            decode(Some("text/plain"), b"{}".to_vec())
                .await
                .unwrap_err(),
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(
            decode(json, b"{\"b\":1}".to_vec()).await.unwrap_err(),
            ErrorCode::InvalidBody
        );
        let mut exactly = b"{\"a\":1}".to_vec();
        exactly.resize(MAX_BODY_BYTES, b' ');
        assert!(decode(json, exactly).await.is_ok());
    }

    #[tokio::test]
    async fn an_announced_oversize_body_is_refused() {
        // The announced length is a lie the body never backs: refused from the header, the
        // little there is drained.
        let req = Request::builder()
            .method("POST")
            .header(CONTENT_TYPE, "application/json")
            .header(CONTENT_LENGTH, (MAX_BODY_BYTES + 1).to_string())
            .body(Body::from("{}"))
            .unwrap();
        let err = LimitedBody::from_request(req, &()).await.unwrap_err();
        assert_eq!(err.0.code, ErrorCode::PayloadTooLarge);
    }

    #[tokio::test]
    async fn ids_come_from_the_last_segment() {
        let id = |path: &str| {
            let (mut parts, _) = Request::builder()
                .uri(path)
                .body(Body::empty())
                .unwrap()
                .into_parts();
            async move { Id::from_request_parts(&mut parts, &()).await }
        };
        assert_eq!(id("/customers/42").await.unwrap(), Id(42));
        assert_eq!(
            id("/orders/ping").await.unwrap_err().0.code,
            ErrorCode::InvalidParameter
        );
        assert_eq!(
            id("/orders/0").await.unwrap_err().0.code,
            ErrorCode::InvalidParameter
        );
    }
}
