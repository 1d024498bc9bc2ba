//! The floor's three settings, from the environment alone (no clap: a floor keeps to the
//! least). Names and defaults are customer-service's, so one environment configures either;
//! as there, a blank variable counts as unset and a bad value stops the start (exit status 2).

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// Not customer-service's port: the benchmark runs both side by side (on free ports anyway).
pub const DEFAULT_LISTEN_ADDR: &str = "127.0.0.1:8091";
/// customer-service's `DATABASE_URL` default (checked by the tests below).
pub const DEFAULT_DATABASE_URL: &str = "postgres://crm:crm@localhost:5432/crm_containers";
/// customer-service's `DB_POOL_MAX` default (checked by the tests below).
pub const DEFAULT_POOL_MAX: u32 = 5;
/// customer-service's acquire timeout default, fixed here: the same pool must also queue and
/// give up alike when the benchmark's clients outnumber its connections.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_millis(1000);

/// No `Debug`: sqlx's options would print the password.
pub struct Config {
    pub listen_addr: SocketAddr,
    pub database: PgConnectOptions,
    pub pool_max: u32,
}

impl Config {
    /// `LISTEN_ADDR`, `DATABASE_URL`, `DB_POOL_MAX`.
    pub fn from_env() -> Result<Config, String> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// The settings from `var` (a variable's value, if set).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let value = |name: &str, default: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let listen = value("LISTEN_ADDR", DEFAULT_LISTEN_ADDR);
        let listen_addr = SocketAddr::from_str(&listen)
            .map_err(|_| format!("LISTEN_ADDR is not host:port: {listen:?}"))?;
        let database = database(&value("DATABASE_URL", DEFAULT_DATABASE_URL))?;
        let pool = value("DB_POOL_MAX", &DEFAULT_POOL_MAX.to_string());
        let pool_max = u32::from_str(&pool)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("DB_POOL_MAX is not a positive count: {pool:?}"))?;
        Ok(Config {
            listen_addr,
            database,
            pool_max,
        })
    }
}

/// `url` parsed by sqlx; the error never repeats it: it may carry a password.
fn database(url: &str) -> Result<PgConnectOptions, String> {
    let refused = || "DATABASE_URL is not a postgres:// URL (the value is not shown)".to_owned();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(refused());
    }
    PgConnectOptions::from_str(url).map_err(|_| refused())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    /// The point of a floor is the same pool as the service it is the floor of.
    #[test]
    fn defaults_are_customer_services() {
        assert_eq!(DEFAULT_POOL_MAX, axum_common::db::DEFAULT_POOL_MAX);
        assert_eq!(DEFAULT_DATABASE_URL, axum_common::db::DEFAULT_DATABASE_URL);
        assert_eq!(
            ACQUIRE_TIMEOUT,
            Duration::from_millis(axum_common::db::DEFAULT_ACQUIRE_TIMEOUT_MS)
        );
        let c = parse(&[("DB_POOL_MAX", " "), ("LISTEN_ADDR", "")]).unwrap();
        assert_eq!(c.pool_max, DEFAULT_POOL_MAX);
        assert_eq!(c.listen_addr.to_string(), DEFAULT_LISTEN_ADDR);
        assert_eq!(c.database.get_database(), Some("crm_containers"));
    }

    #[test]
    fn values_are_read() {
        let c = parse(&[
            ("LISTEN_ADDR", "127.0.0.1:9999"),
            ("DATABASE_URL", "postgres://u:p@db:5433/x"),
            ("DB_POOL_MAX", "12"),
        ])
        .unwrap();
        assert_eq!(c.listen_addr.port(), 9999);
        assert_eq!(c.database.get_host(), "db");
        assert_eq!(c.pool_max, 12);
    }

    #[test]
    fn bad_values_are_refused_without_the_password() {
        for (name, bad) in [
            ("LISTEN_ADDR", "nowhere"),
            ("DB_POOL_MAX", "0"),
            ("DB_POOL_MAX", "many"),
            ("DATABASE_URL", "postgres://u:hunter2@h:notaport/db"),
            ("DATABASE_URL", "mysql://u:hunter2@h/db"),
        ] {
            let e = parse(&[(name, bad)]).err().expect(bad);
            assert!(e.starts_with(name), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
