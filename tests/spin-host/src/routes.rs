//! HTTP routing with Spin's rules, on the same matcher Spin uses (`routefinder`): an exact route
//! beats a parameter (`/:id`), which beats a wildcard (`/...`); among wildcards the longest
//! prefix wins. The guest sees the full original path; the match itself is reported in Spin's
//! `spin-*` request headers.

use std::net::SocketAddr;

use anyhow::{anyhow, Result};

use crate::manifest::{HttpTrigger, Route};

#[derive(Debug, Clone)]
struct RouteHandler {
    component_id: String,
    /// The route with the (always `/`) base applied, as matched.
    based_route: String,
    /// The route as written in the manifest.
    raw_route: String,
}

/// Maps request paths to component ids.
pub struct Router {
    inner: routefinder::Router<RouteHandler>,
}

/// The outcome of routing one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component_id: String,
    pub based_route: String,
    pub raw_route: String,
    /// `:name` captures, in route order.
    pub named_wildcards: Vec<(String, String)>,
    /// The part of the path matched by a trailing `/...`, with Spin's slash conventions.
    pub trailing_wildcard: String,
}

impl Router {
    /// Builds the router from the manifest's HTTP triggers; private routes are left out (they are
    /// reachable only through service chaining). As in Spin, a later duplicate of the same route
    /// replaces an earlier one.
    pub fn build(triggers: &[HttpTrigger]) -> Result<Self> {
        // routefinder keeps the first of two equal routes; Spin keeps the last, so deduplicate
        // first (keeping the first one's position, as Spin's IndexMap does).
        let mut unique: Vec<RouteHandler> = Vec::new();
        for trigger in triggers {
            let Route::Path(raw_route) = &trigger.route else {
                continue;
            };
            let handler = RouteHandler {
                component_id: trigger.component_id.clone(),
                based_route: sanitize_with_base("/", raw_route),
                raw_route: raw_route.clone(),
            };
            match unique.iter_mut().find(|seen| seen.raw_route == *raw_route) {
                Some(seen) => {
                    tracing::warn!(
                        "duplicate route {raw_route:?}: component {:?} replaces {:?}",
                        handler.component_id,
                        seen.component_id
                    );
                    *seen = handler;
                }
                None => unique.push(handler),
            }
        }
        let mut inner = routefinder::Router::new();
        for handler in unique {
            let spec = match handler.based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based_route.clone(),
            };
            let description = format!(
                "route {:?} of component {:?}",
                handler.raw_route, handler.component_id
            );
            inner
                .add(spec.as_str(), handler)
                .map_err(|error| anyhow!("{description}: {error}"))?;
        }
        Ok(Self { inner })
    }

    /// The best route for a path (no query string), or `None` (Spin answers 404).
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.inner.best_match(path)?;
        let handler = best.handler();
        let captures = best.captures();
        let named_wildcards = captures
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        // Spin has always reported trailing slashes in the path info; routefinder drops them.
        let trailing_wildcard = captures
            .wildcard()
            .map(
                |wildcard| match (wildcard.is_empty(), path.ends_with('/')) {
                    (true, false) => String::new(),
                    (true, true) => "/".to_string(),
                    (false, false) => format!("/{wildcard}"),
                    (false, true) => format!("/{wildcard}/"),
                },
            )
            .unwrap_or_default();
        Some(RouteMatch {
            component_id: handler.component_id.clone(),
            based_route: handler.based_route.clone(),
            raw_route: handler.raw_route.clone(),
            named_wildcards,
            trailing_wildcard,
        })
    }
}

impl RouteMatch {
    /// What Spin reports for a request that reached a component through service chaining: as if
    /// it had matched a `/...` route.
    pub fn synthetic(component_id: &str, path: &str) -> Self {
        Self {
            component_id: component_id.to_string(),
            based_route: "/...".to_string(),
            raw_route: "/...".to_string(),
            named_wildcards: Vec::new(),
            trailing_wildcard: path.to_string(),
        }
    }

    fn raw_route_or_prefix(&self) -> &str {
        self.raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
    }

    /// Spin's request headers for this match (`spin-full-url`, `spin-path-info`, …).
    pub fn spin_headers(
        &self,
        scheme: &str,
        host: &str,
        path_and_query: &str,
        client_addr: SocketAddr,
    ) -> Vec<(String, String)> {
        let mut headers = vec![
            ("spin-path-info".to_string(), self.trailing_wildcard.clone()),
            (
                "spin-full-url".to_string(),
                format!("{scheme}://{host}{path_and_query}"),
            ),
            ("spin-matched-route".to_string(), self.based_route.clone()),
            ("spin-base-path".to_string(), "/".to_string()),
            (
                "spin-raw-component-route".to_string(),
                self.raw_route.clone(),
            ),
            (
                "spin-component-route".to_string(),
                self.raw_route_or_prefix().to_string(),
            ),
            ("spin-client-addr".to_string(), client_addr.to_string()),
        ];
        for (name, value) in &self.named_wildcards {
            headers.push((
                format!(
                    "spin-path-match-{}",
                    name.to_ascii_lowercase().replace('_', "-")
                ),
                value.clone(),
            ));
        }
        headers
    }
}

