//! Reading and validating a Spin manifest (`spin_manifest_version = 2`).
//!
//! Only what this runtime serves is interpreted: application variables, HTTP triggers and the
//! components' `source`, `key_value_stores`, `variables` and `environment`. Everything else
//! (build settings, outbound hosts, ...) is accepted and ignored, as it does not change how a
//! request is served here.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

/// The environment variable prefix of Spin's environment variables provider.
const VARIABLE_ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The command that builds the project's components.
pub const BUILD_HINT: &str = "run `cargo build --target wasm32-wasip2 --release`";

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, RawVariable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Debug, Deserialize)]
struct RawApplication {
    name: String,
    version: Option<String>,
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

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Debug, Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
}

/// A trigger route: a pattern, or `{ private = true }` for components reachable only by
/// service chaining, which this runtime does not route to.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Pattern(String),
    Private { private: bool },
}

#[derive(Debug, Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
}

/// An application variable as declared in `[variables]`.
#[derive(Debug, Clone)]
pub struct VariableDecl {
    /// The default value, if any.
    pub default: Option<String>,
    /// Whether a value must be supplied.
    pub required: bool,
    /// Whether the value is secret (never printed).
    pub secret: bool,
}

/// A validated HTTP trigger.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The route pattern as written in the manifest.
    pub route: String,
    /// The component serving the route.
    pub component: String,
}

/// A validated component.
#[derive(Debug, Clone)]
pub struct ComponentDecl {
    /// The component id (the `NAME` in `[component.NAME]`).
    pub id: String,
    /// The absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// The key-value store labels the component may open.
    pub key_value_stores: HashSet<String>,
    /// The component's variables, still as templates.
    pub variables: BTreeMap<String, String>,
    /// Environment variables given to the component's WASI context.
    pub environment: BTreeMap<String, String>,
    /// `allowed_outbound_hosts`, still as templates (only outbound Redis uses them here).
    pub allowed_outbound_hosts: Vec<String>,
}

/// A parsed and validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The directory the manifest's relative paths start from.
    pub dir: PathBuf,
    /// The application name.
    pub name: String,
    /// The application version, if the manifest gives one.
    pub version: Option<String>,
    /// Application variables.
    pub variables: BTreeMap<String, VariableDecl>,
    /// HTTP triggers in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// Components by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

