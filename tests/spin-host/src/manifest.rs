//! Reading a Spin application manifest (`spin_manifest_version = 2`) and resolving its variables
//! the way Spin's environment-variable provider does.
//!
//! Only what an HTTP application needs is modelled; fields that change nothing here (`build`,
//! `description`, `[application]` metadata …) are accepted and ignored, and fields naming a
//! feature this host does not provide (key-value stores, SQLite, files) are refused at startup
//! so a test never runs against something that silently behaves differently from Spin.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde::Deserialize;

/// The prefix Spin's environment provider puts before the upper-cased variable name.
pub const VARIABLE_ENV_PREFIX: &str = "SPIN_VARIABLE_";

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariable {
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    secret: bool,
}

#[derive(Debug, Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: RawTriggerComponent,
    executor: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTriggerComponent {
    Id(String),
    Inline(toml::Table),
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Other(toml::Table),
}

/// An application variable declared in `[variables]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableDecl {
    pub default: Option<String>,
    pub required: bool,
    pub secret: bool,
}

/// Where an HTTP trigger sends requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A route pattern as written in the manifest (`/customers/...`, `/healthz`, `/a/:id`).
    Path(String),
    /// `route = { private = true }`: reachable only through service chaining.
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    pub route: Route,
    pub component_id: String,
}

/// A component as declared, before any variable is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDecl {
    pub id: String,
    /// Absolute (or manifest-relative joined) path of the `.wasm`.
    pub source: PathBuf,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, String>,
    /// Allowed outbound hosts, possibly templated.
    pub allowed_outbound_hosts: Vec<String>,
    /// `environment`: WASI environment variables of the guest.
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
}

impl Manifest {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading manifest {}", path.display()))?;
        let base_dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::parse(&text, &base_dir).with_context(|| format!("in manifest {}", path.display()))
    }

    /// Parses manifest text; relative component sources are resolved against `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self> {
        let raw: RawManifest = toml::from_str(text).context("parsing TOML")?;
        ensure!(
            raw.spin_manifest_version.as_integer() == Some(2)
                || raw.spin_manifest_version.as_str() == Some("2"),
            "only spin_manifest_version = 2 is supported (found {})",
            raw.spin_manifest_version
        );

        let mut variables = BTreeMap::new();
        for (name, raw_var) in raw.variables {
            validate_variable_name(&name)
                .with_context(|| format!("application variable {name:?}"))?;
            ensure!(
                !(raw_var.required && raw_var.default.is_some()),
                "application variable {name:?} cannot be both required and have a default"
            );
            variables.insert(
                name,
                VariableDecl {
                    default: raw_var.default,
                    required: raw_var.required,
                    secret: raw_var.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, raw_component) in raw.component {
            let component = component_decl(&id, raw_component, base_dir, &variables)
                .with_context(|| format!("component {id:?}"))?;
            components.insert(id, component);
        }

        let mut http_triggers = Vec::new();
        for (trigger_type, triggers) in raw.trigger {
            if trigger_type != "http" {
                bail!("trigger type {trigger_type:?} is not supported by this host (only http)");
            }
            for table in triggers {
                let trigger: RawHttpTrigger = table
                    .try_into()
                    .context("an [[trigger.http]] entry needs `route` and `component`")?;
                if let Some(executor) = trigger.executor {
                    let kind = executor.get("type").and_then(|t| t.as_str());
                    ensure!(
                        kind.is_none() || kind == Some("spin"),
                        "executor {kind:?} is not supported (only the default wasi-http one)"
                    );
                }
                let component_id = match trigger.component {
                    RawTriggerComponent::Id(id) => id,
                    RawTriggerComponent::Inline(inline) => bail!(
                        "inline trigger component {inline} is not supported: declare \
                         [component.<id>] and reference it by id"
                    ),
                };
                ensure!(
                    components.contains_key(&component_id),
                    "trigger references undefined component {component_id:?}"
                );
                let route = match trigger.route {
                    RawRoute::Path(path) => Route::Path(path),
                    RawRoute::Private { private: true } => Route::Private,
                    RawRoute::Private { private: false } => bail!(
                        "route must be a string pattern or {{ private = true }}: component \
                         {component_id:?} has {{ private = false }}"
                    ),
                };
                http_triggers.push(HttpTrigger {
                    route,
                    component_id,
                });
            }
        }
        ensure!(
            !http_triggers.is_empty(),
            "the manifest declares no [[trigger.http]]"
        );

        Ok(Self {
            variables,
            http_triggers,
            components,
        })
    }
}

