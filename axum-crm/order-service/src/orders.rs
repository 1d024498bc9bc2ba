//! The `/orders` handlers: decode and validate with core, check the customer, run core's SQL.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum_common::db::{db_error, query};
use axum_common::upstream::{self, upstream_error};
use axum_common::{Id, JsonBody, Reply, Timer};
use crm_core::http::{location, Page, Route};
use crm_core::order::{invalid_transition, NewOrderInput, Order, OrderStatus, OrderUpdateInput};
use crm_core::params::OrderListQuery;
use crm_core::timing::Phase;
use crm_core::upstream::{customer_check, join_url};
use crm_core::{sql, ApiError};
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::AppState;

const CUSTOMER_SERVICE: &str = "customer-service";

/// One row of core's `ORDER_COLUMNS`.
fn order(row: &PgRow) -> Result<Order, ApiError> {
    let read = || -> Result<Order, sqlx::Error> {
        Ok(Order::from_row(
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
            row.try_get(4)?,
            row.try_get(5)?,
            row.try_get(6)?,
            row.try_get(7)?,
            row.try_get(8)?,
        ))
    };
    read().map_err(db_error)
}

/// `GET {CUSTOMER_SERVICE_URL}/customers/{id}`, timed as `verify`.
async fn verify_customer(
    state: &AppState,
    t: &mut Timer,
    customer_id: i64,
) -> Result<(), ApiError> {
    let url = join_url(
        &state.customer_service_url,
        &location(Route::Customers.pattern(), customer_id),
    );
    let answer = t
        .time(Phase::Verify, upstream::call(state.http.get(url)))
        .await
        .map_err(|failure| upstream_error(CUSTOMER_SERVICE, &failure.error))?;
    customer_check(customer_id, answer.status.as_u16())
}

/// `POST /orders`: validate, check the customer, insert.
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewOrderInput>,
) -> Response {
    let mut t = Timer::start();
    let result = async {
        let valid = input.validate()?;
        verify_customer(&state, &mut t, valid.customer_id).await?;
        let mut conn = state.db.acquire(&mut t).await?;
        let row = query(
            &mut t,
            sqlx::query(sql::INSERT_ORDER)
                .bind(valid.customer_id)
                .bind(&valid.product)
                .bind(valid.quantity)
                .bind(valid.unit_price_cents)
                .fetch_one(&mut *conn),
        )
        .await?;
        let created = order(&row)?;
        Ok(Reply::created(
            location(Route::Orders.pattern(), created.id),
            created,
        ))
    }
    .await;
    t.finish(result)
}

/// `GET /orders?customer_id=&limit=&offset=`
pub async fn list(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let mut t = Timer::start();
    let result = async {
        let q = OrderListQuery::parse(raw.as_deref())?;
        let mut conn = state.db.acquire(&mut t).await?;
        let statement = match q.customer_id {
            Some(customer_id) => sqlx::query(sql::LIST_ORDERS_BY_CUSTOMER).bind(customer_id),
            None => sqlx::query(sql::LIST_ORDERS),
        };
        let rows = query(
            &mut t,
            statement
                .bind(q.paging.limit)
                .bind(q.paging.offset)
                .fetch_all(&mut *conn),
        )
        .await?;
        let items = rows.iter().map(order).collect::<Result<Vec<_>, _>>()?;
        Ok(Reply::ok(Page {
            items,
            limit: q.paging.limit,
            offset: q.paging.offset,
        }))
    }
    .await;
    t.finish(result)
}

/// `GET /orders/{id}`
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Response {
    let mut t = Timer::start();
    let result = async {
        let mut conn = state.db.acquire(&mut t).await?;
        let row = query(
            &mut t,
            sqlx::query(sql::SELECT_ORDER)
                .bind(id)
                .fetch_optional(&mut *conn),
        )
        .await?;
        let row = row.ok_or_else(ApiError::not_found)?;
        Ok(Reply::ok(order(&row)?))
    }
    .await;
    t.finish(result)
}

/// `PUT /orders/{id}`: one guarded UPDATE; no row back → a second look tells 404 from 409.
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<OrderUpdateInput>,
) -> Response {
    let mut t = Timer::start();
    let result = async {
        let valid = input.validate()?;
        let mut conn = state.db.acquire(&mut t).await?;
        let row = query(
            &mut t,
            sqlx::query(sql::UPDATE_ORDER)
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
            return Ok(Reply::ok(order(&row)?));
        }
        let current: Option<String> = query(
            &mut t,
            sqlx::query_scalar(sql::SELECT_ORDER_STATUS)
                .bind(id)
                .fetch_optional(&mut *conn),
        )
        .await?;
        match current {
            None => Err(ApiError::not_found()),
            Some(from) => Err(invalid_transition(&from, valid.status)),
        }
    }
    .await;
    t.finish(result)
}

/// `DELETE /orders/{id}`
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Response {
    let mut t = Timer::start();
    let result = async {
        let mut conn = state.db.acquire(&mut t).await?;
        let done = query(
            &mut t,
            sqlx::query(sql::DELETE_ORDER).bind(id).execute(&mut *conn),
        )
        .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::not_found());
        }
        Ok(Reply::no_content())
    }
    .await;
    t.finish(result)
}

/// `GET /readyz`: Postgres only (customer-service being down does not make orders unreadable).
pub async fn readyz(State(state): State<AppState>) -> Response {
    state.db.readyz(crate::SERVICE).await
}