impl Manifest {
    /// Reads and validates a manifest file (not yet the `.wasm` files; see [`Self::check_sources`]).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            anyhow::anyhow!(
                "cannot read the Spin manifest {} ({error}); pass the right path with --from",
                path.display()
            )
        })?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        Self::parse(&text, path, &dir)
    }

    /// Parses manifest text; `path` is used in messages and `dir` anchors relative sources.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let raw: RawManifest = toml::from_str(text).map_err(|error| {
            anyhow::anyhow!("malformed Spin manifest {shown}; fix this TOML error:\n{error}")
        })?;
        if raw.spin_manifest_version.as_integer() != Some(2) {
            bail!(
                "{shown}: unsupported spin_manifest_version {}: this runtime reads manifest \
                 version 2; set `spin_manifest_version = 2`",
                raw.spin_manifest_version
            );
        }

        let mut variables = BTreeMap::new();
        for (name, declared) in raw.variables {
            validate_variable_name(&name)
                .map_err(|reason| anyhow::anyhow!("{shown}: [variables]: {reason}"))?;
            if declared.required && declared.default.is_some() {
                bail!(
                    "{shown}: variable {name:?} is both `required` and has a `default`; \
                     remove one of them"
                );
            }
            variables.insert(
                name,
                VariableDecl {
                    default: declared.default,
                    required: declared.required,
                    secret: declared.secret,
                },
            );
        }

        let mut components = BTreeMap::new();
        for (id, declared) in raw.component {
            let Some(source) = declared.source.as_str() else {
                bail!(
                    "{shown}: [component.{id}] source must be a path to a local .wasm file; \
                     remote sources are not supported by booking-host"
                );
            };
            for (name, template) in &declared.variables {
                validate_variable_name(name).map_err(|reason| {
                    anyhow::anyhow!("{shown}: [component.{id}.variables]: {reason}")
                })?;
                for referenced in template_references(template).with_context(|| {
                    format!("{shown}: [component.{id}.variables] {name} = {template:?}")
                })? {
                    if !variables.contains_key(&referenced) {
                        bail!(
                            "{shown}: [component.{id}.variables] {name} references variable \
                             {referenced:?}, which is not declared; add `{referenced} = {{ \
                             default = \"...\" }}` under [variables]"
                        );
                    }
                }
            }
            for entry in &declared.allowed_outbound_hosts {
                let context =
                    || format!("{shown}: [component.{id}] allowed_outbound_hosts {entry:?}");
                let referenced = template_references(entry).with_context(context)?;
                for name in &referenced {
                    if !variables.contains_key(name) {
                        bail!("{}: references undeclared variable {name:?}", context());
                    }
                }
                // As Spin: a literal entry must parse at load; a template must parse with the
                // defaults when every variable it uses has one (else it is checked on use).
                let defaults: Option<HashMap<String, String>> = referenced
                    .iter()
                    .map(|name| {
                        let default = variables.get(name).and_then(|v| v.default.clone())?;
                        Some((name.clone(), default))
                    })
                    .collect();
                if let Some(defaults) = defaults {
                    let resolved = expand_template(entry, &defaults).with_context(context)?;
                    crate::redis::AllowedHost::parse(&resolved).map_err(|reason| {
                        anyhow::anyhow!("{}: with the default values: {reason}", context())
                    })?;
                }
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    allowed_outbound_hosts: declared.allowed_outbound_hosts,
                    source: dir.join(source),
                    id,
                    key_value_stores: declared.key_value_stores.into_iter().collect(),
                    variables: declared.variables,
                    environment: declared.environment,
                },
            );
        }

        let mut triggers = Vec::new();
        for trigger in raw.trigger.http {
            if !components.contains_key(&trigger.component) {
                bail!(
                    "{shown}: [[trigger.http]] component {:?} has no [component.{}] table; \
                     add it or fix the name",
                    trigger.component,
                    trigger.component
                );
            }
            match trigger.route {
                RawRoute::Pattern(route) => triggers.push(HttpTrigger {
                    route,
                    component: trigger.component,
                }),
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => bail!(
                    "{shown}: route must be a string pattern or `{{ private = true }}`: \
                     component {:?} has `{{ private = false }}`",
                    trigger.component
                ),
            }
        }
        if triggers.is_empty() {
            bail!("{shown}: no [[trigger.http]] routes to serve; add at least one");
        }

        Ok(Self {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            name: raw.application.name,
            version: raw.application.version,
            variables,
            triggers,
            components,
        })
    }

    /// The components that a route points at, in a stable order.
    pub fn served_components(&self) -> Vec<&ComponentDecl> {
        let used: HashSet<&str> = self.triggers.iter().map(|t| t.component.as_str()).collect();
        self.components
            .values()
            .filter(|component| used.contains(component.id.as_str()))
            .collect()
    }

    /// Fails unless every served component's `.wasm` file exists.
    pub fn check_sources(&self) -> anyhow::Result<()> {
        let missing: Vec<String> = self
            .served_components()
            .into_iter()
            .filter(|component| !component.source.is_file())
            .map(|component| format!("  {}: {}", component.id, component.source.display()))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: component .wasm files not found (not built yet?):\n{}\n{BUILD_HINT} in {}",
                self.path.display(),
                missing.join("\n"),
                self.dir.display()
            );
        }
        Ok(())
    }

    /// Resolves application variables: `SPIN_VARIABLE_<NAME>` from `env`, else the default.
    pub fn resolve_variables(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<HashMap<String, String>> {
        let mut values = HashMap::new();
        for (name, declared) in &self.variables {
            let env_name = format!("{VARIABLE_ENV_PREFIX}{}", name.to_ascii_uppercase());
            let value = match (env(&env_name), &declared.default) {
                (Some(value), _) => value,
                (None, Some(default)) => default.clone(),
                (None, None) => bail!(
                    "{}: variable {name:?} is required but has no value; set the environment \
                     variable {env_name}",
                    self.path.display()
                ),
            };
            values.insert(name.clone(), value);
        }
        Ok(values)
    }

    /// Expands every component's variable templates against resolved application variables.
    pub fn component_variables(
        &self,
        application: &HashMap<String, String>,
    ) -> anyhow::Result<HashMap<String, HashMap<String, String>>> {
        let mut all = HashMap::new();
        for component in self.components.values() {
            let mut values = HashMap::new();
            for (name, template) in &component.variables {
                values.insert(name.clone(), expand_template(template, application)?);
            }
            all.insert(component.id.clone(), values);
        }
        Ok(all)
    }
}

