//! `allowed_outbound_hosts`, with Spin 3's syntax and matching rules: `scheme://host[:port]`,
//! where the scheme, the host and the port may each be `*`, the host may be `*.domain`, and the
//! port may be a range `a..b` (end excluded); a missing port means the scheme's well-known port.
//! Service-chaining hosts (`<component-id>.spin.internal`) are ordinary hosts here: a component
//! may call another only if it lists it (or `*.spin.internal`).

use anyhow::{bail, ensure, Context, Result};

pub const SERVICE_CHAINING_DOMAIN_SUFFIX: &str = ".spin.internal";

#[derive(Debug, Clone, PartialEq, Eq)]
enum SchemeRule {
    Any,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomain(String),
    /// `self`: only relative URLs, which this host's outgoing handler never produces.
    ToSelf,
    Exact(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortRule {
    Any,
    Exact(u16),
    /// `start..end`, end excluded (Spin's `Range<u16>`).
    Range(u16, u16),
}

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    original: String,
    scheme: SchemeRule,
    host: HostRule,
    port: PortRule,
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            bail!(
                "{url:?} is not an allowed outbound host: use <scheme>://<host>[:<port>], \
                 with '*' wildcards allowed for each"
            );
        };
        let (host, port_and_path) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port_and_path.split_once('/') {
            Some((port, path)) => {
                ensure!(path.is_empty(), "{url:?} has a path but is not allowed to");
                port
            }
            None => port_and_path,
        };

        let scheme_rule = if scheme == "*" {
            SchemeRule::Any
        } else {
            ensure!(
                !scheme.is_empty() && scheme.chars().all(char::is_alphabetic),
                "scheme {scheme:?} in {url:?} contains a non-alphabetic character"
            );
            SchemeRule::Exact(scheme.to_string())
        };

        let host = host.trim();
        let host_rule = if host == "*" {
            HostRule::Any
        } else if host == "self" || host == "self.alt" {
            HostRule::ToSelf
        } else if let Some(domain) = host.strip_prefix("*.") {
            ensure!(
                !domain.contains('*'),
                "invalid allowed host {host}: wildcards are allowed only as prefixes"
            );
            HostRule::AnySubdomain(format!(".{domain}"))
        } else {
            ensure!(
                !host.contains('*'),
                "invalid allowed host {host}: wildcards are allowed only as subdomains"
            );
            ensure!(
                !host.contains('/'),
                "{url:?}: hosts must not contain paths (CIDR ranges are not supported by this test host)"
            );
            ensure!(!host.is_empty(), "{url:?} has no host");
            HostRule::Exact(host.trim_end_matches('/').to_string())
        };

        let port_rule = if port.is_empty() {
            let well_known = well_known_port(scheme).with_context(|| {
                format!(
                    "{url:?}: no port was provided and the scheme {scheme:?} has no well-known port"
                )
            })?;
            PortRule::Exact(well_known)
        } else if port == "*" {
            PortRule::Any
        } else if let Some((start, end)) = port.split_once("..") {
            let start = start
                .parse()
                .with_context(|| format!("port range {port:?} contains a non-number"))?;
            let end = end
                .parse()
                .with_context(|| format!("port range {port:?} contains a non-number"))?;
            PortRule::Range(start, end)
        } else {
            PortRule::Exact(
                port.parse()
                    .with_context(|| format!("port {port:?} is not a number"))?,
            )
        };

        Ok(Self {
            original: entry.to_string(),
            scheme: scheme_rule,
            host: host_rule,
            port: port_rule,
        })
    }

    /// Whether a connection with this scheme to `host` (no brackets for IPv6) and `port`
    /// (`None`: the scheme's default) is allowed by this entry.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = match &self.scheme {
            SchemeRule::Any => true,
            SchemeRule::Exact(allowed) => allowed == scheme,
        };
        let host_ok = match &self.host {
            HostRule::Any => true,
            HostRule::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            HostRule::ToSelf => false,
            HostRule::Exact(allowed) => allowed == host,
        };
        let port_ok = match &self.port {
            PortRule::Any => true,
            rule => match port.or_else(|| well_known_port(scheme)) {
                None => false,
                Some(port) => match rule {
                    PortRule::Exact(allowed) => *allowed == port,
                    PortRule::Range(start, end) => (*start..*end).contains(&port),
                    PortRule::Any => true,
                },
            },
        };
        scheme_ok && host_ok && port_ok
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.original)
    }
}

