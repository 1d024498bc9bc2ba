//! The `/customers` handlers: decode and validate with core, run core's SQL, answer.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum_common::db::{execute, fetch_all, fetch_one, fetch_optional, Db};
use axum_common::reply::recorded;
use axum_common::{AppError, Id, JsonBody, Reply};
use crm_core::customer::{Customer, CustomerInput, CustomerRow};
use crm_core::http::{location, Health, Page, Ping, Route};
use crm_core::params::parse_paging;
use crm_core::timing::{millis, Phase};
use crm_core::{sql, ApiError};

/// `POST /customers`
pub async fn create(
    State(db): State<Db>,
    JsonBody(input): JsonBody<CustomerInput>,
) -> Result<Reply<Customer>, AppError> {
    let valid = input.validate()?;
    let mut conn = db.acquire().await?;
    let row: CustomerRow = fetch_one(&mut conn, sql::insert_customer(&valid)).await?;
    let created = Customer::from(row);
    let location = location(Route::Customers.pattern(), created.id);
    Ok(Reply::created(location, created))
}

/// `GET /customers?limit=&offset=`
pub async fn list(
    State(db): State<Db>,
    RawQuery(raw): RawQuery,
) -> Result<Reply<Page<Customer>>, AppError> {
    let paging = parse_paging(raw.as_deref())?;
    let mut conn = db.acquire().await?;
    let rows: Vec<CustomerRow> = fetch_all(&mut conn, sql::list_customers(paging)).await?;
    Ok(Reply::ok(Page {
        items: rows.into_iter().map(Customer::from).collect(),
        limit: paging.limit,
        offset: paging.offset,
    }))
}

/// `GET /customers/{id}`
pub async fn get(State(db): State<Db>, Id(id): Id) -> Result<Reply<Customer>, AppError> {
    let mut conn = db.acquire().await?;
    let row: Option<CustomerRow> = fetch_optional(&mut conn, sql::select_customer(id)).await?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(Customer::from(row)))
}

/// `PUT /customers/{id}`
pub async fn update(
    State(db): State<Db>,
    Id(id): Id,
    JsonBody(input): JsonBody<CustomerInput>,
) -> Result<Reply<Customer>, AppError> {
    let valid = input.validate()?;
    let mut conn = db.acquire().await?;
    let row: Option<CustomerRow> =
        fetch_optional(&mut conn, sql::update_customer(id, &valid)).await?;
    let row = row.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(Customer::from(row)))
}

/// `DELETE /customers/{id}`
pub async fn delete(State(db): State<Db>, Id(id): Id) -> Result<StatusCode, AppError> {
    let mut conn = db.acquire().await?;
    match execute(&mut conn, sql::delete_customer(id)).await? {
        0 => Err(ApiError::not_found().into()),
        _ => Ok(StatusCode::NO_CONTENT),
    }
}

/// `GET /customers/ping`: a connection and `SELECT 1`, with both durations in the body.
pub async fn ping(State(db): State<Db>) -> Result<Reply<Ping>, AppError> {
    let mut conn = db.acquire().await?;
    execute(&mut conn, sql::ping()).await?;
    let ms = |phase| recorded(phase).map(millis).unwrap_or_default();
    Ok(Reply::ok(Ping {
        status: "ok",
        conn_ms: ms(Phase::Conn),
        query_ms: ms(Phase::Query),
    }))
}

/// `GET /readyz`
pub async fn readyz(State(db): State<Db>) -> Result<Reply<Health>, AppError> {
    db.readyz(crate::SERVICE).await
}
