//! The `/customers` handlers: decode and validate with core, run core's SQL, answer.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum_common::db::{query, Db};
use axum_common::{Id, JsonBody, Reply, Timer};
use crm_core::customer::{Customer, CustomerInput, CustomerRow};
use crm_core::http::{location, Page, Ping, Route};
use crm_core::params::parse_paging;
use crm_core::timing::{millis, Phase};
use crm_core::{sql, ApiError};

/// `POST /customers`
pub async fn create(State(db): State<Db>, JsonBody(input): JsonBody<CustomerInput>) -> Response {
    let mut t = Timer::start();
    let result = async {
        let valid = input.validate()?;
        let mut conn = db.acquire(&mut t).await?;
        let row: CustomerRow = query(
            &mut t,
            sqlx::query_as(sql::INSERT_CUSTOMER)
                .bind(&valid.name)
                .bind(&valid.email)
                .bind(&valid.phone)
                .fetch_one(&mut *conn),
        )
        .await?;
        let created = Customer::from(row);
        Ok(Reply::created(
            location(Route::Customers.pattern(), created.id),
            created,
        ))
    }
    .await;
    t.finish(result)
}

/// `GET /customers?limit=&offset=`
pub async fn list(State(db): State<Db>, RawQuery(raw): RawQuery) -> Response {
    let mut t = Timer::start();
    let result = async {
        let paging = parse_paging(raw.as_deref())?;
        let mut conn = db.acquire(&mut t).await?;
        let rows: Vec<CustomerRow> = query(
            &mut t,
            sqlx::query_as(sql::LIST_CUSTOMERS)
                .bind(paging.limit)
                .bind(paging.offset)
                .fetch_all(&mut *conn),
        )
        .await?;
        let items: Vec<Customer> = rows.into_iter().map(Customer::from).collect();
        Ok(Reply::ok(Page {
            items,
            limit: paging.limit,
            offset: paging.offset,
        }))
    }
    .await;
    t.finish(result)
}

/// `GET /customers/{id}`
pub async fn get(State(db): State<Db>, Id(id): Id) -> Response {
    let mut t = Timer::start();
    let result = async {
        let mut conn = db.acquire(&mut t).await?;
        let row: Option<CustomerRow> = query(
            &mut t,
            sqlx::query_as(sql::SELECT_CUSTOMER)
                .bind(id)
                .fetch_optional(&mut *conn),
        )
        .await?;
        let row = row.ok_or_else(ApiError::not_found)?;
        Ok(Reply::ok(Customer::from(row)))
    }
    .await;
    t.finish(result)
}

/// `PUT /customers/{id}`
pub async fn update(
    State(db): State<Db>,
    Id(id): Id,
    JsonBody(input): JsonBody<CustomerInput>,
) -> Response {
    let mut t = Timer::start();
    let result = async {
        let valid = input.validate()?;
        let mut conn = db.acquire(&mut t).await?;
        let row: Option<CustomerRow> = query(
            &mut t,
            sqlx::query_as(sql::UPDATE_CUSTOMER)
                .bind(id)
                .bind(&valid.name)
                .bind(&valid.email)
                .bind(&valid.phone)
                .fetch_optional(&mut *conn),
        )
        .await?;
        let row = row.ok_or_else(ApiError::not_found)?;
        Ok(Reply::ok(Customer::from(row)))
    }
    .await;
    t.finish(result)
}

/// `DELETE /customers/{id}`
pub async fn delete(State(db): State<Db>, Id(id): Id) -> Response {
    let mut t = Timer::start();
    let result = async {
        let mut conn = db.acquire(&mut t).await?;
        let done = query(
            &mut t,
            sqlx::query(sql::DELETE_CUSTOMER)
                .bind(id)
                .execute(&mut *conn),
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

/// `GET /customers/ping`: a connection and `SELECT 1`, with both durations in the body.
pub async fn ping(State(db): State<Db>) -> Response {
    let mut t = Timer::start();
    let result = async {
        let mut conn = db.acquire(&mut t).await?;
        query(&mut t, sqlx::query(sql::PING).execute(&mut *conn)).await?;
        let ms = |phase| millis(t.timing().get(phase).unwrap_or_default());
        Ok(Reply::ok(Ping {
            status: "ok",
            conn_ms: ms(Phase::Conn),
            query_ms: ms(Phase::Query),
        }))
    }
    .await;
    t.finish(result)
}

/// `GET /readyz`
pub async fn readyz(State(db): State<Db>) -> Response {
    db.readyz(crate::SERVICE).await
}
