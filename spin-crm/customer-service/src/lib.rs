//! customer-service as a Spin component: `/customers`, `/customers/ping`, `/customers/{id}`,
//! `/healthz`, `/readyz`. Rules, SQL and documents come from `crm-core`; each request opens its
//! own `pg4` connection (`database_url`).

use crm_core::customer::CustomerInput;
use crm_core::http::{
    decode_json_body, location, Page, Ping, Route, Service, CUSTOMER_SERVICE_ROUTES,
};
use crm_core::params::{parse_id, parse_paging};
use crm_core::sql;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;
use spin_common::db::{self, int, opt_text, text};
use spin_common::routing::{self, content_type, query};
use spin_common::Ctx;
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

const SERVICE: Service = Service::CustomerService;

#[http_component]
fn handle(req: Request) -> Response {
    routing::serve(SERVICE, CUSTOMER_SERVICE_ROUTES, &req, |ctx, route, id| {
        let id = || parse_id(id.unwrap_or_default());
        match (route, req.method()) {
            (Route::Customers, Method::Get) => list(ctx, &req),
            (Route::Customers, Method::Post) => create(ctx, &req),
            (Route::CustomerPing, Method::Get) => ping(ctx),
            (Route::Customer, Method::Get) => get(ctx, id()?),
            (Route::Customer, Method::Put) => update(ctx, id()?, &req),
            (Route::Customer, Method::Delete) => delete(ctx, id()?),
            (Route::Healthz, Method::Get) => routing::healthz(ctx),
            (Route::Readyz, Method::Get) => db::ready(ctx),
            (route, _) => Err(route.not_allowed()),
        }
    })
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
    Ok(ctx.created(
        &location(Route::Customers.pattern(), customer.id),
        &customer,
    ))
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
