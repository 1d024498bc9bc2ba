//! What both stacks' HTTP edges share: header names, the route table, the body
//! checks in contract order, and the small fixed documents (health, ping, pages).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ApiError;

/// "over 64 KiB" is refused: 65 536 bytes is the largest accepted body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const HEADER_RUNTIME: &str = "x-crm-runtime";
pub const HEADER_SERVICE: &str = "x-crm-service";
pub const HEADER_SERVER_TIMING: &str = "server-timing";
pub const CONTENT_TYPE_JSON: &str = "application/json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    Axum,
    Spin,
}

impl Runtime {
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Axum => "axum",
            Runtime::Spin => "spin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Service {
    Gateway,
    CustomerService,
    OrderService,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::CustomerService => "customer-service",
            Service::OrderService => "order-service",
        }
    }
}

/// The contract's routes: each path pattern with the methods it allows. Both stacks route from
/// this table: Axum registers [`Route::pattern`] and answers other methods with
/// [`Route::not_allowed`]; Spin resolves paths with [`resolve`] and checks [`Route::allows`]
/// before dispatching. The `allow` list is the only place a route's methods are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Customers,
    CustomerPing,
    Customer,
    Orders,
    Order,
    Compute,
    Healthz,
    Readyz,
}

impl Route {
    /// The path, with `{id}` for the one parameter (axum's syntax, which [`resolve`] reads).
    pub const fn pattern(self) -> &'static str {
        match self {
            Route::Customers => "/customers",
            Route::CustomerPing => "/customers/ping",
            Route::Customer => "/customers/{id}",
            Route::Orders => "/orders",
            Route::Order => "/orders/{id}",
            Route::Compute => "/compute",
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
        }
    }

    /// The methods the route allows, as the `allow` header of its 405 lists them.
    pub const fn allow(self) -> &'static str {
        match self {
            Route::Customers | Route::Orders => "GET, POST",
            Route::Customer | Route::Order => "GET, PUT, DELETE",
            Route::CustomerPing | Route::Compute | Route::Healthz | Route::Readyz => "GET",
        }
    }

    /// Whether `method` (upper case, as on the wire) is one the route serves. HEAD is not:
    /// the contract answers it 405 like any other unlisted method.
    pub fn allows(self, method: &str) -> bool {
        self.allow().split(", ").any(|m| m == method)
    }

    /// The 405 for any other method.
    pub fn not_allowed(self) -> ApiError {
        ApiError::method_not_allowed(self.allow())
    }

    /// `Some(param)` when `path` is this route (`param` is the `{id}` segment, if any). Segments
    /// compare exactly, so `/customers/`, `/customers//1` and `/customers/1/` match nothing.
    pub fn match_path(self, path: &str) -> Option<Option<&str>> {
        let mut param = None;
        let mut segments = path.strip_prefix('/')?.split('/');
        for expected in self.pattern()[1..].split('/') {
            let segment = segments.next().filter(|s| !s.is_empty())?;
            if expected.starts_with('{') {
                param = Some(segment);
            } else if segment != expected {
                return None;
            }
        }
        segments.next().is_none().then_some(param)
    }
}

/// The routes each service serves itself (the gateway forwards the collections unseen).
pub const CUSTOMER_SERVICE_ROUTES: &[Route] = &[
    Route::Customers,
    Route::CustomerPing,
    Route::Customer,
    Route::Healthz,
    Route::Readyz,
];
pub const ORDER_SERVICE_ROUTES: &[Route] =
    &[Route::Orders, Route::Order, Route::Healthz, Route::Readyz];
pub const GATEWAY_ROUTES: &[Route] = &[Route::Compute, Route::Healthz, Route::Readyz];

/// The first of `routes` that `path` names, and its parameter. Literal routes are listed before
/// the parameterised ones they overlap (`/customers/ping` before `/customers/{id}`), as axum
/// prefers them too.
pub fn resolve<'p>(routes: &[Route], path: &'p str) -> Option<(Route, Option<&'p str>)> {
    routes
        .iter()
        .find_map(|route| route.match_path(path).map(|param| (*route, param)))
}

/// Whether a `content-type` names JSON: `application/json` (any parameters, any case) or a
/// structured `application/*+json` type.
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", subtype)) => subtype == "json" || subtype.ends_with("+json"),
        _ => false,
    }
}

/// Reads a POST/PUT body in the contract's order: size (413), media type (415), JSON (400
/// `invalid_body`). Validation is the caller's next step.
pub fn decode_json_body<T: DeserializeOwned>(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    if !content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::unsupported_media_type());
    }
    // serde's derived structs also accept JSON arrays (fields by position); the contract's
    // bodies are objects only.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        Some(_) => return Err(ApiError::invalid_body("expected a JSON object")),
        None => return Err(ApiError::invalid_body("the body is empty")),
    }
    serde_json::from_slice(body).map_err(ApiError::invalid_body)
}

/// `GET /healthz`, and `/readyz` when ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub service: Service,
    pub runtime: Runtime,
}

impl Health {
    pub fn ok(service: Service, runtime: Runtime) -> Self {
        Health {
            status: "ok",
            service,
            runtime,
        }
    }
}

