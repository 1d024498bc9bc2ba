//! Extractors that cannot produce a framework rejection: every failure is a contract error, in
//! the contract's order (path before body; body size, then media type, then JSON).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use bytes::Bytes;
use crm_core::http::{decode_json_body, MAX_BODY_BYTES};
use crm_core::params::parse_id;
use crm_core::ApiError;
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;

use crate::error::AppError;

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
    use axum::body::Body;
    use crm_core::ErrorCode;

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
