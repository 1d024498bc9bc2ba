//! The client: one [`Api`] per running service, whose every request returns a [`Received`]
//! response already checked against the invariants every response owes ([`crate::invariants`]),
//! so no test can forget them.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::env::{env_url, expected_runtime, fault_bound, REQUEST_TIMEOUT};
use crate::invariants;
use crate::raw;
use crate::received::Received;

/// The three services; `name()` is their `x-crm-service` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Gateway,
    CustomerService,
    OrderService,
}

impl Service {
    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::CustomerService => "customer-service",
            Service::OrderService => "order-service",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Service> {
        [
            Service::Gateway,
            Service::CustomerService,
            Service::OrderService,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

/// One running service (a gateway or a data service) at a base URL.
pub struct Api {
    base: String,
    role: Service,
    runtime: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl Api {
    /// `CRM_BASE_URL`: the main stack's gateway.
    pub fn gateway() -> Api {
        Api::new("CRM_BASE_URL", Service::Gateway, REQUEST_TIMEOUT)
    }
    /// `CRM_CUSTOMER_SERVICE_URL`: the main stack's customer-service, called directly.
    pub fn customer_service() -> Api {
        Api::new(
            "CRM_CUSTOMER_SERVICE_URL",
            Service::CustomerService,
            REQUEST_TIMEOUT,
        )
    }
    /// `CRM_ORDER_SERVICE_URL`: the main stack's order-service, called directly.
    pub fn order_service() -> Api {
        Api::new(
            "CRM_ORDER_SERVICE_URL",
            Service::OrderService,
            REQUEST_TIMEOUT,
        )
    }
    /// `CRM_FAULT_GATEWAY_URL`: customer-service refuses, order-service never answers.
    pub fn fault_gateway() -> Api {
        Api::new("CRM_FAULT_GATEWAY_URL", Service::Gateway, fault_bound())
    }
    /// `CRM_FAULT_ORDER_SERVICE_URL`: working database, customer-service refuses.
    pub fn fault_order_service() -> Api {
        Api::new(
            "CRM_FAULT_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }
    /// `CRM_HANG_ORDER_SERVICE_URL`: customer-service accepts and never answers.
    pub fn hang_order_service() -> Api {
        Api::new(
            "CRM_HANG_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }
    /// `CRM_NODB_CUSTOMER_SERVICE_URL`: Postgres unreachable.
    pub fn nodb_customer_service() -> Api {
        Api::new(
            "CRM_NODB_CUSTOMER_SERVICE_URL",
            Service::CustomerService,
            fault_bound(),
        )
    }
    /// `CRM_NODB_ORDER_SERVICE_URL`: Postgres unreachable.
    pub fn nodb_order_service() -> Api {
        Api::new(
            "CRM_NODB_ORDER_SERVICE_URL",
            Service::OrderService,
            fault_bound(),
        )
    }

    /// `CRM_NODB_GATEWAY_URL`: a gateway whose upstreams are alive but have no database.
    pub fn nodb_gateway() -> Api {
        Api::new("CRM_NODB_GATEWAY_URL", Service::Gateway, fault_bound())
    }

    fn new(var: &str, role: Service, timeout: Duration) -> Api {
        let base = env_url(var);
        let runtime = expected_runtime();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .build()
            .expect("an HTTP client builds");
        Api {
            base,
            role,
            runtime,
            timeout,
            client,
        }
    }

    pub fn role(&self) -> Service {
        self.role
    }

    pub fn is_gateway(&self) -> bool {
        self.role == Service::Gateway
    }

    pub async fn get(&self, path: &str) -> Received {
        self.send(Method::GET, path, None, None).await
    }

    pub async fn delete(&self, path: &str) -> Received {
        self.send(Method::DELETE, path, None, None).await
    }

    /// A body-less request with any method.
    pub async fn call(&self, method: Method, path: &str) -> Received {
        self.send(method, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Received {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Received {
        self.send_json(Method::PUT, path, body).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Received {
        let bytes = serde_json::to_vec(body).expect("a JSON value serialises");
        self.send(method, path, Some("application/json"), Some(bytes))
            .await
    }

    /// A body sent exactly as written (malformed JSON, duplicate or reordered keys) and labelled
    /// `application/json`.
    pub async fn send_json_text(&self, method: Method, path: &str, text: &str) -> Received {
        let bytes = text.as_bytes().to_vec();
        self.send(method, path, Some("application/json"), Some(bytes))
            .await
    }

    /// Any request, byte for byte: `content_type` None sends no content-type header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Received {
        let url = format!("{}{}", self.base, path);
        let mut request = self.client.request(method.clone(), &url);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => panic!("{}", self.transport_failure(&method, &url, &err)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.bytes().await {
            Ok(bytes) => bytes.to_vec(),
            Err(err) => panic!("{}", self.transport_failure(&method, &url, &err)),
        };
        self.checked(Received {
            method,
            url,
            status,
            headers,
            body,
        })
    }

    /// Sends one request over a fresh TCP connection and reads the response even when the
    /// server answers before reading the whole body and closes (as a 413 decided from
    /// `content-length` may): hyper's client reports the resulting broken pipe as an error and
    /// drops the response, while the contract only cares that the client receives it. `chunked`
    /// sends the body with `transfer-encoding: chunked` instead of a `content-length`.
    pub async fn send_over_tcp(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        chunked: bool,
    ) -> Received {
        let url = format!("{}{}", self.base, path);
        let (host, port) = self.host_port();
        let request = raw::request(&method, path, (&host, port), content_type, body, chunked);
        let exchange = raw::exchange((&host, port), &request);
        let response = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(response)) => response,
            Ok(Err(err)) => panic!("{method} {url}: no HTTP answer over TCP: {err}"),
            Err(_) => panic!(
                "{method} {url}: no answer within {:?}; a hang is a bug",
                self.timeout
            ),
        };
        self.checked(Received::from_raw(method, url, response))
    }

    /// The host and port of this service, for raw requests' `host` header and connections.
    pub fn host_port(&self) -> (String, u16) {
        let parsed = reqwest::Url::parse(&self.base).expect("a valid URL");
        let host = parsed.host_str().expect("a host").to_string();
        (host, parsed.port_or_known_default().expect("a port"))
    }

    /// Writes `request` byte for byte on a fresh connection (hostile tests: malformed heads,
    /// invalid UTF-8 in the request line, oversized heads) and returns the response, or None
    /// when the server closed or reset the connection without one. Unlike every other request,
    /// no invariant is checked here: the HTTP server may refuse a malformed head itself, before
    /// any service code runs (`Received::is_bare_protocol_rejection`). The response must still
    /// arrive within the usual bound: a hang is a bug.
    pub async fn send_raw(&self, request: &[u8]) -> Option<Received> {
        let (host, port) = self.host_port();
        let exchange = raw::exchange((&host, port), request);
        let what = String::from_utf8_lossy(&request[..request.len().min(120)]).into_owned();
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(response)) => Some(Received::from_raw(
                Method::GET,
                format!("{} (raw: {what:?})", self.base),
                response,
            )),
            Ok(Err(_)) => None,
            Err(_) => panic!(
                "raw request {what:?}: no answer within {:?}; a hang is a bug",
                self.timeout
            ),
        }
    }

    /// Checks what every response owes before a test sees it.
    fn checked(&self, received: Received) -> Received {
        invariants::check(&received, &self.runtime);
        received
    }

    fn transport_failure(&self, method: &Method, url: &str, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            format!(
                "{method} {url}: no answer within {:?}; a hang is a bug ({err})",
                self.timeout
            )
        } else {
            format!("{method} {url}: no HTTP answer: {err:?}")
        }
    }
}

/// Runs one async check (of [`crate::checks`]) against some targets, one test each, e.g.
/// `for_each_target!(unknown_path_is_404 => check_unknown_path: gateway);` makes
/// `unknown_path_is_404::gateway`. A gateway target names `gateway` only, and
/// `tests/data_services.rs` the data services: the gateway selection is a list of targets.
#[macro_export]
macro_rules! for_each_target {
    ($name:ident => $check:ident: $($target:ident),+ $(,)?) => {
        mod $name {
            $(
                #[tokio::test]
                async fn $target() {
                    super::$check($crate::Api::$target()).await
                }
            )+
        }
    };
}