impl Manifest {
    /// Resolves every component's `allowed_outbound_hosts` against the application
    /// variables. A component whose list does not parse gets the message instead: Spin
    /// resolves the list when the component first connects and fails that call.
    pub fn component_allowed_hosts(
        &self,
        application: &HashMap<String, String>,
    ) -> anyhow::Result<HashMap<String, Result<Vec<crate::redis::AllowedHost>, String>>> {
        let mut all = HashMap::new();
        for component in self.components.values() {
            let mut parsed = Vec::new();
            let mut failure = None;
            for entry in &component.allowed_outbound_hosts {
                let resolved = expand_template(entry, application)?;
                match crate::redis::AllowedHost::parse(&resolved) {
                    Ok(host) => parsed.push(host),
                    Err(reason) => {
                        failure = Some(format!("invalid allowed_outbound_hosts: {reason}"));
                        break;
                    }
                }
            }
            all.insert(component.id.clone(), failure.map_or(Ok(parsed), Err));
        }
        Ok(all)
    }
}

/// Checks a variable name against Spin's rules.
pub fn validate_variable_name(name: &str) -> Result<(), String> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        "may contain only lower-case letters, numbers, and underscores"
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter"
    } else if !name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        "must end with a lowercase ASCII letter or digit"
    } else if name.contains("__") {
        "must not contain multiple consecutive underscores"
    } else {
        return Ok(());
    };
    Err(format!("invalid variable name {name:?}: {reason}"))
}

/// One piece of a template.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Literal(&'a str),
    Variable(&'a str),
}

/// Splits `"text {{ name }} more"` into literal and variable parts.
fn parse_template(template: &str) -> anyhow::Result<Vec<Part<'_>>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Literal(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unclosed `{{{{` in template {template:?}");
        };
        let name = after[..end].trim();
        validate_variable_name(name).map_err(|reason| anyhow::anyhow!("{reason}"))?;
        parts.push(Part::Variable(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Literal(rest));
    }
    Ok(parts)
}

/// The application variables a template refers to.
fn template_references(template: &str) -> anyhow::Result<Vec<String>> {
    Ok(parse_template(template)?
        .into_iter()
        .filter_map(|part| match part {
            Part::Variable(name) => Some(name.to_owned()),
            Part::Literal(_) => None,
        })
        .collect())
}