/// `GET /customers/ping`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ping {
    pub status: &'static str,
    pub conn_ms: f64,
    pub query_ms: f64,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub offset: i64,
}

/// `location` of a created resource.
pub fn location(collection: &str, id: i64) -> String {
    format!("{collection}/{id}")
}

/// Serialises a response document. Our documents are plain data, so this cannot fail.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("response documents always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Probe {
        #[allow(dead_code)]
        a: Option<i64>,
    }

    fn code(r: Result<Probe, ApiError>) -> ErrorCode {
        r.unwrap_err().code
    }

    #[test]
    fn paths_resolve_to_routes_and_their_parameter() {
        let r = |path| resolve(CUSTOMER_SERVICE_ROUTES, path);
        assert_eq!(r("/customers"), Some((Route::Customers, None)));
        assert_eq!(r("/customers/ping"), Some((Route::CustomerPing, None)));
        assert_eq!(r("/customers/42"), Some((Route::Customer, Some("42"))));
        assert_eq!(r("/customers/abc"), Some((Route::Customer, Some("abc"))));
        assert_eq!(r("/readyz"), Some((Route::Readyz, None)));
        for none in [
            "/",
            "",
            "/customers/",
            "/customers//1",
            "//customers",
            "/customers/1/",
            "/customers/1/x",
            "/orders",
            "/customersx",
        ] {
            assert_eq!(r(none), None, "{none}");
        }
        assert_eq!(
            resolve(ORDER_SERVICE_ROUTES, "/orders/7"),
            Some((Route::Order, Some("7")))
        );
    }

    #[test]
    fn allow_lists_are_the_dispatchable_methods() {
        assert!(Route::Customers.allows("POST"));
        assert!(!Route::Customers.allows("PUT"));
        assert!(Route::Order.allows("DELETE"));
        assert!(!Route::Healthz.allows("HEAD"));
        assert!(!Route::Healthz.allows("get"));
        assert_eq!(
            Route::Customer.not_allowed().allow,
            Some("GET, PUT, DELETE")
        );
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in ["text/plain", "application/xml", "json", "", "text/json"] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn size_is_checked_before_media_type_and_syntax() {
        let big = vec![b'x'; MAX_BODY_BYTES + 1];
        assert_eq!(
            code(decode_json_body(Some("text/plain"), &big)),
            ErrorCode::PayloadTooLarge
        );
        let exactly = format!("{{\"a\":1}}{}", " ".repeat(MAX_BODY_BYTES - 7));
        assert_eq!(exactly.len(), MAX_BODY_BYTES);
        assert!(decode_json_body::<Probe>(Some("application/json"), exactly.as_bytes()).is_ok());
    }

    #[test]
    fn media_type_is_checked_before_syntax() {
        assert_eq!(
            code(decode_json_body(None, b"nope")),
            ErrorCode::UnsupportedMediaType
        );
        assert_eq!(
            code(decode_json_body(Some("text/plain"), b"{}")),
            ErrorCode::UnsupportedMediaType
        );
    }

    #[test]
    fn only_objects_of_known_fields_and_right_types_decode() {
        let ct = Some("application/json");
        for bad in [
            &b""[..],
            b"nope",
            b"[1]",
            b"null",
            b"{\"a\":\"1\"}",
            b"{\"a\":1.5}",
            b"{\"a\":99999999999999999999}",
            b"{\"b\":1}",
            b"{\"a\":1",
        ] {
            assert_eq!(code(decode_json_body(ct, bad)), ErrorCode::InvalidBody);
        }
        assert!(decode_json_body::<Probe>(ct, b" {\"a\": 7} ").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_decode_or_fail_with_a_contract_code(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            json in proptest::bool::ANY,
        ) {
            let ct = if json { Some("application/json") } else { Some("text/plain") };
            let allowed = [ErrorCode::InvalidBody, ErrorCode::UnsupportedMediaType];
            for code in [
                decode_json_body::<crate::customer::CustomerInput>(ct, &body).err().map(|e| e.code),
                decode_json_body::<crate::order::NewOrderInput>(ct, &body).err().map(|e| e.code),
                decode_json_body::<crate::order::OrderUpdateInput>(ct, &body).err().map(|e| e.code),
            ]
            .into_iter()
            .flatten()
            {
                proptest::prop_assert!(allowed.contains(&code), "{code:?}");
            }
        }

        #[test]
        fn json_shaped_bodies_never_panic(body in r#"\{("[a-z_]{1,16}": ?(null|-?[0-9]{1,22}|"[^"\\]{0,20}"|\[\]|\{\}|true|1e99),? ?){0,5}\}"#) {
            let ct = Some("application/json");
            if let Ok(input) = decode_json_body::<crate::customer::CustomerInput>(ct, body.as_bytes()) {
                let _ = input.validate();
            }
            if let Ok(input) = decode_json_body::<crate::order::NewOrderInput>(ct, body.as_bytes()) {
                let _ = input.validate();
            }
            if let Ok(input) = decode_json_body::<crate::order::OrderUpdateInput>(ct, body.as_bytes()) {
                let _ = input.validate();
            }
        }
    }
}
