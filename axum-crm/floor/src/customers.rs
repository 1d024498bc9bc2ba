//! `GET /customers/{id}`: customer-service's query and document, without its plumbing.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use crm_core::customer::{Customer, CustomerRow};
use crm_core::http::CONTENT_TYPE_JSON;
use crm_core::sql;
use sqlx::PgPool;

/// The row as customer-service's JSON document (the same bytes on the wire, so the two differ
/// only in what runs around the query), 404 with no body when there is none. Any database
/// error is a bare 503: the floor has no error documents.
pub async fn get(State(pool): State<PgPool>, Path(id): Path<i64>) -> Response {
    let row: Result<Option<CustomerRow>, sqlx::Error> = sqlx::query_as(sql::SELECT_CUSTOMER)
        .bind(id)
        .fetch_optional(&pool)
        .await;
    match row {
        Ok(Some(row)) => json(&Customer::from(row)),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(error) => {
            eprintln!("axum-floor: GET /customers/{id}: {error}");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn json(customer: &Customer) -> Response {
    match serde_json::to_vec(customer) {
        Ok(body) => ([(CONTENT_TYPE, CONTENT_TYPE_JSON)], body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
