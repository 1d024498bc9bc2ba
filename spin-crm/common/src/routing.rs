//! The edge of every component: spin-sdk's `Router` matches paths, and each route's handler
//! dispatches on the method itself, so that an unknown path is the contract's JSON 404 and a
//! wrong method its 405 with `allow` (the `Router`'s own fallbacks are plain-text, and its
//! per-method tables would send `PUT /customers/ping` to `/customers/:id`, or serve HEAD as GET).

use crm_core::http::{routes, Health, Runtime, Service};
use crm_core::ApiError;
use spin_sdk::http::{Method, Params, Request, Response, Router};

use crate::Ctx;

/// Routes `req`; paths with an empty segment are refused first, because the `Router` would
/// match `/customers/` as `/customers` and `/customers/1/` as `/customers/:id`, while for the
/// contract they name nothing.
pub fn serve(router: &Router, service: Service, req: Request) -> Response {
    if has_empty_segment(req.path()) {
        return Ctx::new(service).error(&ApiError::not_found());
    }
    router.handle(req)
}

/// `GET /healthz` (no dependency touched) and `GET /readyz` (`ready` decides), 405 otherwise.
pub fn health_routes(
    router: &mut Router,
    service: Service,
    ready: fn(&mut Ctx) -> Result<Response, ApiError>,
) {
    router.any(routes::HEALTHZ, move |req: Request, _: Params| {
        crate::run(service, |ctx| match req.method() {
            Method::Get => Ok(ctx.json(200, &Health::ok(service, Runtime::Spin))),
            _ => Err(ApiError::method_not_allowed(routes::GET_ONLY)),
        })
    });
    router.any(routes::READYZ, move |req: Request, _: Params| {
        crate::run(service, |ctx| match req.method() {
            Method::Get => ready(ctx),
            _ => Err(ApiError::method_not_allowed(routes::GET_ONLY)),
        })
    });
}

/// The catch-all route's handler body: the contract's 404.
pub fn not_found(service: Service) -> Response {
    Ctx::new(service).error(&ApiError::not_found())
}

/// `/customers/`, `/customers//1`, `//customers`: a segment is empty.
pub fn has_empty_segment(path: &str) -> bool {
    path.len() > 1 && (path.ends_with('/') || path.contains("//"))
}

/// The query string as `crm-core`'s parsers take it.
pub fn query(req: &Request) -> Option<&str> {
    Some(req.query()).filter(|q| !q.is_empty())
}

/// The request's `content-type`, if it is text.
pub fn content_type(req: &Request) -> Option<&str> {
    req.header("content-type").and_then(|v| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_segments() {
        for bad in [
            "/customers/",
            "/customers//1",
            "//customers",
            "/customers/1/",
        ] {
            assert!(has_empty_segment(bad), "{bad}");
        }
        for ok in ["/", "/customers", "/customers/1", "/customers/ping"] {
            assert!(!has_empty_segment(ok), "{ok}");
        }
    }
}