fn component_decl(
    id: &str,
    raw: RawComponent,
    base_dir: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentDecl> {
    let source = match raw.source {
        RawSource::Path(path) => base_dir.join(path),
        RawSource::Other(table) => bail!(
            "source {table} is not supported: only a local file `source = \"path.wasm\"` is \
             (no URLs or registries)"
        ),
    };
    ensure!(
        raw.files.is_empty(),
        "`files` is not supported by this test host"
    );
    ensure!(
        raw.key_value_stores.is_empty() && raw.sqlite_databases.is_empty(),
        "key-value stores and SQLite are not supported by this test host"
    );
    ensure!(
        raw.ai_models.is_empty(),
        "ai_models are not supported by this test host"
    );
    ensure!(
        raw.allowed_http_hosts.is_empty(),
        "`allowed_http_hosts` is the retired Spin 1 form: use `allowed_outbound_hosts`"
    );
    for (name, template) in &raw.variables {
        validate_variable_name(name).with_context(|| format!("component variable {name:?}"))?;
        // Catch a reference to an undeclared application variable at load time, like Spin.
        for reference in Template::parse(template)?.references() {
            ensure!(
                app_variables.contains_key(reference),
                "component variable {name:?} references undeclared application variable \
                 {reference:?}"
            );
        }
    }
    for host in &raw.allowed_outbound_hosts {
        for reference in Template::parse(host)?.references() {
            ensure!(
                app_variables.contains_key(reference),
                "allowed_outbound_hosts entry {host:?} references undeclared application \
                 variable {reference:?}"
            );
        }
    }
    Ok(ComponentDecl {
        id: id.to_string(),
        source,
        variables: raw.variables,
        allowed_outbound_hosts: raw.allowed_outbound_hosts,
        environment: raw.environment,
    })
}

/// Spin's rule for variable names: lower-case ASCII letters, digits and single underscores,
/// starting with a letter and not ending with an underscore.
pub fn validate_variable_name(name: &str) -> Result<()> {
    let first_is_letter = name.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    ensure!(
        first_is_letter,
        "a variable name must start with a lower-case letter"
    );
    ensure!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "a variable name may hold only lower-case letters, digits and '_'"
    );
    ensure!(
        !name.contains("__") && !name.ends_with('_'),
        "a variable name may not contain '__' or end with '_'"
    );
    Ok(())
}

