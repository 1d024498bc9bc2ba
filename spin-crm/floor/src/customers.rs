//! `GET /customers/{id}`: customer-service's connection, query and document, without its
//! plumbing. The connection is opened here rather than with spin-common's `Db::open`, a few
//! lines repeated so that the floor pays for no timing: it is the same `Connection::open` on
//! the same variable, once per request.

use crm_core::customer::{Customer, CustomerRow};
use crm_core::http::CONTENT_TYPE_JSON;
use crm_core::sql;
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, RowSet};

use crate::status;

/// The row as customer-service's JSON document (the same bytes on the wire), 404 with no body
/// when there is none; a database that cannot be reached or queried is a bare 503, a row of
/// unexpected shape a bare 500.
pub fn get(id: i64) -> Response {
    let Some(url) = crate::config::database_url() else {
        return status(500);
    };
    let conn = match Connection::open(&url) {
        Ok(conn) => conn,
        Err(error) => return failed("open", &error),
    };
    let rows = match conn.query(sql::SELECT_CUSTOMER, &[ParameterValue::Int64(id)]) {
        Ok(rows) => rows,
        Err(error) => return failed("query", &error),
    };
    match first_customer(rows) {
        Ok(Some(customer)) => json(&customer),
        Ok(None) => status(404),
        Err(column) => {
            eprintln!("unexpected value in column {column}");
            status(500)
        }
    }
}

fn failed(op: &str, error: &spin_sdk::pg4::PgError) -> Response {
    eprintln!("postgres {op} failed: {error:?}");
    status(503)
}

/// The first row as a customer, its columns read by name (core's column list may be
/// reordered); the name of a column that is missing or of another type.
fn first_customer(set: RowSet) -> Result<Option<Customer>, &'static str> {
    let Some(mut row) = set.rows.into_iter().next() else {
        return Ok(None);
    };
    let names: Vec<String> = set.columns.into_iter().map(|c| c.name).collect();
    let mut take = |name: &'static str| {
        let i = names.iter().position(|n| n == name).ok_or(name)?;
        let value = row.get_mut(i).ok_or(name)?;
        Ok::<_, &'static str>((name, std::mem::replace(value, DbValue::DbNull)))
    };
    let customer = CustomerRow {
        id: int(take("id")?)?,
        name: text(take("name")?)?,
        email: text(take("email")?)?,
        phone: opt_text(take("phone")?)?,
        created_us: int(take("created_us")?)?,
        updated_us: int(take("updated_us")?)?,
    };
    Ok(Some(customer.into()))
}

fn int((name, value): (&'static str, DbValue)) -> Result<i64, &'static str> {
    match value {
        DbValue::Int64(v) => Ok(v),
        _ => Err(name),
    }
}

fn text((name, value): (&'static str, DbValue)) -> Result<String, &'static str> {
    match value {
        DbValue::Str(v) => Ok(v),
        _ => Err(name),
    }
}

fn opt_text((name, value): (&'static str, DbValue)) -> Result<Option<String>, &'static str> {
    match value {
        DbValue::DbNull => Ok(None),
        other => text((name, other)).map(Some),
    }
}

fn json(customer: &Customer) -> Response {
    match serde_json::to_vec(customer) {
        Ok(body) => Response::builder()
            .status(200)
            .header("content-type", CONTENT_TYPE_JSON)
            .body(body)
            .build(),
        Err(_) => status(500),
    }
}
