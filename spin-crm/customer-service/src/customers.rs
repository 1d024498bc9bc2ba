//! The `/customers` handlers: decode and validate with core, run core's SQL, answer.

use crm_core::customer::{Customer, CustomerInput};
use crm_core::http::{decode_json_body, location, Page, Ping, Route};
use crm_core::params::parse_paging;
use crm_core::sql;
use crm_core::timing::{millis, Phase};
use crm_core::ApiError;
use spin_common::db;
use spin_common::routing::{content_type, query};
use spin_common::Ctx;
use spin_sdk::http::{Request, Response};

/// `POST /customers`
pub fn create(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let input: CustomerInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::insert_customer(&valid))?;
    let created = db::customer(row.ok_or_else(ApiError::internal)?)?;
    let location = location(Route::Customers.pattern(), created.id);
    Ok(ctx.created(&location, &created))
}

/// `GET /customers?limit=&offset=`
pub fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let paging = parse_paging(query(req))?;
    let db = db::open_database(ctx)?;
    let rows = db.query(ctx, sql::list_customers(paging))?;
    Ok(ctx.ok(&Page {
        items: rows
            .into_iter()
            .map(db::customer)
            .collect::<Result<Vec<Customer>, _>>()?,
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `GET /customers/{id}`
pub fn get(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::select_customer(id))?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(ctx.ok(&db::customer(row)?))
}

/// `PUT /customers/{id}`
pub fn update(ctx: &mut Ctx, id: i64, req: &Request) -> Result<Response, ApiError> {
    let input: CustomerInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::update_customer(id, &valid))?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(ctx.ok(&db::customer(row)?))
}

/// `DELETE /customers/{id}`
pub fn delete(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    match db.execute(ctx, sql::delete_customer(id))? {
        0 => Err(ApiError::not_found()),
        _ => Ok(ctx.no_content()),
    }
}

/// `GET /customers/ping`: a connection and `SELECT 1`, with both durations in the body.
pub fn ping(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    db.query(ctx, sql::ping())?;
    let ms = |phase| ctx.timing.get(phase).map(millis).unwrap_or_default();
    let ping = Ping {
        status: "ok",
        conn_ms: ms(Phase::Conn),
        query_ms: ms(Phase::Query),
    };
    Ok(ctx.ok(&ping))
}
