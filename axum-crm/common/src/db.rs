//! Postgres for the two data services: a lazy pool (the service starts while the database is
//! down), migrations retried in the background until they apply, timed acquire and queries,
//! and sqlx errors mapped to 503 `database_unavailable` or 500 `internal`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crm_core::http::{Health, Runtime, Service};
use crm_core::sql::{Param, Statement};
use crm_core::timing::Phase;
use crm_core::ApiError;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{Arguments, FromRow, PgConnection, PgPool, Postgres};
use tracing::Instrument;

use crate::config::{positive_count, positive_ms, DatabaseUrl};
use crate::metrics::{
    Gauges, DB_ACQUIRES, DB_ACQUIRE_DURATION, DB_POOL_IDLE, DB_POOL_MAX, DB_POOL_SIZE,
};
use crate::reply::{timed, AppError, Reply};
use crate::telemetry::{db_span, record_db_error, DbOperation};

pub const DEFAULT_DATABASE_URL: &str = "postgres://crm:crm@localhost:5432/crm_containers";

/// `DB_POOL_MAX`'s default (axum-floor sizes its pool the same; its tests check it).
pub const DEFAULT_POOL_MAX: u32 = 5;

/// Half the callers' default upstream timeout, and it must stay below it: while Postgres is down
/// sqlx retries the refused connect until this runs out, so with equal values the caller
/// (gateway, or order-service checking a customer) gives up at the same moment and a database
/// outage reaches the client as 504 `upstream_timeout` instead of 503 `database_unavailable`
/// (found by tests/reliability's Postgres restart, where both were 2 s).
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 1000;
const _: () = assert!(DEFAULT_ACQUIRE_TIMEOUT_MS < crm_core::upstream::DEFAULT_TIMEOUT_MS);

/// The database settings of the two data services. No `Debug`: sqlx's options would print the
/// password.
#[derive(clap::Args, Clone)]
pub struct DbConfig {
    /// Postgres URL, parsed at start (the value is never logged or echoed; host and database
    /// name are).
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true, value_parser = DatabaseUrl)]
    pub database_url: PgConnectOptions,
    /// Most connections the pool opens.
    #[arg(long, env = "DB_POOL_MAX", default_value_t = DEFAULT_POOL_MAX, value_parser = positive_count())]
    pub db_pool_max: u32,
    /// How long a request waits for a connection (connecting included) before answering 503;
    /// kept below the callers' upstream timeout.
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = DEFAULT_ACQUIRE_TIMEOUT_MS, value_parser = positive_ms())]
    pub db_acquire_timeout_ms: u64,
}

impl DbConfig {
    /// A data service's default limit of requests in flight (`MAX_CONCURRENT_REQUESTS`):
    /// four per pooled connection. A request holds its connection for a small part of its life
    /// (the rest is reading, validating, encoding, and for an order create the customer check),
    /// so fewer would leave connections idle under load; with four, the few that wait for a
    /// connection wait a few query times — far below the acquire timeout — and what waits past
    /// `MAX_QUEUE_WAIT_MS` for a turn is refused as `overloaded` instead of queueing at the pool
    /// until the acquire timeout turns it into a slow `database_unavailable`.
    pub fn default_max_concurrent_requests(&self) -> u32 {
        self.db_pool_max.saturating_mul(4)
    }

    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_millis(self.db_acquire_timeout_ms)
    }

    /// Where the pool connects, from sqlx's parsed options: for the start-up log.
    fn log_start(&self) {
        let options = &self.database_url;
        tracing::info!(
            db_host = options.get_host(),
            db_port = options.get_port(),
            // Postgres's own default: the database named after the user.
            db_name = options.get_database().unwrap_or(options.get_username()),
            db_user = options.get_username(),
            pool_max = self.db_pool_max,
            acquire_timeout_ms = self.db_acquire_timeout_ms,
            "database"
        );
    }
}

/// The pool and whether the schema is known to be in place.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    migrated: Arc<AtomicBool>,
}

