//! order-service as a Spin component: `/orders`, `/orders/{id}`, `/healthz`, `/readyz`. Order
//! create checks the customer with customer-service (`customer_service_url`, within
//! `upstream_timeout_ms`) before writing. Rules, SQL and documents come from `crm-core`; each
//! request opens its own `pg4` connection (`database_url`).

use crm_core::http::{decode_json_body, location, Page, Route, Service, ORDER_SERVICE_ROUTES};
use crm_core::order::{invalid_transition, NewOrderInput, OrderStatus, OrderUpdateInput};
use crm_core::params::{parse_id, OrderListQuery};
use crm_core::timing::Phase;
use crm_core::upstream::{customer_check, join_url};
use crm_core::{sql, ApiError};
use spin_common::db::{self, int, text};
use spin_common::routing::{self, content_type, query};
use spin_common::upstream::{self, Call};
use spin_common::{vars, Ctx};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

const SERVICE: Service = Service::OrderService;
const CUSTOMER_SERVICE: &str = "customer-service";

#[http_component]
fn handle(req: Request) -> Response {
    routing::serve(SERVICE, ORDER_SERVICE_ROUTES, &req, |ctx, route, id| {
        let id = || parse_id(id.unwrap_or_default());
        match (route, req.method()) {
            (Route::Orders, Method::Get) => list(ctx, &req),
            (Route::Orders, Method::Post) => create(ctx, &req),
            (Route::Order, Method::Get) => get(ctx, id()?),
            (Route::Order, Method::Put) => update(ctx, id()?, &req),
            (Route::Order, Method::Delete) => delete(ctx, id()?),
            (Route::Healthz, Method::Get) => routing::healthz(ctx),
            (Route::Readyz, Method::Get) => db::ready(ctx),
            (route, _) => Err(route.not_allowed()),
        }
    })
}

fn orders(rows: Vec<db::Record>) -> Result<Vec<crm_core::order::Order>, ApiError> {
    rows.into_iter().map(db::order).collect()
}

fn list(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let q = OrderListQuery::parse(query(req))?;
    let (limit, offset) = (q.paging.limit, q.paging.offset);
    let db = db::open_database(ctx)?;
    let rows = match q.customer_id {
        Some(customer_id) => db.query(
            ctx,
            sql::LIST_ORDERS_BY_CUSTOMER,
            &[int(customer_id), int(limit), int(offset)],
        )?,
        None => db.query(ctx, sql::LIST_ORDERS, &[int(limit), int(offset)])?,
    };
    let items = orders(rows)?;
    Ok(ctx.json(
        200,
        &Page {
            items,
            limit,
            offset,
        },
    ))
}

/// `GET /customers/{id}` on customer-service, timed as `verify`.
fn verify_customer(ctx: &mut Ctx, customer_id: i64) -> Result<(), ApiError> {
    let base = vars::required("customer_service_url")?;
    let timeout = vars::upstream_timeout()?;
    let url = join_url(&base, &location(Route::Customers.pattern(), customer_id));
    let answer = ctx.time(Phase::Verify, || {
        upstream::send(Call {
            method: Method::Get,
            url: &url,
            headers: vec![("accept".into(), b"application/json".to_vec())],
            body: None,
            timeout,
        })
    });
    match answer {
        Ok(answer) => customer_check(customer_id, answer.status),
        Err(failure) => Err(failure.to_api_error(CUSTOMER_SERVICE)),
    }
}

fn create(ctx: &mut Ctx, req: &Request) -> Result<Response, ApiError> {
    let input: NewOrderInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    verify_customer(ctx, valid.customer_id)?;
    let db = db::open_database(ctx)?;
    let row = db
        .query_opt(
            ctx,
            sql::INSERT_ORDER,
            &[
                int(valid.customer_id),
                text(&valid.product),
                int(valid.quantity),
                int(valid.unit_price_cents),
            ],
        )?
        .ok_or_else(ApiError::internal)?;
    let order = db::order(row)?;
    Ok(ctx.created(&location(Route::Orders.pattern(), order.id), &order))
}

fn get(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    let row = db
        .query_opt(ctx, sql::SELECT_ORDER, &[int(id)])?
        .ok_or_else(ApiError::not_found)?;
    let order = db::order(row)?;
    Ok(ctx.json(200, &order))
}

/// One guarded `UPDATE`; no row back → a second look tells 404 from 409.
fn update(ctx: &mut Ctx, id: i64, req: &Request) -> Result<Response, ApiError> {
    let input: OrderUpdateInput = decode_json_body(content_type(req), req.body())?;
    let valid = input.validate()?;
    let db = db::open_database(ctx)?;
    let updated = db.query_opt(
        ctx,
        sql::UPDATE_ORDER,
        &[
            int(id),
            text(&valid.product),
            int(valid.quantity),
            int(valid.unit_price_cents),
            text(valid.status.as_str()),
            text(&OrderStatus::predecessors_param(valid.status)),
        ],
    )?;
    match updated {
        Some(row) => {
            let order = db::order(row)?;
            Ok(ctx.json(200, &order))
        }
        None => match db.query_opt(ctx, sql::SELECT_ORDER_STATUS, &[int(id)])? {
            None => Err(ApiError::not_found()),
            Some(mut row) => {
                let from = row.text("status")?;
                Err(invalid_transition(&from, valid.status))
            }
        },
    }
}

fn delete(ctx: &mut Ctx, id: i64) -> Result<Response, ApiError> {
    let db = db::open_database(ctx)?;
    match db.execute(ctx, sql::DELETE_ORDER, &[int(id)])? {
        0 => Err(ApiError::not_found()),
        _ => Ok(ctx.no_content()),
    }
}