/// A Spin template: literal text with `{{ variable }}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Literal(String),
    Variable(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_string()));
            }
            let after_open = &rest[start + 2..];
            let end = after_open
                .find("}}")
                .ok_or_else(|| anyhow!("unterminated '{{{{' in template {text:?}"))?;
            let name = after_open[..end].trim();
            validate_variable_name(name)
                .with_context(|| format!("reference {name:?} in template {text:?}"))?;
            parts.push(TemplatePart::Variable(name.to_string()));
            rest = &after_open[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Self { parts })
    }

    pub fn references(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Variable(name) => Some(name.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    pub fn render(&self, values: &HashMap<String, String>) -> Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Variable(name) => out.push_str(
                    values
                        .get(name)
                        .ok_or_else(|| anyhow!("no value for application variable {name:?}"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// Resolves every application variable: `SPIN_VARIABLE_<NAME>` from the environment first
/// (Spin's env provider), else the default. A variable with neither is left out; it is an error
/// only if it is required or something references it.
pub fn resolve_application_variables(
    declared: &BTreeMap<String, VariableDecl>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    let mut missing = Vec::new();
    for (name, decl) in declared {
        let env_name = format!("{VARIABLE_ENV_PREFIX}{}", name.to_ascii_uppercase());
        match env(&env_name).or_else(|| decl.default.clone()) {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None if decl.required => missing.push(format!("{name} (set {env_name})")),
            None => {}
        }
    }
    ensure!(
        missing.is_empty(),
        "required application variables have no value: {}",
        missing.join(", ")
    );
    Ok(values)
}

/// Renders a component's variable templates against the resolved application variables.
pub fn resolve_component_variables(
    component: &ComponentDecl,
    app_values: &HashMap<String, String>,
) -> Result<HashMap<String, String>> {
    component
        .variables
        .iter()
        .map(|(name, template)| {
            let value = Template::parse(template)?
                .render(app_values)
                .with_context(|| format!("component {:?} variable {name:?}", component.id))?;
            Ok((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
spin_manifest_version = 2

[application]
name = "crm"
version = "0.1.0"

[variables]
database_url = { required = true, secret = true }
customer_service_url = { default = "http://127.0.0.1:3001" }
upstream_timeout_ms = { default = "2000" }

[[trigger.http]]
route = "/customers/..."
component = "customer-service"

[[trigger.http]]
route = "/healthz"
component = "gateway"

[[trigger.http]]
route = { private = true }
component = "internal"

[component.customer-service]
source = "target/customer.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1:5432", "{{ customer_service_url }}"]
[component.customer-service.variables]
database_url = "{{ database_url }}"
greeting = "hello {{ upstream_timeout_ms }} ms"
[component.customer-service.build]
command = "cargo build"

[component.gateway]
source = "/abs/gateway.wasm"

[component.internal]
source = "internal.wasm"
environment = { RUST_LOG = "info" }
"#;

    fn parse_sample() -> Manifest {
        Manifest::parse(SAMPLE, Path::new("/app")).expect("sample manifest parses")
    }

    #[test]
    fn parses_variables_triggers_and_components() {
        let manifest = parse_sample();
        assert_eq!(
            manifest.variables["database_url"],
            VariableDecl {
                default: None,
                required: true,
                secret: true
            }
        );
        assert_eq!(
            manifest.variables["customer_service_url"]
                .default
                .as_deref(),
            Some("http://127.0.0.1:3001")
        );
        assert_eq!(
            manifest.http_triggers,
            vec![
                HttpTrigger {
                    route: Route::Path("/customers/...".into()),
                    component_id: "customer-service".into()
                },
                HttpTrigger {
                    route: Route::Path("/healthz".into()),
                    component_id: "gateway".into()
                },
                HttpTrigger {
                    route: Route::Private,
                    component_id: "internal".into()
                },
            ]
        );
        let customer = &manifest.components["customer-service"];
        assert_eq!(customer.source, PathBuf::from("/app/target/customer.wasm"));
        assert_eq!(customer.allowed_outbound_hosts.len(), 2);
        assert_eq!(
            manifest.components["gateway"].source,
            PathBuf::from("/abs/gateway.wasm")
        );
        assert_eq!(
            manifest.components["internal"].environment["RUST_LOG"],
            "info"
        );
    }

    #[test]
    fn environment_overrides_default_and_satisfies_required() {
        let manifest = parse_sample();
        let values = resolve_application_variables(&manifest.variables, |name| match name {
            "SPIN_VARIABLE_DATABASE_URL" => Some("postgres://db".into()),
            "SPIN_VARIABLE_UPSTREAM_TIMEOUT_MS" => Some("500".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(values["database_url"], "postgres://db");
        assert_eq!(values["upstream_timeout_ms"], "500");
        assert_eq!(values["customer_service_url"], "http://127.0.0.1:3001");
    }

    #[test]
    fn missing_required_variable_is_a_startup_error_naming_the_env_var() {
        let manifest = parse_sample();
        let error = resolve_application_variables(&manifest.variables, |_| None).unwrap_err();
        assert!(
            error.to_string().contains("SPIN_VARIABLE_DATABASE_URL"),
            "{error}"
        );
    }

    #[test]
    fn component_variables_render_templates() {
        let manifest = parse_sample();
        let app_values = resolve_application_variables(&manifest.variables, |name| {
            (name == "SPIN_VARIABLE_DATABASE_URL").then(|| "postgres://x".to_string())
        })
        .unwrap();
        let values =
            resolve_component_variables(&manifest.components["customer-service"], &app_values)
                .unwrap();
        assert_eq!(values["database_url"], "postgres://x");
        assert_eq!(values["greeting"], "hello 2000 ms");
    }

    #[test]
    fn template_parsing() {
        let template = Template::parse("a{{x}}b{{  y_1 }}").unwrap();
        assert_eq!(template.references().collect::<Vec<_>>(), vec!["x", "y_1"]);
        let values = HashMap::from([
            ("x".to_string(), "1".to_string()),
            ("y_1".into(), "2".into()),
        ]);
        assert_eq!(template.render(&values).unwrap(), "a1b2");
        assert_eq!(
            Template::parse("plain").unwrap().render(&values).unwrap(),
            "plain"
        );
        assert!(Template::parse("{{ unterminated").is_err());
        assert!(Template::parse("{{ Upper }}").is_err());
        assert!(Template::parse("{{ x }}")
            .unwrap()
            .render(&HashMap::new())
            .is_err());
    }

    #[test]
    fn variable_names_follow_spin_rules() {
        assert!(validate_variable_name("database_url").is_ok());
        assert!(validate_variable_name("a1").is_ok());
        for bad in ["", "Database", "1a", "_a", "a_", "a__b", "a-b"] {
            assert!(
                validate_variable_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn refuses_what_would_silently_differ_from_spin() {
        let base = Path::new("/");
        let header =
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n";
        let undeclared = format!(
            "{header}[component.c]\nsource = \"c.wasm\"\n[component.c.variables]\nv = \"{{{{ nope }}}}\"\n"
        );
        assert!(Manifest::parse(&undeclared, base).is_err());
        let unknown_component = "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"missing\"\n";
        assert!(Manifest::parse(unknown_component, base).is_err());
        let version_one = "spin_manifest_version = 1\n";
        assert!(Manifest::parse(version_one, base).is_err());
        let key_value = format!(
            "{header}[component.c]\nsource = \"c.wasm\"\nkey_value_stores = [\"default\"]\n"
        );
        assert!(Manifest::parse(&key_value, base).is_err());
        let both = "spin_manifest_version = 2\n[variables]\nv = { required = true, default = \"x\" }\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"c\"\n[component.c]\nsource = \"c.wasm\"\n";
        assert!(Manifest::parse(both, base).is_err());
    }
}