impl Db {
    /// A pool that connects on first use: building it never touches the network.
    pub fn lazy(config: &DbConfig) -> Db {
        let pool = PgPoolOptions::new()
            .max_connections(config.db_pool_max)
            .acquire_timeout(config.acquire_timeout())
            .connect_lazy_with(config.database_url.clone());
        Db {
            pool,
            migrated: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A data service's start: logs where the pool connects, builds it lazily and applies
    /// `migrator` in the background.
    pub fn start(config: &DbConfig, migrator: &'static Migrator) -> Db {
        config.log_start();
        let db = Db::lazy(config);
        db.spawn_migrations(migrator);
        db
    }

    /// After the last request: closes the pool's connections cleanly.
    pub async fn close(&self) {
        self.pool.close().await;
        tracing::info!("database pool closed");
    }

    /// A pool whose database is already migrated (tests: `#[sqlx::test]` applies them).
    pub fn migrated(pool: PgPool) -> Db {
        Db {
            pool,
            migrated: Arc::new(AtomicBool::new(true)),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn is_migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    /// Applies `migrator` in the background, retrying until it succeeds. sqlx holds an
    /// advisory lock meanwhile, so two services migrating at once is safe.
    pub fn spawn_migrations(&self, migrator: &'static Migrator) -> tokio::task::JoinHandle<()> {
        let db = self.clone();
        tokio::spawn(async move {
            let mut wait = Duration::from_millis(500);
            for attempt in 1u64.. {
                match migrator.run(&db.pool).await {
                    Ok(()) => {
                        db.migrated.store(true, Ordering::Release);
                        tracing::info!(attempt, "database migrations applied");
                        return;
                    }
                    Err(error) => {
                        tracing::warn!(
                            attempt,
                            %error,
                            retry_in_ms = wait.as_millis() as u64,
                            "database migrations not applied yet; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
    }

    /// A connection, timed as `conn` and counted by outcome in the metrics (the wait includes
    /// connecting when the pool opens a new connection). Before the schema is in place: 503 at
    /// once.
    pub async fn acquire(&self) -> Result<PoolConnection<Postgres>, ApiError> {
        if !self.is_migrated() {
            return Err(ApiError::database_unavailable());
        }
        let started = Instant::now();
        let span = db_span(DbOperation::Acquire);
        let acquired = timed(Phase::Conn, self.pool.acquire())
            .instrument(span.clone())
            .await;
        if let Err(error) = &acquired {
            record_db_error(&span, error);
        }
        let outcome = match &acquired {
            Ok(_) => "ok",
            Err(sqlx::Error::PoolTimedOut) => "timeout",
            Err(_) => "error",
        };
        metrics::counter!(DB_ACQUIRES, "outcome" => outcome).increment(1);
        metrics::histogram!(DB_ACQUIRE_DURATION).record(started.elapsed());
        acquired.map_err(db_error)
    }

    /// `/readyz`: the schema is in place and `SELECT 1` answers.
    pub async fn readyz(&self, service: Service) -> Result<Reply<Health>, AppError> {
        let mut conn = self.acquire().await?;
        execute(&mut conn, crm_core::sql::ping()).await?;
        Ok(Reply::ok(Health::ok(service, Runtime::Axum)))
    }
}

/// The pool's gauges, read by the admin listener at each scrape.
impl Gauges for Db {
    fn record(&self) {
        metrics::gauge!(DB_POOL_SIZE).set(self.pool.size());
        metrics::gauge!(DB_POOL_IDLE).set(self.pool.num_idle() as f64);
        metrics::gauge!(DB_POOL_MAX).set(self.pool.options().get_max_connections());
    }
}

/// A row type sqlx reads by column name (the `crm-core` rows derive it).
pub trait FromPgRow: for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> FromPgRow for T where T: for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// Runs core's `statement` for exactly one row.
pub async fn fetch_one<T: FromPgRow>(
    conn: &mut PgConnection,
    statement: Statement<'_>,
) -> Result<T, ApiError> {
    let (sql, arguments) = prepare(statement)?;
    timed_statement(sql, sqlx::query_as_with(sql, arguments).fetch_one(conn)).await
}

/// Runs core's `statement` for at most one row.
pub async fn fetch_optional<T: FromPgRow>(
    conn: &mut PgConnection,
    statement: Statement<'_>,
) -> Result<Option<T>, ApiError> {
    let (sql, arguments) = prepare(statement)?;
    timed_statement(
        sql,
        sqlx::query_as_with(sql, arguments).fetch_optional(conn),
    )
    .await
}

/// Runs core's `statement` for all its rows.
pub async fn fetch_all<T: FromPgRow>(
    conn: &mut PgConnection,
    statement: Statement<'_>,
) -> Result<Vec<T>, ApiError> {
    let (sql, arguments) = prepare(statement)?;
    timed_statement(sql, sqlx::query_as_with(sql, arguments).fetch_all(conn)).await
}

/// Runs core's `statement` for its effect; the number of rows it affected.
pub async fn execute(conn: &mut PgConnection, statement: Statement<'_>) -> Result<u64, ApiError> {
    let (sql, arguments) = prepare(statement)?;
    let done = timed_statement(sql, sqlx::query_with(sql, arguments).execute(conn)).await?;
    Ok(done.rows_affected())
}

/// The statement's SQL and its parameters as sqlx's arguments, in core's order.
fn prepare(statement: Statement<'_>) -> Result<(&'static str, PgArguments), ApiError> {
    let mut arguments = PgArguments::default();
    for param in statement.params {
        let added = match param {
            Param::Int(value) => arguments.add(value),
            Param::Text(value) => arguments.add(value.as_ref()),
            Param::NullableText(value) => arguments.add(value),
        };
        added.map_err(|error| db_error(sqlx::Error::Encode(error)))?;
    }
    Ok((statement.sql, arguments))
}

/// Runs one statement (`fut`, running the SQL `sql`), timed as `query` (all statements of a
/// request add up) and in a span named by its SQL.
async fn timed_statement<T, F>(sql: &'static str, fut: F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    let span = db_span(DbOperation::Statement(sql));
    let result = timed(Phase::Query, fut).instrument(span.clone()).await;
    if let Err(error) = &result {
        record_db_error(&span, error);
    }
    result.map_err(db_error)
}

/// 503 when Postgres is unreachable or says it cannot serve; anything else is a bug: 500,
/// logged with its detail, which never reaches the client.
pub fn db_error(error: sqlx::Error) -> ApiError {
    if is_unavailable(&error) {
        tracing::warn!(%error, "database unavailable");
        ApiError::database_unavailable()
    } else {
        tracing::error!(%error, "database error");
        ApiError::internal()
    }
}

pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| crm_core::sql::sqlstate_is_unavailable(&code)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_trouble_is_503_bugs_are_500() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound("x".into())));
        assert_eq!(
            db_error(sqlx::Error::PoolClosed).code,
            crm_core::ErrorCode::DatabaseUnavailable
        );
        assert_eq!(
            db_error(sqlx::Error::RowNotFound).code,
            crm_core::ErrorCode::Internal
        );
    }
}
