//! The `/orders` handlers: decode and validate with core, check the customer, run core's SQL.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum_common::db::{execute, fetch_all, fetch_one, fetch_optional};
use axum_common::reply::timed;
use axum_common::upstream::{self, upstream_error};
use axum_common::{AppError, Id, JsonBody, Reply};
use crm_core::http::{location, Health, Page, Route, Service};
use crm_core::order::{invalid_transition, NewOrderInput, Order, OrderRow, OrderUpdateInput};
use crm_core::params::OrderListQuery;
use crm_core::timing::Phase;
use crm_core::upstream::{customer_check, join_url};
use crm_core::{sql, ApiError};

use crate::AppState;

/// `GET {CUSTOMER_SERVICE_URL}/customers/{id}`, timed as `verify`.
async fn verify_customer(state: &AppState, customer_id: i64) -> Result<(), ApiError> {
    let customer = Service::CustomerService;
    let url = join_url(
        &state.customer_service_url,
        &location(Route::Customers.pattern(), customer_id),
    );
    let response = timed(
        Phase::Verify,
        upstream::call(customer.as_str(), state.http.get(url)),
    )
    .await
    .map_err(|failure| upstream_error(customer.as_str(), &failure.error))?;
    customer_check(customer_id, response.status.as_u16(), &response.body)
}

/// `POST /orders`: validate, check the customer, insert.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewOrderInput>,
) -> Result<Reply<Order>, AppError> {
    let valid = input.validate()?;
    verify_customer(&state, valid.customer_id).await?;
    let mut conn = state.db.acquire().await?;
    let row: OrderRow = fetch_one(&mut conn, sql::insert_order(&valid)).await?;
    let created = Order::from(row);
    let location = location(Route::Orders.pattern(), created.id);
    Ok(Reply::created(location, created))
}

/// `GET /orders?customer_id=&limit=&offset=`
pub async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Reply<Page<Order>>, AppError> {
    let q = OrderListQuery::parse(raw.as_deref())?;
    let mut conn = state.db.acquire().await?;
    let statement = sql::list_orders(q.customer_id, q.paging);
    let rows: Vec<OrderRow> = fetch_all(&mut conn, statement).await?;
    Ok(Reply::ok(Page {
        items: rows.into_iter().map(Order::from).collect(),
        limit: q.paging.limit,
        offset: q.paging.offset,
    }))
}

/// `GET /orders/{id}`
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Result<Reply<Order>, AppError> {
    let mut conn = state.db.acquire().await?;
    let row: Option<OrderRow> = fetch_optional(&mut conn, sql::select_order(id)).await?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(Order::from(row)))
}

/// `PUT /orders/{id}`: one guarded UPDATE; no row back → a second look tells 404 from 409.
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<OrderUpdateInput>,
) -> Result<Reply<Order>, AppError> {
    let valid = input.validate()?;
    let mut conn = state.db.acquire().await?;
    let row: Option<OrderRow> = fetch_optional(&mut conn, sql::update_order(id, &valid)).await?;
    if let Some(row) = row {
        return Ok(Reply::ok(Order::from(row)));
    }
    let current: Option<(String,)> =
        fetch_optional(&mut conn, sql::select_order_status(id)).await?;
    match current {
        None => Err(ApiError::not_found().into()),
        Some((from,)) => Err(invalid_transition(&from, valid.status).into()),
    }
}

/// `DELETE /orders/{id}`
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, AppError> {
    let mut conn = state.db.acquire().await?;
    match execute(&mut conn, sql::delete_order(id)).await? {
        0 => Err(ApiError::not_found().into()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `GET /readyz`: Postgres only (customer-service being down does not make orders unreadable).
pub async fn readyz(State(state): State<AppState>) -> Result<Reply<Health>, AppError> {
    state.db.readyz(crate::SERVICE).await
}
