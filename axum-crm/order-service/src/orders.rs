//! The `/orders` handlers: decode and validate with core, check the customer, run core's SQL.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum_common::db::query;
use axum_common::reply::timed;
use axum_common::upstream::{self, upstream_error};
use axum_common::{AppError, Id, JsonBody, Reply};
use crm_core::http::{location, Health, Page, Route, Service};
use crm_core::order::{
    invalid_transition, NewOrderInput, Order, OrderRow, OrderStatus, OrderUpdateInput,
};
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
    customer_check(customer_id, response.status.as_u16())
}

/// `POST /orders`: validate, check the customer, insert.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewOrderInput>,
) -> Result<Reply<Order>, AppError> {
    let valid = input.validate()?;
    verify_customer(&state, valid.customer_id).await?;
    let mut conn = state.db.acquire().await?;
    let row: OrderRow = query(
        sql::INSERT_ORDER,
        sqlx::query_as(sql::INSERT_ORDER)
            .bind(valid.customer_id)
            .bind(&valid.product)
            .bind(valid.quantity)
            .bind(valid.unit_price_cents)
            .fetch_one(&mut *conn),
    )
    .await?;
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
    let (sql, statement) = match q.customer_id {
        Some(customer_id) => {
            let sql = sql::LIST_ORDERS_BY_CUSTOMER;
            (sql, sqlx::query_as(sql).bind(customer_id))
        }
        None => (sql::LIST_ORDERS, sqlx::query_as(sql::LIST_ORDERS)),
    };
    let rows: Vec<OrderRow> = query(
        sql,
        statement
            .bind(q.paging.limit)
            .bind(q.paging.offset)
            .fetch_all(&mut *conn),
    )
    .await?;
    Ok(Reply::ok(Page {
        items: rows.into_iter().map(Order::from).collect(),
        limit: q.paging.limit,
        offset: q.paging.offset,
    }))
}

/// `GET /orders/{id}`
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Result<Reply<Order>, AppError> {
    let mut conn = state.db.acquire().await?;
    let row: Option<OrderRow> = query(
        sql::SELECT_ORDER,
        sqlx::query_as(sql::SELECT_ORDER)
            .bind(id)
            .fetch_optional(&mut *conn),
    )
    .await?;
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
    let row: Option<OrderRow> = query(
        sql::UPDATE_ORDER,
        sqlx::query_as(sql::UPDATE_ORDER)
            .bind(id)
            .bind(&valid.product)
            .bind(valid.quantity)
            .bind(valid.unit_price_cents)
            .bind(valid.status.as_str())
            .bind(OrderStatus::predecessors_param(valid.status))
            .fetch_optional(&mut *conn),
    )
    .await?;
    if let Some(row) = row {
        return Ok(Reply::ok(Order::from(row)));
    }
    let current: Option<String> = query(
        sql::SELECT_ORDER_STATUS,
        sqlx::query_scalar(sql::SELECT_ORDER_STATUS)
            .bind(id)
            .fetch_optional(&mut *conn),
    )
    .await?;
    match current {
        None => Err(ApiError::not_found().into()),
        Some(from) => Err(invalid_transition(&from, valid.status).into()),
    }
}

/// `DELETE /orders/{id}`
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, AppError> {
    let mut conn = state.db.acquire().await?;
    let done = query(
        sql::DELETE_ORDER,
        sqlx::query(sql::DELETE_ORDER).bind(id).execute(&mut *conn),
    )
    .await?;
    match done.rows_affected() {
        0 => Err(ApiError::not_found().into()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `GET /readyz`: Postgres only (customer-service being down does not make orders unreadable).
pub async fn readyz(State(state): State<AppState>) -> Result<Reply<Health>, AppError> {
    state.db.readyz(crate::SERVICE).await
}
