//! The `/orders` handlers: decode and validate with core, check the customer, run core's SQL.

use crm_core::http::{decode_json_body, location, Page, Route, Service};
use crm_core::order::{invalid_transition, NewOrderInput, Order, OrderStatus, OrderUpdateInput};
use crm_core::params::OrderListQuery;
use crm_core::timing::Phase;
use crm_core::upstream::customer_check;
use crm_core::{sql, ApiError};
use spin_common::db::{self, int, text};
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
    customer_check(customer_id, response.status)
}

/// `POST /orders`: validate, check the customer, insert.
pub fn create(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let input: NewOrderInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    verify_customer(ctx, valid.customer_id)?;
    let db = db::open_database(ctx)?;
    let params = [
        int(valid.customer_id),
        text(&valid.product),
        int(valid.quantity),
        int(valid.unit_price_cents),
    ];
    let row = db.query_opt(ctx, sql::INSERT_ORDER, &params)?;
    let created = db::order(row.ok_or_else(ApiError::internal)?)?;
    let location = location(Route::Orders.pattern(), created.id);
    Ok(ctx.created(&location, &created))
}

/// `GET /orders?customer_id=&limit=&offset=`
pub fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let q = OrderListQuery::parse(query(req))?;
    let (limit, offset) = (q.paging.limit, q.paging.offset);
    let db = db::open_database(ctx)?;
    let rows = match q.customer_id {
        Some(customer_id) => {
            let params = [int(customer_id), int(limit), int(offset)];
            db.query(ctx, sql::LIST_ORDERS_BY_CUSTOMER, &params)?
        }
        None => db.query(ctx, sql::LIST_ORDERS, &[int(limit), int(offset)])?,
    };
    Ok(ctx.ok(&Page {
        items: rows
            .into_iter()
            .map(db::order)
            .collect::<Result<Vec<Order>, _>>()?,
        limit,
        offset,
    }))
}

/// `GET /orders/{id}`
pub fn get(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    let row = db.query_opt(ctx, sql::SELECT_ORDER, &[int(id)])?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(ctx.ok(&db::order(row)?))
}

/// `PUT /orders/{id}`: one guarded `UPDATE`; no row back → a second look tells 404 from 409.
pub fn update(ctx: &mut Ctx, id: i64, req: &Request) -> Result<Response, ApiError> {
    let input: OrderUpdateInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let params = [
        int(id),
        text(&valid.product),
        int(valid.quantity),
        int(valid.unit_price_cents),
        text(valid.status.as_str()),
        text(&OrderStatus::predecessors_param(valid.status)),
    ];
    if let Some(row) = db.query_opt(ctx, sql::UPDATE_ORDER, &params)? {
        return Ok(ctx.ok(&db::order(row)?));
    }
    match db.query_opt(ctx, sql::SELECT_ORDER_STATUS, &[int(id)])? {
        None => Err(ApiError::not_found()),
        Some(mut row) => Err(invalid_transition(&row.text("status")?, valid.status)),
    }
}

/// `DELETE /orders/{id}`
pub fn delete(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    match db.execute(ctx, sql::DELETE_ORDER, &[int(id)])? {
        0 => Err(ApiError::not_found()),
        _ => Ok(ctx.no_content()),
    }
}
