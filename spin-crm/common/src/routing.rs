//! The edge of every component: core's route table decides which route a path names and which
//! methods it allows, so an unknown path is the contract's JSON 404 and a wrong method its 405
//! with `allow`, the same table the Axum stack registers. spin-sdk's `Router` is not used: its
//! fallbacks are plain-text, it matches `/customers/` as `/customers` and `/customers/1/` as
//! `/customers/:id`, and its per-method tables would send `PUT /customers/ping` to
//! `/customers/:id` or serve HEAD as GET.

use crm_core::http::{resolve, Health, Route, Runtime, Service};
use crm_core::ApiError;
use spin_sdk::http::{Request, Response};

use crate::Ctx;

/// Answers `req` with `handler`, called with the route `req`'s path names among `routes` and
/// the route's `{id}` segment, once the method is known to be one the route allows; `/healthz`
/// is answered here. Whatever the handler does not serve is that route's 405.
pub fn serve(
    service: Service,
    routes: &[Route],
    req: &Request,
    handler: impl FnOnce(&mut Ctx, Route, Option<&str>) -> Result<Response, ApiError>,
) -> Response {
    crate::run(service, |ctx| {
        let (route, param) = resolve(routes, req.path()).ok_or_else(ApiError::not_found)?;
        if !route.allows(&req.method().to_string()) {
            return Err(route.not_allowed());
        }
        match route {
            Route::Healthz => healthz(ctx),
            _ => handler(ctx, route, param),
        }
    })
}

/// `GET /healthz`: never touches a dependency.
fn healthz(ctx: &mut Ctx) -> Result<Response, ApiError> {
    Ok(ctx.ok(&Health::ok(ctx.service, Runtime::Spin)))
}

/// The query string as `crm-core`'s parsers take it.
pub fn query(req: &Request) -> Option<&str> {
    Some(req.query()).filter(|q| !q.is_empty())
}

/// The request's `content-type`, if it is text.
pub fn content_type(req: &Request) -> Option<&str> {
    req.header("content-type").and_then(|v| v.as_str())
}
