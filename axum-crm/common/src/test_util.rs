//! The three services' tests drive their routers in-process the same way: a request in, the
//! whole response out with its body as JSON, and what every answer must carry checked on the
//! way. Dev-only: the services' `[dev-dependencies]` turn on the `test-util` feature.

use axum::body::{to_bytes, Body};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt;

/// A service's router under test.
#[derive(Clone)]
pub struct TestApp {
    router: Router,
    /// The `x-crm-service` every answer must carry; `None` for the gateway, which passes the
    /// upstream's through.
    service: Option<&'static str>,
}

/// A whole response: the body parsed as JSON (`Null` when empty).
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The error document's code, `""` for a success.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The fields a `validation_failed` document names, in order.
    pub fn fields(&self) -> Vec<&str> {
        let fields = self.body["error"]["fields"].as_array();
        fields
            .into_iter()
            .flatten()
            .map(|f| f["field"].as_str().unwrap())
            .collect()
    }

    /// The names of the `server-timing` entries, in order.
    pub fn timing(&self) -> Vec<String> {
        self.header("server-timing")
            .unwrap_or("")
            .split(", ")
            .filter(|e| !e.is_empty())
            .map(|e| e.split(';').next().unwrap().to_owned())
            .collect()
    }
}

impl TestApp {
    /// `router`, whose every answer must say it comes from `service`.
    pub fn new(router: Router, service: &'static str) -> Self {
        TestApp {
            router,
            service: Some(service),
        }
    }

    /// The gateway's router: `x-crm-service` names whichever service answered.
    pub fn gateway(router: Router) -> Self {
        TestApp {
            router,
            service: None,
        }
    }

    /// `method path` without a body.
    pub async fn call(&self, method: &str, path: &str) -> TestResponse {
        self.send(method, path, None, Body::empty()).await
    }

    /// `method path` with `body` as JSON.
    pub async fn send_json(&self, method: &str, path: &str, body: Value) -> TestResponse {
        let body = body.to_string();
        self.send(method, path, Some("application/json"), body)
            .await
    }

    /// `method path` with `body` and, if any, its `content-type`.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(body.into()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            assert_eq!(
                parts.headers["content-type"], "application/json",
                "{method} {path}"
            );
            serde_json::from_slice(&bytes).unwrap()
        };
        assert_eq!(parts.headers["x-crm-runtime"], "axum", "{method} {path}");
        if let Some(service) = self.service {
            assert_eq!(parts.headers["x-crm-service"], service, "{method} {path}");
        }
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }
}

/// A local port nobody listens on (bound, read, released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The base URL of a service that is down: nothing listens there.
pub fn closed_port_url() -> String {
    format!("http://127.0.0.1:{}", closed_port())
}

/// Serves `router` on a local port, as a stand-in for an upstream service; its base URL.
pub async fn serve_stub(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}
