//! Postgres through Spin's `pg4`: one `Connection::open` per request (timed as `conn`), the
//! statements of `crm_core::sql` (timed as `query`), rows read by column name into `crm-core`'s
//! models, and `pg4` errors into the contract's codes.
//!
//! Since Spin 3.4 the host keeps a pool per address, so `open` is a checkout from that pool
//! (plus its state reset), not a TCP and authentication handshake.

// pg4 errors are large by design (they carry Postgres's error fields), as spin-sdk notes too.
#![allow(clippy::result_large_err)]

use std::rc::Rc;

use crm_core::customer::{Customer, CustomerRow};
use crm_core::http::{Health, Runtime};
use crm_core::order::{Order, OrderRow, OrderStatus};
use crm_core::sql::{sqlstate_is_unavailable, Param, Statement};
use crm_core::timing::Phase;
use crm_core::ApiError;
use spin_sdk::http::Response;
use spin_sdk::pg4::{Connection, DbValue, ParameterValue, PgError, QueryError};

use crate::Ctx;

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

    /// Core's `statement`, for its rows, timed as `query`.
    pub fn query(&self, ctx: &mut Ctx, statement: Statement<'_>) -> Result<Vec<Record>, ApiError> {
        let params = parameters(statement.params);
        let set = ctx
            .time(Phase::Query, || self.conn.query(statement.sql, &params))
            .map_err(|e| error("query", &e))?;
        let columns: Rc<[String]> = set.columns.into_iter().map(|c| c.name).collect();
        Ok(set
            .rows
            .into_iter()
            .map(|values| Record {
                columns: Rc::clone(&columns),
                values,
            })
            .collect())
    }

    /// At most one row.
    pub fn query_opt(
        &self,
        ctx: &mut Ctx,
        statement: Statement<'_>,
    ) -> Result<Option<Record>, ApiError> {
        Ok(self.query(ctx, statement)?.into_iter().next())
    }

    /// Core's `statement`, for its effect; the number of rows it affected.
    pub fn execute(&self, ctx: &mut Ctx, statement: Statement<'_>) -> Result<u64, ApiError> {
        let params = parameters(statement.params);
        ctx.time(Phase::Query, || self.conn.execute(statement.sql, &params))
            .map_err(|e| error("execute", &e))
    }
}

/// The component's database (`database_url`), opened for this request: one connection per
/// request is the design under comparison.
pub fn open_database(ctx: &mut Ctx) -> Result<Db, ApiError> {
    let url = crate::config::database_url()?;
    Db::open(ctx, &url)
}

/// `GET /readyz` of a data service: a connection and `SELECT 1`, else 503.
pub fn readyz(ctx: &mut Ctx) -> Result<Response, ApiError> {
    match open_database(ctx).and_then(|db| db.query(ctx, crm_core::sql::ping())) {
        Ok(_) => Ok(ctx.ok(&Health::ok(ctx.service, Runtime::Spin))),
        Err(_) => Err(ApiError::database_unavailable()),
    }
}

/// Core's parameters as `pg4` values, in core's order.
fn parameters(params: Vec<Param<'_>>) -> Vec<ParameterValue> {
    params
        .into_iter()
        .map(|param| match param {
            Param::Int(value) => ParameterValue::Int64(value),
            Param::Text(value) => ParameterValue::Str(value.into_owned()),
            Param::NullableText(value) => value.map_or(ParameterValue::DbNull, |v| {
                ParameterValue::Str(v.to_owned())
            }),
        })
        .collect()
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

/// One row with its columns' names: values are read by name, as sqlx's `FromRow` reads them on
/// the Axum side, so a reordered column list cannot swap two values of the same type.
pub struct Record {
    columns: Rc<[String]>,
    values: Vec<DbValue>,
}

impl Record {
    /// Takes the value of column `name` out of the row.
    fn take(&mut self, name: &str) -> Result<DbValue, ApiError> {
        let index = self.columns.iter().position(|c| c == name);
        match index.and_then(|i| self.values.get_mut(i)) {
            Some(value) => Ok(std::mem::replace(value, DbValue::DbNull)),
            None => Err(bad_column(name, None)),
        }
    }

    /// Column `name` as `BIGINT`.
    pub fn int(&mut self, name: &str) -> Result<i64, ApiError> {
        match self.take(name)? {
            DbValue::Int64(v) => Ok(v),
            DbValue::Int32(v) => Ok(i64::from(v)),
            DbValue::Int16(v) => Ok(i64::from(v)),
            other => Err(bad_column(name, Some(&other))),
        }
    }

    /// Column `name` as `TEXT`.
    pub fn text(&mut self, name: &str) -> Result<String, ApiError> {
        match self.take(name)? {
            DbValue::Str(s) => Ok(s),
            other => Err(bad_column(name, Some(&other))),
        }
    }

    /// Column `name` as nullable `TEXT`.
    pub fn opt_text(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.take(name)? {
            DbValue::DbNull => Ok(None),
            DbValue::Str(s) => Ok(Some(s)),
            other => Err(bad_column(name, Some(&other))),
        }
    }

    /// Column `name` as an order status.
    pub fn status(&mut self, name: &str) -> Result<OrderStatus, ApiError> {
        OrderStatus::try_from(self.text(name)?).map_err(|e| {
            eprintln!("column {name}: {e}");
            ApiError::internal()
        })
    }
}

fn bad_column(name: &str, value: Option<&DbValue>) -> ApiError {
    eprintln!("unexpected column {name}: {value:?}");
    ApiError::internal()
}

/// A row of [`crm_core::sql::CUSTOMER_COLUMNS`].
pub fn customer(mut r: Record) -> Result<Customer, ApiError> {
    let row = CustomerRow {
        id: r.int("id")?,
        name: r.text("name")?,
        email: r.text("email")?,
        phone: r.opt_text("phone")?,
        created_us: r.int("created_us")?,
        updated_us: r.int("updated_us")?,
    };
    Ok(row.into())
}

/// A row of [`crm_core::sql::ORDER_COLUMNS`].
pub fn order(mut r: Record) -> Result<Order, ApiError> {
    let row = OrderRow {
        id: r.int("id")?,
        customer_id: r.int("customer_id")?,
        product: r.text("product")?,
        quantity: r.int("quantity")?,
        unit_price_cents: r.int("unit_price_cents")?,
        total_cents: r.int("total_cents")?,
        status: r.status("status")?,
        created_us: r.int("created_us")?,
        updated_us: r.int("updated_us")?,
    };
    Ok(row.into())
}
