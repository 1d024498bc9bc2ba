//! The `/orders` handlers: decode and validate with core, check the customer, run core's SQL.

use crm_core::http::{decode_json_body, location, Page, Route, Service};
use crm_core::order::{invalid_transition, NewOrderInput, Order, OrderUpdateInput};
use crm_core::params::OrderListQuery;
use crm_core::timing::Phase;
use crm_core::upstream::customer_check;
use crm_core::{sql, ApiError};
use spin_common::db;
use spin_common::routing::{content_type, query};
use spin_common::upstream::Call;
use spin_common::Ctx;
use spin_sdk::http::{Request, Response};

/// `GET {customer_service_url}/customers/{id}`, timed as `verify`.
fn verify_customer(ctx: &mut Ctx, customer_id: i64) -> Result<(), ApiError> {
    let customer = Service::CustomerService;
    let call = Call::get(customer, &location(Route::Customers.pattern(), customer_id))?;
    let response = ctx
        .time(Phase::Verify, || call.send())
        .map_err(|failure| failure.to_api_error(customer.as_str()))?;
    customer_check(customer_id, response.status, &response.body)
}

/// `POST /orders`: validate, check the customer, insert.
pub fn create(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let input: NewOrderInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    verify_customer(ctx, valid.customer_id)?;
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::insert_order(&valid))?;
    let created = db::order(row.ok_or_else(ApiError::internal)?)?;
    let location = location(Route::Orders.pattern(), created.id);
    Ok(ctx.created(&location, &created))
}

/// `GET /orders?customer_id=&limit=&offset=`
pub fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let q = OrderListQuery::parse(query(req))?;
    let db = db::open_database(ctx)?;
    let rows = db.query(ctx, sql::list_orders(q.customer_id, q.paging))?;
    Ok(ctx.ok(&Page {
        items: rows
            .into_iter()
            .map(db::order)
            .collect::<Result<Vec<Order>, _>>()?,
        limit: q.paging.limit,
        offset: q.paging.offset,
    }))
}

/// `GET /orders/{id}`
pub fn get(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::select_order(id))?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(ctx.ok(&db::order(row)?))
}

/// `PUT /orders/{id}`: one guarded `UPDATE`; no row back → a second look tells 404 from 409.
pub fn update(ctx: &mut Ctx, id: i64, req: &Request) -> Result<Response, ApiError> {
    let input: OrderUpdateInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    if let Some(row) = db.query_opt(ctx, sql::update_order(id, &valid))? {
        return Ok(ctx.ok(&db::order(row)?));
    }
    match db.query_opt(ctx, sql::select_order_status(id))? {
        None => Err(ApiError::not_found()),
        Some(mut row) => Err(invalid_transition(&row.text("status")?, valid.status)),
    }
}

/// `DELETE /orders/{id}`
pub fn delete(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    match db.execute(ctx, sql::delete_order(id))? {
        0 => Err(ApiError::not_found()),
        _ => Ok(ctx.no_content()),
    }
}
