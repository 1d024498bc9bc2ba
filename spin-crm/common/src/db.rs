//! Postgres through Spin's `pg4`: one `Connection::open` per request (timed as `conn`), the
//! statements of `crm_core::sql` (timed as `query`), rows into `crm-core`'s models, and `pg4`
//! errors into the contract's codes.
//!
//! Since Spin 3.4 the host keeps a pool per address, so `open` is a checkout from that pool
//! (plus its state reset), not a TCP and authentication handshake.

// pg4 errors are large by design (they carry Postgres's error fields), as spin-sdk notes too.
#![allow(clippy::result_large_err)]

use crm_core::customer::Customer;
use crm_core::http::{Health, Runtime};
use crm_core::order::Order;
use crm_core::sql::sqlstate_is_unavailable;
use crm_core::timing::Phase;
use crm_core::ApiError;
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

use crate::Ctx;

/// A row as `pg4` returns it: values in the statement's column order.
pub type Row = Vec<DbValue>;

/// The request's connection.
pub struct Db {
    conn: Connection,
}

impl Db {
    /// Opens the request's connection, timed as `conn`.
    pub fn open(ctx: &mut Ctx, url: &str) -> Result<Db, ApiError> {
        let conn = ctx
            .time(Phase::Conn, || Connection::open(url))
            .map_err(|e| error("open", &e))?;
        Ok(Db { conn })
    }

    /// A statement that returns rows, timed as `query`.
    pub fn query(
        &self,
        ctx: &mut Ctx,
        sql: &str,
        params: &[ParameterValue],
    ) -> Result<Vec<Row>, ApiError> {
        ctx.time(Phase::Query, || self.conn.query(sql, params))
            .map(|set| set.rows)
            .map_err(|e| error("query", &e))
    }

    /// At most one row.
    pub fn query_opt(
        &self,
        ctx: &mut Ctx,
        sql: &str,
        params: &[ParameterValue],
    ) -> Result<Option<Row>, ApiError> {
        Ok(self.query(ctx, sql, params)?.into_iter().next())
    }

    /// A statement without rows; the number of rows it affected.
    pub fn execute(
        &self,
        ctx: &mut Ctx,
        sql: &str,
        params: &[ParameterValue],
    ) -> Result<u64, ApiError> {
        ctx.time(Phase::Query, || self.conn.execute(sql, params))
            .map_err(|e| error("execute", &e))
    }
}

/// `BIGINT` parameter.
/// The component's database (`database_url`), opened for this request: one connection per
/// request is the design under comparison.
pub fn open_database(ctx: &mut Ctx) -> Result<Db, ApiError> {
    let url = crate::vars::required("database_url")?;
    Db::open(ctx, &url)
}

/// `GET /readyz` of a data service: a connection and `SELECT 1`, else 503.
pub fn ready(ctx: &mut Ctx) -> Result<Response, ApiError> {
    match open_database(ctx).and_then(|db| db.query(ctx, crm_core::sql::PING, &[])) {
        Ok(_) => Ok(ctx.json(200, &Health::ok(ctx.service, Runtime::Spin))),
        Err(_) => Err(ApiError::database_unavailable()),
    }
}

pub fn int(value: i64) -> ParameterValue {
    ParameterValue::Int64(value)
}

/// `TEXT` parameter.
pub fn text(value: &str) -> ParameterValue {
    ParameterValue::Str(value.to_owned())
}

/// Nullable `TEXT` parameter.
pub fn opt_text(value: Option<&str>) -> ParameterValue {
    value.map_or(ParameterValue::DbNull, text)
}

/// What a `pg4` error means for the client: the database being unreachable or refusing work
/// (503, it comes back by itself) or a bug (500). The cause goes to the log, never the body.
pub fn error(op: &str, err: &PgError) -> ApiError {
    eprintln!("postgres {op} failed: {err:?}");
    match err {
        PgError::ConnectionFailed(_) => ApiError::database_unavailable(),
        PgError::QueryFailed(QueryError::DbError(db)) if sqlstate_is_unavailable(&db.code) => {
            ApiError::database_unavailable()
        }
        // No SQLSTATE: the client lost the server (closed connection, I/O error).
        PgError::QueryFailed(QueryError::Text(_)) => ApiError::database_unavailable(),
        _ => ApiError::internal(),
    }
}

fn bad_column(index: usize, value: Option<&DbValue>) -> ApiError {
    eprintln!("unexpected column {index}: {value:?}");
    ApiError::internal()
}

/// Column `index` as `BIGINT`.
pub fn get_i64(row: &[DbValue], index: usize) -> Result<i64, ApiError> {
    match row.get(index) {
        Some(DbValue::Int64(v)) => Ok(*v),
        Some(DbValue::Int32(v)) => Ok(i64::from(*v)),
        Some(DbValue::Int16(v)) => Ok(i64::from(*v)),
        other => Err(bad_column(index, other)),
    }
}

/// Column `index` as `TEXT`.
pub fn get_text(row: &mut [DbValue], index: usize) -> Result<String, ApiError> {
    match row.get_mut(index) {
        Some(DbValue::Str(s)) => Ok(std::mem::take(s)),
        other => Err(bad_column(index, other.map(|v| &*v))),
    }
}

/// Column `index` as nullable `TEXT`.
pub fn get_opt_text(row: &mut [DbValue], index: usize) -> Result<Option<String>, ApiError> {
    match row.get(index) {
        Some(DbValue::DbNull) => Ok(None),
        _ => get_text(row, index).map(Some),
    }
}

/// A row of [`crm_core::sql::CUSTOMER_COLUMNS`].
pub fn customer(mut row: Row) -> Result<Customer, ApiError> {
    Ok(Customer::from_row(
        get_i64(&row, 0)?,
        get_text(&mut row, 1)?,
        get_text(&mut row, 2)?,
        get_opt_text(&mut row, 3)?,
        get_i64(&row, 4)?,
        get_i64(&row, 5)?,
    ))
}

/// A row of [`crm_core::sql::ORDER_COLUMNS`].
pub fn order(mut row: Row) -> Result<Order, ApiError> {
    Ok(Order::from_row(
        get_i64(&row, 0)?,
        get_i64(&row, 1)?,
        get_text(&mut row, 2)?,
        get_i64(&row, 3)?,
        get_i64(&row, 4)?,
        get_i64(&row, 5)?,
        get_text(&mut row, 6)?,
        get_i64(&row, 7)?,
        get_i64(&row, 8)?,
    ))
}
