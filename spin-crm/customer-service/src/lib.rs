//! customer-service as a Spin component: `/customers`, `/customers/ping`, `/customers/{id}`,
//! `/healthz`, `/readyz`. Rules, SQL and documents come from `crm-core`; each request opens its
//! own `pg4` connection (`database_url`).

use crm_core::customer::CustomerInput;
use crm_core::http::{decode_json_body, location, routes, Page, Ping, Service};
use crm_core::params::{parse_id, parse_paging};
use crm_core::sql;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;
use spin_common::db::{self, int, opt_text, text};
use spin_common::routing::{self, content_type, query};
use spin_common::Ctx;
use spin_sdk::http::{Method, Params, Request, Response, Router};
use spin_sdk::http_component;

const SERVICE: Service = Service::CustomerService;

#[http_component]
fn handle(req: Request) -> Response {
    let mut router = Router::new();
    router.any(routes::CUSTOMERS, |req: Request, _: Params| {
        with_ctx(|ctx| match req.method() {
            Method::Get => list(ctx, &req),
            Method::Post => create(ctx, &req),
            _ => Err(ApiError::method_not_allowed(routes::CUSTOMERS_ALLOW)),
        })
    });
    router.any(routes::CUSTOMER_PING, |req: Request, _: Params| {
        with_ctx(|ctx| match req.method() {
            Method::Get => ping(ctx),
            _ => Err(ApiError::method_not_allowed(routes::CUSTOMER_PING_ALLOW)),
        })
    });
    router.any("/customers/:id", |req: Request, params: Params| {
        with_ctx(|ctx| {
            let allowed = matches!(req.method(), Method::Get | Method::Put | Method::Delete);
            if !allowed {
                return Err(ApiError::method_not_allowed(routes::CUSTOMER_ALLOW));
            }
            let id = parse_id(params.get("id").unwrap_or_default())?;
            match req.method() {
                Method::Get => get(ctx, id),
                Method::Put => update(ctx, id, &req),
                _ => delete(ctx, id),
            }
        })
    });
    routing::health_routes(&mut router, SERVICE, db::ready);
    router.any("*", |_: Request, _: Params| routing::not_found(SERVICE));
    routing::serve(&router, SERVICE, req)
}

fn with_ctx(f: impl FnOnce(&mut Ctx) -> Result<Response, ApiError>) -> Response {
    spin_common::run(SERVICE, f)
}

fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let paging = parse_paging(query(req))?;
    let db = db::open_database(ctx)?;
    let rows = db.query(
        ctx,
        sql::LIST_CUSTOMERS,
        &[int(paging.limit), int(paging.offset)],
    )?;
    let items = rows
        .into_iter()
        .map(db::customer)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ctx.json(
        200,
        &Page {
            items,
            limit: paging.limit,
            offset: paging.offset,
        },
    ))
}

fn create(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let input: CustomerInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let row = db
        .query_opt(
            ctx,
            sql::INSERT_CUSTOMER,
            &[
                text(&valid.name),
                text(&valid.email),
                opt_text(valid.phone.as_deref()),
            ],
        )?
        .ok_or_else(ApiError::internal)?;
    let customer = db::customer(row)?;
    Ok(ctx.created(&location(routes::CUSTOMERS, customer.id), &customer))
}

fn get(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    let row = db
        .query_opt(ctx, sql::SELECT_CUSTOMER, &[int(id)])?
        .ok_or_else(ApiError::not_found)?;
    let customer = db::customer(row)?;
    Ok(ctx.json(200, &customer))
}

fn update(ctx: &mut Ctx, id: i64, req: &Request) -> Result<Response, ApiError> {
    let input: CustomerInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let row = db
        .query_opt(
            ctx,
            sql::UPDATE_CUSTOMER,
            &[
                int(id),
                text(&valid.name),
                text(&valid.email),
                opt_text(valid.phone.as_deref()),
            ],
        )?
        .ok_or_else(ApiError::not_found)?;
    let customer = db::customer(row)?;
    Ok(ctx.json(200, &customer))
}

fn delete(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    match db.execute(ctx, sql::DELETE_CUSTOMER, &[int(id)])? {
        0 => Err(ApiError::not_found()),
        _ => Ok(ctx.no_content()),
    }
}

/// `GET /customers/ping`: a connection and `SELECT 1`, their durations in the body too.
fn ping(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    db.query(ctx, sql::PING, &[])?;
    let ping = Ping {
        status: "ok",
        conn_ms: ctx.timing.get(Phase::Conn).map(millis).unwrap_or_default(),
        query_ms: ctx.timing.get(Phase::Query).map(millis).unwrap_or_default(),
    };
    Ok(ctx.json(200, &ping))
}
