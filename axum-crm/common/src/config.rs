//! Configuration with clap's derive: every setting is an environment variable (the names the
//! deployments set) and a flag, `--help` lists them all with their defaults, and a bad value
//! stops the service at start with clap's message (exit status 2) instead of misbehaving later.
//!
//! The settings every service reads are [`ServerConfig`]; the data services add [`DbConfig`]
//! (in `db`); each service's `Config` adds its own (`LISTEN_ADDR`, whose default differs per
//! service, and the upstream URLs).

use std::ffi::OsStr;
use std::str::FromStr;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Command, Parser, ValueEnum};

use crate::admission::Admission;
use crate::layers::LayersOff;
use sqlx::postgres::PgConnectOptions;
use tracing_subscriber::EnvFilter;

/// Settings every service reads.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerConfig {
    /// Backstop for a handler that hangs: past it the request is answered with the service's
    /// timeout error.
    #[arg(long, env = "REQUEST_TIMEOUT_MS", default_value_t = 30_000, value_parser = positive_ms())]
    pub request_timeout_ms: u64,
    /// How long a connection may take to send a request's head, and stay idle between two
    /// requests, before it is closed: bounds slow clients (slowloris) before any handler runs.
    /// The services' own clients drop idle connections sooner, so they never reuse one that is
    /// being closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT_MS", default_value_t = crate::listener::DEFAULT_HEADER_READ_TIMEOUT_MS, value_parser = positive_ms())]
    pub header_read_timeout_ms: u64,
    /// Most requests the service works on at once (its routes; `/healthz` is always
    /// admitted); more wait for a turn (`MAX_QUEUE_WAIT_MS`). Unset: the service's own default
    /// (a data service `DbConfig::default_max_concurrent_requests`, the gateway
    /// `admission::GATEWAY_DEFAULT_MAX_CONCURRENT_REQUESTS`).
    #[arg(long, env = "MAX_CONCURRENT_REQUESTS", value_parser = positive_count())]
    pub max_concurrent_requests: Option<u32>,
    /// How long a request may wait for a turn when `MAX_CONCURRENT_REQUESTS` are in flight;
    /// past it, 503 `overloaded` with `retry-after`, before any of its work has begun.
    #[arg(long, env = "MAX_QUEUE_WAIT_MS", default_value_t = crate::admission::DEFAULT_MAX_QUEUE_WAIT_MS, value_parser = positive_ms())]
    pub max_queue_wait_ms: u64,
    /// Log lines as text (key=value) or JSON.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long = "rust-log", value_name = "RUST_LOG", env = "RUST_LOG", default_value = "info", value_parser = log_filter)]
    pub log_filter: String,
    /// FOR MEASUREMENT ONLY, NEVER FOR PRODUCTION: middleware layers to switch off,
    /// comma-separated (metrics, trace, headers, errors, catch_panic, timeout, server_timing,
    /// admission), so `crm-bench layers` can tell what each costs. A service with any of them
    /// off breaks the contract. Unset: every layer on, the normal service.
    #[arg(long, env = "CRM_BENCH_LAYERS_OFF", value_name = "LAYERS", value_parser = LayersOff::parse)]
    pub bench_layers_off: Option<LayersOff>,
}

impl ServerConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// The service's admission: `MAX_CONCURRENT_REQUESTS` (else `default_max_in_flight`) and
    /// `MAX_QUEUE_WAIT_MS`, logged once at start.
    pub fn admission(&self, default_max_in_flight: u32) -> Admission {
        let admission = Admission::new(
            self.max_concurrent_requests
                .unwrap_or(default_max_in_flight),
            Duration::from_millis(self.max_queue_wait_ms),
        );
        tracing::info!(
            max_concurrent_requests = admission.max_in_flight,
            max_queue_wait_ms = self.max_queue_wait_ms,
            "admission"
        );
        admission
    }

    /// The middleware layers switched off (`CRM_BENCH_LAYERS_OFF`; none unless measuring),
    /// logged once at start when there are any.
    pub fn layers_off(&self) -> LayersOff {
        let off = self.bench_layers_off.unwrap_or_default();
        if !off.is_none() {
            tracing::warn!(
                layers_off = %off,
                "CRM_BENCH_LAYERS_OFF: these middleware layers are off, for measurement only; \
                 this service does not keep the contract"
            );
        }
        off
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Reads a service's configuration from its flags and environment; exits with clap's message
/// (status 2) when a value is unusable, and after `--help` / `--version` (status 0). A variable that is
/// set but blank counts as unset, so a manifest that renders an optional value as `""` gets the
/// default rather than a parse error.
pub fn load<C: Parser>() -> C {
    let mut command = without_blank_env(C::command());
    let mut matches = command.get_matches_mut();
    C::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut command).exit())
}

/// The variables for which blank is a value of its own: an empty `METRICS_ADDR` turns the
/// metrics listener off, as `off` does.
const BLANK_IS_A_VALUE: &[&str] = &["METRICS_ADDR"];

