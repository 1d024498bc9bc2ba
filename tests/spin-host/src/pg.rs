//! `spin:postgres/postgres@4.0.0` backed by real Postgres, with Spin 3.4+'s connection model:
//! the guest opens a "connection" per request, the host hands out a client from a per-address
//! pool (at most 64 connections, cleaned on recycle) and takes it back when the guest drops it.
//!
//! Value mapping follows Spin's `factor-outbound-pg`: bool, int2/int4/int8, float4/float8,
//! text/varchar/bpchar, bytea, date, time, timestamp(tz), uuid, jsonb, interval, int4/int8/text
//! arrays and NULL both ways; any other column type comes back as `unsupported(raw bytes)`.
//! Not implemented: `decimal`/numeric and range values (refused as parameters with
//! `bad-parameter`, returned as `unsupported` in rows).

// The error type is the WIT's `error` variant, large because of `db-error`; boxing it would only
// mean unboxing it again at the guest boundary.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Mutex;
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio_postgres::config::{Host as PgHost, SslMode};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{NoTls, Row};

use crate::bindings::spin::postgres::postgres::{
    Column, DbDataType, DbError, DbValue, Error as PgError, Interval, ParameterValue, QueryError,
    RowSet,
};
use crate::outbound::AllowedHosts;

/// Spin's per-address pool size.
const POOL_MAX_SIZE: usize = 64;
/// Opening a TCP connection to Postgres must fail fast, never hang, when Postgres is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an open waits for a free pooled connection before failing with connection-failed.
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The guest's `connection` resource: a pooled client, returned to the pool when dropped.
pub struct PgConnection {
    client: deadpool_postgres::Object,
}

/// Pools keyed by the guest's address string, shared by all components and requests.
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<HashMap<String, deadpool_postgres::Pool>>,
}

impl PgPools {
    /// Checks the address against the component's allow-list, then takes a client from the
    /// address's pool. Every failure is `connection-failed`, as in Spin.
    pub async fn open(
        &self,
        address: &str,
        allowed_hosts: &AllowedHosts,
    ) -> Result<PgConnection, PgError> {
        let config: tokio_postgres::Config = address
            .parse()
            .map_err(|error: tokio_postgres::Error| PgError::ConnectionFailed(error.to_string()))?;
        ensure_address_allowed(&config, allowed_hosts)?;
        let pool = self.pool_for(address, config)?;
        let client = pool.get().await.map_err(|error| {
            PgError::ConnectionFailed(format!(
                "establishing PostgreSQL connection: {}",
                error_chain(&error)
            ))
        })?;
        Ok(PgConnection { client })
    }

