//! Postgres for the two data services: a lazy pool (the service starts while the database is
//! down), migrations retried in the background until they apply, timed acquire and queries,
//! and sqlx errors mapped to 503 `database_unavailable` or 500 `internal`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use crm_core::http::{Health, Runtime, Service};
use crm_core::timing::Phase;
use crm_core::ApiError;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::config::{self, ConfigError, Source};
use crate::timing::{Reply, Timer};

/// `DATABASE_URL` and the pool settings, as the two data services read them.
#[derive(Clone)]
pub struct DbConfig {
    pub options: PgConnectOptions,
    /// The URL with its password replaced, for logs.
    pub redacted_url: String,
    pub pool: PoolSettings,
}

/// Never prints the password (`PgConnectOptions`'s own `Debug` would).
impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("url", &self.redacted_url)
            .field("pool", &self.pool)
            .finish()
    }
}

pub const DEFAULT_DATABASE_URL: &str = "postgres://crm:crm@localhost:5432/crm_containers";

/// Half the callers' default `UPSTREAM_TIMEOUT_MS` (2000), and it must stay below it: while
/// Postgres is down sqlx retries the refused connect until this runs out, so with equal values
/// the caller (gateway, or order-service checking a customer) gives up at the same moment and
/// a database outage reaches the client as 504 `upstream_timeout` instead of 503
/// `database_unavailable` (found by tests/reliability).
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 1000;

impl DbConfig {
    /// `DATABASE_URL`, `DB_POOL_MAX` (default 5), `DB_ACQUIRE_TIMEOUT_MS` (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT_MS`]).
    pub fn from_env(src: &impl Source) -> Result<Self, ConfigError> {
        let url = config::string(src, "DATABASE_URL", DEFAULT_DATABASE_URL);
        Ok(DbConfig {
            options: config::database_url(src, "DATABASE_URL", DEFAULT_DATABASE_URL)?,
            redacted_url: config::redact_url(url.trim()),
            pool: PoolSettings {
                max_connections: config::positive(src, "DB_POOL_MAX", 5u32)?,
                acquire_timeout: config::millis(
                    src,
                    "DB_ACQUIRE_TIMEOUT_MS",
                    DEFAULT_ACQUIRE_TIMEOUT_MS,
                )?,
            },
        })
    }
}

/// Pool settings from the environment.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    /// `DB_POOL_MAX`, default 5.
    pub max_connections: u32,
    /// `DB_ACQUIRE_TIMEOUT_MS`, default [`DEFAULT_ACQUIRE_TIMEOUT_MS`]: how long a request
    /// waits for a connection (including connecting) before answering 503.
    pub acquire_timeout: Duration,
}

/// The pool and whether the schema is known to be in place.
#[derive(Debug, Clone)]
pub struct Db {
    pool: PgPool,
    migrated: Arc<AtomicBool>,
}

impl Db {
    /// A pool that connects on first use: building it never touches the network.
    pub fn lazy(options: PgConnectOptions, settings: PoolSettings) -> Db {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(options);
        Db {
            pool,
            migrated: Arc::new(AtomicBool::new(false)),
        }
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

    /// A connection, timed as `conn`. Before the schema is in place: 503 at once.
    pub async fn acquire(&self, timer: &mut Timer) -> Result<PoolConnection<Postgres>, ApiError> {
        if !self.is_migrated() {
            return Err(ApiError::database_unavailable());
        }
        timer
            .time(Phase::Conn, self.pool.acquire())
            .await
            .map_err(db_error)
    }

    /// `/readyz`: the schema is in place and `SELECT 1` answers.
    pub async fn readyz(&self, service: Service) -> Response {
        let mut timer = Timer::start();
        let result = async {
            let mut conn = self.acquire(&mut timer).await?;
            query(
                &mut timer,
                sqlx::query(crm_core::sql::PING).execute(&mut *conn),
            )
            .await?;
            Ok(Reply::ok(Health::ok(service, Runtime::Axum)))
        }
        .await;
        timer.finish(result)
    }
}

/// Runs one statement, timed as `query` (all statements of a request add up).
pub async fn query<T, F>(timer: &mut Timer, fut: F) -> Result<T, ApiError>
where
    F: Future<Output = Result<T, sqlx::Error>>,
{
    timer.time(Phase::Query, fut).await.map_err(db_error)
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
    fn db_config_defaults_and_redaction() {
        let c = DbConfig::from_env(&[("DATABASE_URL", "postgres://u:hunter2@db:5432/x")]).unwrap();
        assert_eq!(c.pool.max_connections, 5);
        assert_eq!(c.pool.acquire_timeout, Duration::from_secs(1));
        assert!(!format!("{c:?}").contains("hunter2"));
        let c = DbConfig::from_env(&[("DB_POOL_MAX", "9")]).unwrap();
        assert_eq!(
            c.redacted_url,
            "postgres://crm:***@localhost:5432/crm_containers"
        );
        assert_eq!(c.pool.max_connections, 9);
        assert!(DbConfig::from_env(&[("DB_ACQUIRE_TIMEOUT_MS", "soon")]).is_err());
    }

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