/// `command` with the variables that are set but blank taken as unset (but those of
/// [`BLANK_IS_A_VALUE`]).
fn without_blank_env(command: Command) -> Command {
    command.mut_args(|arg| {
        let blank = arg
            .get_env()
            .filter(|name| !BLANK_IS_A_VALUE.iter().any(|keep| name == keep))
            .and_then(std::env::var_os)
            .is_some_and(|value| value.to_string_lossy().trim().is_empty());
        if blank {
            arg.env(None)
        } else {
            arg
        }
    })
}

/// A positive number of milliseconds.
pub fn positive_ms() -> impl TypedValueParser<Value = u64> {
    clap::value_parser!(u64).range(1..)
}

/// A positive count.
pub fn positive_count() -> impl TypedValueParser<Value = u32> {
    clap::value_parser!(u32).range(1..)
}

fn log_filter(value: &str) -> Result<String, String> {
    EnvFilter::builder()
        .parse(value)
        .map(|_| value.to_owned())
        .map_err(|e| format!("not a tracing filter ({e})"))
}

/// The base URL of an upstream service: `http://host:port`, no query; stored without a
/// trailing slash.
pub fn base_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// URL".into());
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err("must be a base URL like http://host:port".into());
    }
    Ok(value.trim().trim_end_matches('/').to_owned())
}

/// `DATABASE_URL`, parsed by sqlx at start so a typo fails there. Unlike clap's own parsers,
/// its error never repeats the value: the URL may carry a password.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseUrl;

impl TypedValueParser for DatabaseUrl {
    type Value = PgConnectOptions;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<PgConnectOptions, clap::Error> {
        let refuse = || {
            let name = arg
                .and_then(Arg::get_env)
                .map_or("DATABASE_URL".into(), |n| n.to_string_lossy().into_owned());
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!("{name} is not a postgres:// URL (the value is not shown: it may hold a password)\n"),
            )
            .with_cmd(cmd)
        };
        let value = value.to_str().ok_or_else(refuse)?.trim();
        if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
            return Err(refuse());
        }
        PgConnectOptions::from_str(value).map_err(|_| refuse())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, FromArgMatches};

    /// Variable names no test environment sets, so the process environment cannot leak in.
    #[derive(Parser, Debug)]
    struct Probe {
        #[command(flatten)]
        server: ServerConfig,
        #[arg(long, env = "CRM_PROBE_UPSTREAM_URL", default_value = "http://127.0.0.1:8001", value_parser = base_url)]
        upstream_url: String,
        #[arg(long, env = "CRM_PROBE_DATABASE_URL", default_value = "postgres://localhost/x", hide_env_values = true, value_parser = DatabaseUrl)]
        database: PgConnectOptions,
    }

    fn parse(args: &[&str]) -> Result<Probe, String> {
        let args = std::iter::once("probe").chain(args.iter().copied());
        Probe::try_parse_from(args).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_apply() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.server.request_timeout(), Duration::from_secs(30));
        assert_eq!(c.server.header_read_timeout(), Duration::from_secs(10));
        assert_eq!(c.upstream_url, "http://127.0.0.1:8001");
        assert_eq!(c.database.get_database(), Some("x"));
    }

    #[test]
    fn blank_variables_count_as_unset() {
        std::env::set_var("CRM_PROBE_UPSTREAM_URL", " ");
        let mut command = without_blank_env(Probe::command());
        std::env::remove_var("CRM_PROBE_UPSTREAM_URL");
        let matches = command.try_get_matches_from_mut(["probe"]).unwrap();
        let c = Probe::from_arg_matches(&matches).unwrap();
        assert_eq!(c.upstream_url, "http://127.0.0.1:8001");
    }

    #[test]
    fn good_values_parse() {
        let c = parse(&[
            "--upstream-url=http://customer-service:8001/",
            "--database=postgres://crm:crm@db:5432/crm_containers",
            "--header-read-timeout-ms=12",
            "--log-format=json",
            "--bench-layers-off=trace, server_timing",
        ])
        .unwrap();
        assert_eq!(c.upstream_url, "http://customer-service:8001");
        assert_eq!(c.database.get_host(), "db");
        assert_eq!(c.server.header_read_timeout_ms, 12);
        assert_eq!(c.server.log_format, LogFormat::Json);
        let off = c.server.layers_off();
        assert_eq!(off.to_string(), "trace,server_timing");
    }

    #[test]
    fn every_layer_is_on_unless_measuring() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.server.bench_layers_off, None);
        assert!(c.server.layers_off().is_none());
    }

    #[test]
    fn bad_values_are_refused_naming_the_setting() {
        for (flag, value) in [
            ("request-timeout-ms", "0"),
            ("header-read-timeout-ms", "-5"),
            ("upstream-url", "ftp://x"),
            ("upstream-url", "not a url"),
            ("log-format", "xml"),
            ("rust-log", "info,["),
            ("bench-layers-off", "trace,cors"),
        ] {
            let e = parse(&[&format!("--{flag}={value}")]).unwrap_err();
            assert!(e.contains(flag), "{flag}: {e}");
        }
    }

    #[test]
    fn database_passwords_never_reach_the_message() {
        for bad in [
            "mysql://u:hunter2@h/db",
            "postgres://u:hunter2@h:notaport/db",
        ] {
            let e = parse(&[&format!("--database={bad}")]).unwrap_err();
            assert!(e.contains("is not a postgres:// URL"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