/// Spin's joining of the application base and a route: both absolute, one trailing slash off.
fn sanitize_with_base(base: &str, route: &str) -> String {
    let route = if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    };
    let strip = |s: &str| s.strip_suffix('/').unwrap_or(s).to_string();
    format!("{}{}", strip(base), strip(&route))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let triggers: Vec<HttpTrigger> = routes
            .iter()
            .map(|(route, id)| HttpTrigger {
                route: Route::Path(route.to_string()),
                component_id: id.to_string(),
            })
            .collect();
        Router::build(&triggers).unwrap()
    }

    fn routed(router: &Router, path: &str) -> Option<String> {
        router.route(path).map(|m| m.component_id)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wildcard_wins() {
        let router = router(&[
            ("/...", "fallback"),
            ("/customers/...", "customers"),
            ("/customers/ping", "ping"),
            ("/orders/...", "orders"),
            ("/healthz", "health"),
        ]);
        assert_eq!(routed(&router, "/customers/ping").as_deref(), Some("ping"));
        assert_eq!(
            routed(&router, "/customers/42").as_deref(),
            Some("customers")
        );
        assert_eq!(routed(&router, "/customers").as_deref(), Some("customers"));
        assert_eq!(routed(&router, "/orders/1/x").as_deref(), Some("orders"));
        assert_eq!(routed(&router, "/healthz").as_deref(), Some("health"));
        assert_eq!(routed(&router, "/healthz/x").as_deref(), Some("fallback"));
        assert_eq!(routed(&router, "/").as_deref(), Some("fallback"));
    }

    #[test]
    fn unmatched_paths_have_no_route() {
        let router = router(&[("/customers/...", "customers"), ("/healthz", "health")]);
        assert_eq!(routed(&router, "/nope"), None);
        assert_eq!(routed(&router, "/healthzz"), None);
        assert_eq!(routed(&router, "/customer"), None);
    }

    #[test]
    fn private_routes_are_not_routable() {
        let triggers = vec![HttpTrigger {
            route: Route::Private,
            component_id: "internal".into(),
        }];
        let router = Router::build(&triggers).unwrap();
        assert_eq!(routed(&router, "/"), None);
    }

    #[test]
    fn later_duplicate_route_replaces_earlier_like_spin() {
        let router = router(&[("/a", "first"), ("/a", "second")]);
        assert_eq!(routed(&router, "/a").as_deref(), Some("second"));
    }

    #[test]
    fn path_info_keeps_spin_slash_conventions() {
        let router = router(&[("/customers/...", "c")]);
        let info = |path: &str| router.route(path).unwrap().trailing_wildcard;
        assert_eq!(info("/customers"), "");
        assert_eq!(info("/customers/"), "/");
        assert_eq!(info("/customers/42"), "/42");
        assert_eq!(info("/customers/42/"), "/42/");
    }

    #[test]
    fn spin_headers_describe_the_match() {
        let router = router(&[("/foo/:user_id/...", "c")]);
        let route_match = router.route("/foo/42/bar").unwrap();
        let headers = route_match.spin_headers(
            "http",
            "127.0.0.1:3000",
            "/foo/42/bar?x=1",
            "127.0.0.1:5555".parse().unwrap(),
        );
        let get = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("spin-full-url"),
            Some("http://127.0.0.1:3000/foo/42/bar?x=1")
        );
        assert_eq!(get("spin-path-info"), Some("/bar"));
        assert_eq!(get("spin-matched-route"), Some("/foo/:user_id/..."));
        assert_eq!(get("spin-raw-component-route"), Some("/foo/:user_id/..."));
        assert_eq!(get("spin-component-route"), Some("/foo/:user_id"));
        assert_eq!(get("spin-base-path"), Some("/"));
        assert_eq!(get("spin-client-addr"), Some("127.0.0.1:5555"));
        assert_eq!(get("spin-path-match-user-id"), Some("42"));
    }

    #[test]
    fn synthetic_match_for_service_chaining() {
        let route_match = RouteMatch::synthetic("customer-service", "/customers/7");
        assert_eq!(route_match.trailing_wildcard, "/customers/7");
        assert_eq!(route_match.raw_route_or_prefix(), "");
    }
}
