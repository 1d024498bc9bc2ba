//! Building responses: a handler returns `Result<Reply<T>, AppError>`, as in axum's examples, and
//! the [`server_timing`] middleware writes what the request measured into `server-timing`.
//!
//! The timings live in a task-local for the request, opened by the middleware, so the helpers
//! that wait on Postgres or an upstream ([`timed`]) add to them without a timer being passed
//! through the handlers. Axum runs a handler and its `into_response` inside the middleware's
//! future, on one task, so everything a request measures lands in its own record.

use std::cell::RefCell;
use std::future::Future;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ALLOW, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use crm_core::http::{CONTENT_TYPE_JSON, HEADER_SERVER_TIMING};
use crm_core::timing::{Phase, ServerTiming};
use crm_core::ApiError;
use serde::Serialize;

/// A handler's success: a JSON document with 200, or 201 and its `location`. (204 is a bare
/// `StatusCode::NO_CONTENT`.)
#[derive(Debug)]
pub struct Reply<T> {
    status: StatusCode,
    location: Option<String>,
    body: T,
}

impl<T> Reply<T> {
    pub fn ok(body: T) -> Self {
        Reply {
            status: StatusCode::OK,
            location: None,
            body,
        }
    }

    pub fn created(location: String, body: T) -> Self {
        Reply {
            status: StatusCode::CREATED,
            location: Some(location),
            body,
        }
    }
}

/// The document, its encoding timed as `ser`.
impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let body = time_sync(Phase::Ser, || crm_core::http::to_json(&self.body));
        let mut response = json_response(self.status, body);
        if let Some(value) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            response.headers_mut().insert(LOCATION, value);
        }
        response
    }
}

/// An [`ApiError`] that axum can answer with: the status its code fixes, the JSON document,
/// and `allow` on a 405. Handlers return it; `?` converts core's errors into it.
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
    if let Some(seconds) = err.code.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    }
    response
}

tokio::task_local! {
    /// The phases the current request measured.
    static TIMING: RefCell<ServerTiming>;
}

/// Runs `fut`, adding its duration to `phase` of the current request whatever it returns.
pub async fn timed<F: Future>(phase: Phase, fut: F) -> F::Output {
    let started = Instant::now();
    let output = fut.await;
    record(phase, started.elapsed());
    output
}

fn time_sync<T>(phase: Phase, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let output = f();
    record(phase, started.elapsed());
    output
}

/// Adds a duration measured elsewhere (`/compute` measures on the blocking pool). Outside a
/// request (a unit test calling a helper directly) there is nothing to add to.
pub fn record(phase: Phase, duration: Duration) {
    let _ = TIMING.try_with(|timing| timing.borrow_mut().add(phase, duration));
}

/// What the current request measured for `phase` so far (`/customers/ping` reports it).
pub fn recorded(phase: Phase) -> Option<Duration> {
    TIMING
        .try_with(|timing| timing.borrow().get(phase))
        .ok()
        .flatten()
}

/// Middleware: opens the request's timing record, and writes `server-timing` as core's
/// [`ServerTiming::answer_header`] decides, `total` being the whole handler, extractors
/// included. An answer that already carries the header (the gateway passing an upstream's
/// through, with `gw` appended) keeps it.
pub async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (mut response, mut timing) = TIMING
        .scope(RefCell::new(ServerTiming::new()), async {
            let response = next.run(request).await;
            (response, TIMING.with(RefCell::take))
        })
        .await;
    let name = HeaderName::from_static(HEADER_SERVER_TIMING);
    if !response.headers().contains_key(&name) {
        if let Some(value) = timing
            .answer_header(started.elapsed())
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn header_of(router: Router) -> (StatusCode, Option<String>) {
        let app = router.layer(axum::middleware::from_fn(server_timing));
        let request = Request::builder().uri("/").body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let header = response
            .headers()
            .get(HEADER_SERVER_TIMING)
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status(), header)
    }

    fn names(header: &str) -> Vec<&str> {
        header
            .split(", ")
            .map(|e| e.split(';').next().unwrap())
            .collect()
    }

    #[tokio::test]
    async fn measured_requests_carry_their_phases_in_contract_order() {
        let handler = || async {
            timed(Phase::Query, tokio::time::sleep(Duration::from_millis(2))).await;
            timed(Phase::Conn, async {}).await;
            Reply::created("/customers/1".into(), [1, 2])
        };
        let (status, header) = header_of(Router::new().route("/", get(handler))).await;
        assert_eq!(status, 201);
        assert_eq!(names(&header.unwrap()), ["conn", "query", "ser", "total"]);
    }

    #[tokio::test]
    async fn errors_after_a_lookup_carry_conn_query_total() {
        let handler = || async {
            timed(Phase::Conn, async {}).await;
            timed(Phase::Query, async {}).await;
            Err::<Reply<()>, _>(AppError(ApiError::not_found()))
        };
        let (status, header) = header_of(Router::new().route("/", get(handler))).await;
        assert_eq!(status, 404);
        assert_eq!(names(&header.unwrap()), ["conn", "query", "total"]);
    }

    #[tokio::test]
    async fn untouched_requests_carry_no_timing_and_set_headers_are_kept() {
        let early = || async { AppError(ApiError::invalid_parameter("x")) };
        let (status, header) = header_of(Router::new().route("/", get(early))).await;
        assert_eq!((status, header), (StatusCode::BAD_REQUEST, None));

        let empty = || async { StatusCode::NO_CONTENT };
        let (status, header) = header_of(Router::new().route("/", get(empty))).await;
        assert_eq!((status, header), (StatusCode::NO_CONTENT, None));

        let own = || async {
            record(Phase::Query, Duration::from_millis(1));
            ([(HEADER_SERVER_TIMING, "gw;dur=1.000")], "x")
        };
        let (_, header) = header_of(Router::new().route("/", get(own))).await;
        assert_eq!(header.as_deref(), Some("gw;dur=1.000"));
    }

    #[tokio::test]
    async fn compute_is_reported_alone_and_readable_meanwhile() {
        let handler = || async {
            record(Phase::Compute, Duration::from_millis(3));
            assert_eq!(recorded(Phase::Compute), Some(Duration::from_millis(3)));
            Reply::ok("done")
        };
        let (_, header) = header_of(Router::new().route("/", get(handler))).await;
        assert_eq!(header.as_deref(), Some("compute;dur=3.000"));
    }
}
