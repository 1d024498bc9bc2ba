//! Configuration from the environment: typed readers that fail with a message naming the
//! variable, so a bad deployment stops at start instead of misbehaving later.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

/// A variable that is set but unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.var, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// Where variables come from: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, var: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, var: &str) -> Option<String> {
        std::env::var(var).ok()
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, var: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A variable's value; unset and empty both mean "use the default".
pub fn raw(src: &impl Source, var: &str) -> Option<String> {
    src.get(var).filter(|v| !v.trim().is_empty())
}

pub fn string(src: &impl Source, var: &'static str, default: &str) -> String {
    raw(src, var).unwrap_or_else(|| default.to_owned())
}

pub fn socket_addr(
    src: &impl Source,
    var: &'static str,
    default: &str,
) -> Result<SocketAddr, ConfigError> {
    let value = string(src, var, default);
    value.trim().parse().map_err(|e| ConfigError {
        var,
        problem: format!("{value:?} is not a socket address like 0.0.0.0:8000 ({e})"),
    })
}

/// A positive integer.
pub fn positive<T>(src: &impl Source, var: &'static str, default: T) -> Result<T, ConfigError>
where
    T: FromStr + PartialOrd + Default + Copy,
{
    let Some(value) = raw(src, var) else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<T>()
        .ok()
        .filter(|v| *v > T::default())
        .ok_or_else(|| ConfigError {
            var,
            problem: format!("{value:?} is not a positive integer"),
        })
}

/// A duration given in milliseconds, positive.
pub fn millis(
    src: &impl Source,
    var: &'static str,
    default_ms: u64,
) -> Result<Duration, ConfigError> {
    positive(src, var, default_ms).map(Duration::from_millis)
}

/// The base URL of an upstream service: `http://host:port`, no query.
pub fn base_url(
    src: &impl Source,
    var: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let value = string(src, var, default);
    let bad = |why: String| ConfigError {
        var,
        problem: format!("{value:?} {why}"),
    };
    let url = reqwest::Url::parse(value.trim()).map_err(|e| bad(format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http:// URL".into()));
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must be a base URL like http://host:port".into()));
    }
    Ok(value.trim().trim_end_matches('/').to_owned())
}

/// A Postgres URL, parsed now so a typo fails at start. The error never repeats the URL (it may
/// carry a password).
pub fn database_url(
    src: &impl Source,
    var: &'static str,
    default: &str,
) -> Result<PgConnectOptions, ConfigError> {
    let value = string(src, var, default);
    let value = value.trim();
    let bad = || ConfigError {
        var,
        problem: format!("{} is not a postgres:// URL", redact_url(value)),
    };
    if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
        return Err(bad());
    }
    PgConnectOptions::from_str(value).map_err(|_| bad())
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable>".into();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    // The last `@` ends the userinfo, whatever unescaped characters the password holds.
    let mut out = format!("{scheme}://");
    match before_query.rsplit_once('@') {
        Some((userinfo, host_and_path)) => {
            match userinfo.split_once(':') {
                Some((user, _password)) => out.push_str(&format!("{user}:***@")),
                None => out.push_str(&format!("{userinfo}@")),
            }
            out.push_str(host_and_path);
        }
        None => out.push_str(before_query),
    }
    if let Some(query) = query {
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        out.push('?');
        out.push_str(&query);
    }
    out
}

/// Log output format: `LOG_FORMAT=json` or text (key=value, the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn log_format(src: &impl Source) -> Result<LogFormat, ConfigError> {
    match raw(src, "LOG_FORMAT").as_deref().map(str::trim) {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError {
            var: "LOG_FORMAT",
            problem: format!("{other:?} is neither text nor json"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset_or_empty() {
        let env = [("LISTEN_ADDR", " "), ("X", "")];
        assert_eq!(
            socket_addr(&env, "LISTEN_ADDR", "0.0.0.0:8001").unwrap(),
            "0.0.0.0:8001".parse().unwrap()
        );
        assert_eq!(positive(&env, "X", 5u32), Ok(5));
        assert_eq!(millis(&env, "Y", 2000), Ok(Duration::from_millis(2000)));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let env = [
            ("LISTEN_ADDR", "localhost"),
            ("DB_POOL_MAX", "0"),
            ("UPSTREAM_TIMEOUT_MS", "-5"),
            ("CUSTOMER_SERVICE_URL", "ftp://x"),
            ("ORDER_SERVICE_URL", "not a url"),
            ("DATABASE_URL", "mysql://u:hunter2@h/db"),
            ("LOG_FORMAT", "xml"),
        ];
        let e = socket_addr(&env, "LISTEN_ADDR", "").unwrap_err();
        assert_eq!(e.var, "LISTEN_ADDR");
        assert_eq!(
            positive(&env, "DB_POOL_MAX", 5u32).unwrap_err().var,
            "DB_POOL_MAX"
        );
        assert!(millis(&env, "UPSTREAM_TIMEOUT_MS", 1).is_err());
        assert!(base_url(&env, "CUSTOMER_SERVICE_URL", "").is_err());
        assert!(base_url(&env, "ORDER_SERVICE_URL", "").is_err());
        let e = database_url(&env, "DATABASE_URL", "").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(log_format(&env).is_err());
    }

    #[test]
    fn good_values_parse() {
        let env = [
            ("U", "http://customer-service:8001/"),
            ("D", "postgres://crm:crm@db:5432/crm_containers"),
            ("N", "12"),
            ("LOG_FORMAT", "json"),
        ];
        assert_eq!(
            base_url(&env, "U", "").unwrap(),
            "http://customer-service:8001"
        );
        assert!(database_url(&env, "D", "").is_ok());
        assert_eq!(positive(&env, "N", 5u32), Ok(12));
        assert_eq!(log_format(&env), Ok(LogFormat::Json));
    }

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("postgres://crm:s3cret@db:5432/crm"),
            "postgres://crm:***@db:5432/crm"
        );
        assert_eq!(
            redact_url("postgres://crm@db/crm?sslmode=disable&password=s3cret"),
            "postgres://crm@db/crm?sslmode=disable&password=***"
        );
        assert_eq!(redact_url("postgres://db/crm"), "postgres://db/crm");
        assert_eq!(
            redact_url("postgres://u:p@ss@db/x"),
            "postgres://u:***@db/x"
        );
        assert_eq!(redact_url("postgres://u:a/b@db/x"), "postgres://u:***@db/x");
        assert_eq!(redact_url("garbage"), "<unparseable>");
    }
}