/// A component's whole allow-list; empty means no outbound networking at all, as in Spin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Parses already-rendered entries (templates resolved).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self> {
        if entries.len() == 1 && entries[0].as_ref() == "insecure:allow-all" {
            bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead");
        }
        let entries = entries
            .iter()
            .map(|entry| AllowedHost::parse(entry.as_ref()))
            .collect::<Result<_>>()?;
        Ok(Self { entries })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        self.entries
            .iter()
            .any(|entry| entry.allows(scheme, host, port))
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `customer-service` for `customer-service.spin.internal[:port]`, else `None`.
pub fn service_chaining_target(host: &str) -> Option<&str> {
    let host = host.rsplit_once(':').map_or(host, |(host, _port)| host);
    let (first, rest) = host.split_once('.')?;
    (format!(".{rest}") == SERVICE_CHAINING_DOMAIN_SUFFIX).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        AllowedHost::parse(entry)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_host_and_port() {
        assert!(allows(
            "http://127.0.0.1:3001",
            "http",
            "127.0.0.1",
            Some(3001)
        ));
        assert!(!allows(
            "http://127.0.0.1:3001",
            "http",
            "127.0.0.1",
            Some(3002)
        ));
        assert!(!allows(
            "http://127.0.0.1:3001",
            "https",
            "127.0.0.1",
            Some(3001)
        ));
        assert!(!allows(
            "http://127.0.0.1:3001",
            "http",
            "localhost",
            Some(3001)
        ));
    }

    #[test]
    fn missing_port_means_well_known_port_on_both_sides() {
        assert!(allows("https://example.com", "https", "example.com", None));
        assert!(allows(
            "https://example.com",
            "https",
            "example.com",
            Some(443)
        ));
        assert!(!allows(
            "https://example.com",
            "https",
            "example.com",
            Some(8443)
        ));
        assert!(allows("postgres://db", "postgres", "db", Some(5432)));
        assert!(allows("postgres://db:5432", "postgres", "db", None));
        assert!(!allows("postgres://db", "postgres", "db", Some(5433)));
        assert!(AllowedHost::parse("foo://host").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(allows("*://*:*", "http", "anything", Some(1)));
        assert!(allows("http://*:*", "http", "x", Some(9)));
        assert!(!allows("http://*:*", "https", "x", Some(9)));
        assert!(allows(
            "http://*.spin.internal",
            "http",
            "orders.spin.internal",
            None
        ));
        assert!(!allows(
            "http://*.spin.internal",
            "http",
            "spin.internal",
            None
        ));
        assert!(allows(
            "postgres://localhost:*",
            "postgres",
            "localhost",
            Some(6543)
        ));
        assert!(allows("http://h:8000..8002", "http", "h", Some(8001)));
        assert!(!allows("http://h:8000..8002", "http", "h", Some(8002)));
    }

    #[test]
    fn self_only_matches_relative_urls() {
        assert!(!allows("http://self", "http", "self", None));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "127.0.0.1:3000",
            "*",
            "http://a.*.com",
            "http://host:port",
            "http://host:80/path",
            "ht-tp://host",
        ] {
            assert!(
                AllowedHost::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
        assert!(AllowedHosts::parse(&["insecure:allow-all"]).is_err());
    }

    #[test]
    fn empty_list_allows_nothing() {
        let hosts = AllowedHosts::parse::<&str>(&[]).unwrap();
        assert!(!hosts.allows("http", "127.0.0.1", Some(80)));
    }

    #[test]
    fn list_allows_any_matching_entry() {
        let hosts =
            AllowedHosts::parse(&["postgres://127.0.0.1:5432", "http://127.0.0.1:3001"]).unwrap();
        assert!(hosts.allows("postgres", "127.0.0.1", Some(5432)));
        assert!(hosts.allows("http", "127.0.0.1", Some(3001)));
        assert!(!hosts.allows("http", "127.0.0.1", Some(5432)));
    }

    #[test]
    fn service_chaining_hosts() {
        assert_eq!(
            service_chaining_target("customer-service.spin.internal"),
            Some("customer-service")
        );
        assert_eq!(
            service_chaining_target("orders.spin.internal:80"),
            Some("orders")
        );
        assert_eq!(service_chaining_target("a.b.spin.internal"), None);
        assert_eq!(service_chaining_target("example.com"), None);
        assert_eq!(service_chaining_target("localhost"), None);
    }
}