    fn pool_for(
        &self,
        address: &str,
        mut config: tokio_postgres::Config,
    ) -> Result<deadpool_postgres::Pool, PgError> {
        let mut pools = self
            .pools
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        if config.get_ssl_mode() == SslMode::Require {
            return Err(PgError::ConnectionFailed(
                "sslmode=require: crm-spin-host does not implement TLS to Postgres; use \
                 sslmode=disable (Spin itself would use TLS here)"
                    .to_string(),
            ));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = deadpool_postgres::Manager::from_config(
            config,
            NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Clean,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(POOL_MAX_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|error| {
                PgError::ConnectionFailed(format!("building PostgreSQL connection pool: {error}"))
            })?;
        pools.insert(address.to_string(), pool.clone());
        Ok(pool)
    }
}

/// Spin's check: every TCP host of the connection string must be allowed for `postgres://`.
fn ensure_address_allowed(
    config: &tokio_postgres::Config,
    allowed_hosts: &AllowedHosts,
) -> Result<(), PgError> {
    let ports = config.get_ports();
    for (index, host) in config.get_hosts().iter().enumerate() {
        match host {
            PgHost::Tcp(host) => {
                let port = ports
                    .get(index)
                    .or_else(|| (ports.len() == 1).then(|| ports.first()).flatten())
                    .copied();
                if !allowed_hosts.allows("postgres", host, port) {
                    let port_suffix = port.map(|p| format!(":{p}")).unwrap_or_default();
                    tracing::warn!(
                        "a component tried to open postgres://{host}{port_suffix}, which is not in \
                         its allowed_outbound_hosts"
                    );
                    return Err(PgError::ConnectionFailed(format!(
                        "address postgres://{host}{port_suffix} is not permitted"
                    )));
                }
            }
            PgHost::Unix(_) => {
                return Err(PgError::ConnectionFailed(
                    "Unix sockets are not supported on WebAssembly".to_string(),
                ))
            }
        }
    }
    Ok(())
}

impl PgConnection {
    pub async fn query(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, PgError> {
        let params = to_sql_parameters(&params).map_err(PgError::BadParameter)?;
        let param_refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect();
        // Preparing first costs no extra round trip (a text query is prepared anyway) and gives
        // the columns even when no row comes back.
        let prepared = self.client.prepare(statement).await.map_err(query_failed)?;
        let columns = prepared
            .columns()
            .iter()
            .map(|column| Column {
                name: column.name().to_string(),
                data_type: data_type(column.type_()),
            })
            .collect();
        let rows = self
            .client
            .query(&prepared, &param_refs)
            .await
            .map_err(query_failed)?;
        let rows = rows
            .iter()
            .map(convert_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| PgError::QueryFailed(QueryError::Text(error.to_string())))?;
        Ok(RowSet { columns, rows })
    }

    pub async fn execute(
        &self,
        statement: &str,
        params: Vec<ParameterValue>,
    ) -> Result<u64, PgError> {
        // Spin reports a parameter it cannot convert as value-conversion-failed here (and as
        // bad-parameter in query); kept for fidelity.
        let params = to_sql_parameters(&params).map_err(PgError::ValueConversionFailed)?;
        let param_refs: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|param| param.as_ref() as &(dyn ToSql + Sync))
            .collect();
        self.client
            .execute(statement, &param_refs)
            .await
            .map_err(query_failed)
    }
}

/// "outer: cause: root cause", so a refused connection says so.
fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn query_failed(error: tokio_postgres::Error) -> PgError {
    let as_text = format!("{error:?}");
    let query_error = match error.as_db_error() {
        None => QueryError::Text(error_chain(&error)),
        Some(db_error) => {
            let mut extras = Vec::new();
            let mut extra = |name: &str, value: Option<String>| {
                if let Some(value) = value {
                    extras.push((name.to_string(), value));
                }
            };
            extra("column", db_error.column().map(str::to_string));
            extra("constraint", db_error.constraint().map(str::to_string));
            extra("routine", db_error.routine().map(str::to_string));
            extra("hint", db_error.hint().map(str::to_string));
            extra("table", db_error.table().map(str::to_string));
            extra("datatype", db_error.datatype().map(str::to_string));
            extra("schema", db_error.schema().map(str::to_string));
            extra("file", db_error.file().map(str::to_string));
            extra("line", db_error.line().map(|line| line.to_string()));
            extra("where_", db_error.where_().map(str::to_string));
            QueryError::DbError(DbError {
                as_text,
                severity: db_error.severity().to_string(),
                code: db_error.code().code().to_string(),
                message: db_error.message().to_string(),
                detail: db_error.detail().map(str::to_string),
                extras,
            })
        }
    };
    PgError::QueryFailed(query_error)
}

fn data_type(pg_type: &Type) -> DbDataType {
    match *pg_type {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(pg_type.name().to_string()),
    }
}

type ConversionError = Box<dyn StdError + Sync + Send>;

fn value<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    to_db_value: impl FnOnce(T) -> Result<DbValue, ConversionError>,
) -> Result<DbValue, ConversionError> {
    match row.try_get::<_, Option<T>>(index)? {
        Some(value) => to_db_value(value),
        None => Ok(DbValue::DbNull),
    }
}

fn convert_row(row: &Row) -> Result<Vec<DbValue>, ConversionError> {
    (0..row.len())
        .map(|index| convert_entry(row, index))
        .collect()
}

fn convert_entry(row: &Row, index: usize) -> Result<DbValue, ConversionError> {
    let pg_type = row.columns()[index].type_().clone();
    match pg_type {
        Type::BOOL => value(row, index, |v| Ok(DbValue::Boolean(v))),
        Type::BYTEA => value(row, index, |v| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => value(row, index, |v| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => value(row, index, |v| Ok(DbValue::Floating64(v))),
        Type::INT2 => value(row, index, |v| Ok(DbValue::Int16(v))),
        Type::INT4 => value(row, index, |v| Ok(DbValue::Int32(v))),
        Type::INT8 => value(row, index, |v| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => value(row, index, |v| Ok(DbValue::Str(v))),
        Type::INT4_ARRAY => value(row, index, |v| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => value(row, index, |v| Ok(DbValue::ArrayInt64(v))),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            value(row, index, |v| Ok(DbValue::ArrayStr(v)))
        }
        Type::DATE => value(row, index, |Raw(bytes)| {
            let days = i32::from_be_bytes(fixed(&bytes)?);
            let (year, month, day) = civil_from_days(i64::from(days) + PG_EPOCH_DAYS);
            Ok(DbValue::Date((i32::try_from(year)?, month, day)))
        }),
        Type::TIME => value(row, index, |Raw(bytes)| {
            let micros = i64::from_be_bytes(fixed(&bytes)?);
            Ok(DbValue::Time(time_of_day(micros)))
        }),
        Type::TIMESTAMP | Type::TIMESTAMPTZ => value(row, index, |Raw(bytes)| {
            let micros = i64::from_be_bytes(fixed(&bytes)?);
            let days = micros.div_euclid(MICROS_PER_DAY) + PG_EPOCH_DAYS;
            let (year, month, day) = civil_from_days(days);
            let (hour, minute, second, nanos) = time_of_day(micros.rem_euclid(MICROS_PER_DAY));
            Ok(DbValue::Datetime((
                i32::try_from(year)?,
                month,
                day,
                hour,
                minute,
                second,
                nanos,
            )))
        }),
        Type::UUID => value(row, index, |Raw(bytes)| {
            let bytes: [u8; 16] = fixed(&bytes)?;
            Ok(DbValue::Uuid(format_uuid(&bytes)))
        }),
        Type::JSONB => value(row, index, |Raw(bytes)| match bytes.split_first() {
            Some((1, json)) => Ok(DbValue::Jsonb(json.to_vec())),
            _ => Err("unsupported jsonb encoding version".into()),
        }),
        Type::INTERVAL => value(row, index, |Raw(bytes)| {
            let bytes: [u8; 16] = fixed(&bytes)?;
            Ok(DbValue::Interval(Interval {
                micros: i64::from_be_bytes(fixed(&bytes[0..8])?),
                days: i32::from_be_bytes(fixed(&bytes[8..12])?),
                months: i32::from_be_bytes(fixed(&bytes[12..16])?),
            }))
        }),
        _ => {
            tracing::debug!(
                "column {:?} has Postgres type {}, returned as unsupported",
                row.columns()[index].name(),
                pg_type.name()
            );
            value(row, index, |Raw(bytes)| Ok(DbValue::Unsupported(bytes)))
        }
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], ConversionError> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, got {}", bytes.len()).into())
}

/// Any column's binary wire value, for types decoded by hand or passed through as unsupported.
struct Raw(Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, ConversionError> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Days from 1970-01-01 to 2000-01-01, Postgres's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;

/// (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day count since 1970-01-01 of a civil date (inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let year = year - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn time_of_day(micros: i64) -> (u8, u8, u8, u32) {
    let seconds = micros / 1_000_000;
    (
        (seconds / 3600) as u8,
        ((seconds / 60) % 60) as u8,
        (seconds % 60) as u8,
        ((micros % 1_000_000) * 1000) as u32,
    )
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn parse_uuid(text: &str) -> Result<[u8; 16], String> {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let invalid = || format!("invalid uuid {text:?}");
    if hex.len() != 32 {
        return Err(invalid());
    }
    let mut bytes = [0u8; 16];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[index * 2..index * 2 + 2], 16).map_err(|_| invalid())?;
    }
    Ok(bytes)
}

/// Declares a parameter type with a fixed binary encoding, accepted for the listed SQL types.
macro_rules! binary_parameter {
    ($name:ident, [$($accepted:path),+]) => {
        #[derive(Debug)]
        struct $name(Vec<u8>);

        impl ToSql for $name {
            fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, ConversionError> {
                out.put_slice(&self.0);
                Ok(IsNull::No)
            }

            fn accepts(pg_type: &Type) -> bool {
                matches!(*pg_type, $($accepted)|+)
            }

            to_sql_checked!();
        }
    };
}

binary_parameter!(DateParam, [Type::DATE]);
binary_parameter!(TimeParam, [Type::TIME]);
binary_parameter!(TimestampParam, [Type::TIMESTAMP, Type::TIMESTAMPTZ]);
binary_parameter!(UuidParam, [Type::UUID]);
binary_parameter!(JsonbParam, [Type::JSONB]);
binary_parameter!(IntervalParam, [Type::INTERVAL]);

/// SQL NULL for a parameter of any type (Spin's `PgNull`).
#[derive(Debug)]
struct NullParam;

impl ToSql for NullParam {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, ConversionError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

type SqlParam = Box<dyn ToSql + Send + Sync>;

fn to_sql_parameters(params: &[ParameterValue]) -> Result<Vec<SqlParam>, String> {
    params.iter().map(to_sql_parameter).collect()
}

fn to_sql_parameter(param: &ParameterValue) -> Result<SqlParam, String> {
    let micros_since_pg_epoch =
        |days: i64, micros_of_day: i64| (days - PG_EPOCH_DAYS) * MICROS_PER_DAY + micros_of_day;
    let micros_of_day = |hour: u8, minute: u8, second: u8, nanos: u32| {
        ((i64::from(hour) * 60 + i64::from(minute)) * 60 + i64::from(second)) * 1_000_000
            + i64::from(nanos) / 1000
    };
    Ok(match param {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::DbNull => Box::new(NullParam),
        ParameterValue::Date((year, month, day)) => {
            let days = days_from_civil(i64::from(*year), *month, *day) - PG_EPOCH_DAYS;
            let days = i32::try_from(days).map_err(|_| "date out of range".to_string())?;
            Box::new(DateParam(days.to_be_bytes().to_vec()))
        }
        ParameterValue::Time((hour, minute, second, nanos)) => Box::new(TimeParam(
            micros_of_day(*hour, *minute, *second, *nanos)
                .to_be_bytes()
                .to_vec(),
        )),
        ParameterValue::Datetime((year, month, day, hour, minute, second, nanos)) => {
            let micros = micros_since_pg_epoch(
                days_from_civil(i64::from(*year), *month, *day),
                micros_of_day(*hour, *minute, *second, *nanos),
            );
            Box::new(TimestampParam(micros.to_be_bytes().to_vec()))
        }
        ParameterValue::Timestamp(seconds_since_unix_epoch) => {
            let micros = seconds_since_unix_epoch
                .checked_mul(1_000_000)
                .and_then(|m| m.checked_sub(PG_EPOCH_DAYS * MICROS_PER_DAY))
                .ok_or_else(|| "timestamp out of range".to_string())?;
            Box::new(TimestampParam(micros.to_be_bytes().to_vec()))
        }
        ParameterValue::Uuid(text) => Box::new(UuidParam(parse_uuid(text)?.to_vec())),
        ParameterValue::Jsonb(json) => {
            let mut bytes = vec![1u8];
            bytes.extend_from_slice(json);
            Box::new(JsonbParam(bytes))
        }
        ParameterValue::Interval(interval) => {
            let mut bytes = Vec::with_capacity(16);
            bytes.extend_from_slice(&interval.micros.to_be_bytes());
            bytes.extend_from_slice(&interval.days.to_be_bytes());
            bytes.extend_from_slice(&interval.months.to_be_bytes());
            Box::new(IntervalParam(bytes))
        }
        ParameterValue::Decimal(_)
        | ParameterValue::RangeInt32(_)
        | ParameterValue::RangeInt64(_)
        | ParameterValue::RangeDecimal(_)
        | ParameterValue::ArrayDecimal(_) => {
            return Err(
                "decimal and range parameters are not supported by crm-spin-host".to_string(),
            )
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(PG_EPOCH_DAYS), (2000, 1, 1));
        assert_eq!(days_from_civil(2026, 11, 21), 20_778);
        for days in [-800_000, -1, 0, 59, 60, 11_016, 20_778, 2_000_000] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
    }

    #[test]
    fn time_of_day_splits_micros() {
        assert_eq!(time_of_day(0), (0, 0, 0, 0));
        assert_eq!(
            time_of_day(((8 * 60 + 15) * 60 + 30) * 1_000_000 + 123_456),
            (8, 15, 30, 123_456_000)
        );
    }

    #[test]
    fn uuid_text_round_trips() {
        let text = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(format_uuid(&parse_uuid(text).unwrap()), text);
        assert!(parse_uuid("not-a-uuid").is_err());
    }

    #[test]
    fn unsupported_parameters_are_refused_not_guessed() {
        assert!(to_sql_parameter(&ParameterValue::Decimal("1.5".into())).is_err());
        assert!(to_sql_parameter(&ParameterValue::Int64(1)).is_ok());
        assert!(to_sql_parameter(&ParameterValue::DbNull).is_ok());
    }

    #[test]
    fn disallowed_postgres_host_is_a_connection_failure() {
        let allowed = AllowedHosts::parse(&["postgres://127.0.0.1:5432"]).unwrap();
        let config: tokio_postgres::Config =
            "postgres://postgres@10.9.9.9:5432/db".parse().unwrap();
        match ensure_address_allowed(&config, &allowed) {
            Err(PgError::ConnectionFailed(message)) => {
                assert!(message.contains("not permitted"), "{message}")
            }
            other => panic!("expected connection-failed, got {other:?}"),
        }
        let config: tokio_postgres::Config =
            "host=127.0.0.1 user=postgres dbname=db".parse().unwrap();
        assert!(ensure_address_allowed(&config, &allowed).is_ok());
    }
}