/// Expands a template against resolved application variables.
fn expand_template(template: &str, values: &HashMap<String, String>) -> anyhow::Result<String> {
    let mut out = String::new();
    for part in parse_template(template)? {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Variable(name) => out.push_str(
                values
                    .get(name)
                    .with_context(|| format!("variable {name:?} is not declared"))?,
            ),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
token = { default = "", secret = true }
region = { required = true }
[[trigger.http]]
route = "/a/:id"
component = "one"
[component.one]
source = "target/one.wasm"
key_value_stores = ["default"]
[component.one.variables]
token = "{{ token }}"
url = "https://{{region}}.example/{{ token }}x"
[component.one.build]
command = "cargo build"
"#;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("spin.toml"), Path::new("/app"))
    }

    #[test]
    fn parses_and_expands_variables() -> anyhow::Result<()> {
        let manifest = parse(MANIFEST)?;
        assert_eq!(manifest.name, "demo");
        assert_eq!(manifest.triggers.len(), 1);
        let one = manifest.components.get("one").context("component one")?;
        assert_eq!(one.source, Path::new("/app/target/one.wasm"));
        let env = |name: &str| (name == "SPIN_VARIABLE_REGION").then(|| "eu".to_owned());
        let app = manifest.resolve_variables(&env)?;
        let components = manifest.component_variables(&app)?;
        let values = components.get("one").context("values of one")?;
        assert_eq!(
            values.get("url").map(String::as_str),
            Some("https://eu.example/x")
        );
        assert_eq!(values.get("token").map(String::as_str), Some(""));
        Ok(())
    }

    const REDIS_MANIFEST: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
redis_host = { default = "127.0.0.1:6379" }
[[trigger.http]]
route = "/..."
component = "one"
[component.one]
source = "one.wasm"
allowed_outbound_hosts = ["redis://{{ redis_host }}", "redis://cache.internal"]
"#;

    #[test]
    fn allowed_outbound_hosts_resolve_like_spin() -> anyhow::Result<()> {
        let manifest = parse(REDIS_MANIFEST)?;
        let env =
            |name: &str| (name == "SPIN_VARIABLE_REDIS_HOST").then(|| "10.0.0.5:7000".to_owned());
        let app = manifest.resolve_variables(&env)?;
        let hosts = manifest.component_allowed_hosts(&app)?;
        let one = hosts
            .get("one")
            .context("one")?
            .clone()
            .map_err(anyhow::Error::msg)?;
        assert!(crate::redis::is_allowed(&one, "redis://10.0.0.5:7000"));
        assert!(crate::redis::is_allowed(&one, "redis://cache.internal"));
        assert!(!crate::redis::is_allowed(&one, "redis://127.0.0.1:6379"));
        // A value given at run time that does not parse fails the component's `open`.
        let bad = |name: &str| (name == "SPIN_VARIABLE_REDIS_HOST").then(String::new);
        let hosts = manifest.component_allowed_hosts(&manifest.resolve_variables(&bad)?)?;
        assert!(hosts.get("one").context("one")?.is_err());
        // Defaults that do not parse, an undeclared variable, or a bad literal: refused at load.
        for broken in [
            REDIS_MANIFEST.replace(r#"default = "127.0.0.1:6379""#, r#"default = """#),
            REDIS_MANIFEST.replace("{{ redis_host }}", "{{ other }}"),
            REDIS_MANIFEST.replace("redis://cache.internal", "cache.internal"),
        ] {
            assert!(parse(&broken).is_err(), "{broken}");
        }
        Ok(())
    }

    #[test]
    fn required_variable_without_value_is_an_error() -> anyhow::Result<()> {
        let manifest = parse(MANIFEST)?;
        let error = manifest
            .resolve_variables(&|_: &str| None)
            .err()
            .context("expected an error")?;
        assert!(
            error.to_string().contains("SPIN_VARIABLE_REGION"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn undeclared_variable_reference_is_an_error() {
        let text = MANIFEST.replace("{{ token }}x", "{{ nope }}");
        let error = parse(&text)
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(error.contains("\"nope\", which is not declared"), "{error}");
    }

    #[test]
    fn malformed_manifest_names_the_file() {
        let error = parse("spin_manifest_version = 2\n[application\n")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("malformed Spin manifest spin.toml"),
            "{error}"
        );
    }

    #[test]
    fn unknown_trigger_component_is_an_error() {
        let text = MANIFEST.replace("component = \"one\"", "component = \"two\"");
        assert!(parse(&text).is_err());
    }

    #[test]
    fn variable_names_follow_spin_rules() {
        assert!(validate_variable_name("admin_token").is_ok());
        assert!(validate_variable_name("x1").is_ok());
        for bad in ["", "Admin", "1a", "a_", "a__b", "a-b"] {
            assert!(validate_variable_name(bad).is_err(), "{bad:?}");
        }
    }
}
