//! The HTTP contract, `openapi.yaml` at the workspace root, as a check on
//! answers: every answer the suite receives through [`crate::Ctx::send`] is
//! held against it, so the document cannot drift from the app unnoticed.
//!
//! An answer conforms when, for its route and method (or, for a path that
//! is no route or a method the route does not list, the document's
//! `x-unmatched-path` / `x-undocumented-method` answers; `x-every-request`
//! and `x-runtime-answers`, what Spin itself answers, hold for any request):
//!
//! - its status is documented (exactly, or as `4XX`);
//! - every header the documented answer requires is present, and every
//!   documented header that is present matches its schema;
//! - its body is empty when the answer documents none (and always for
//!   `HEAD`); otherwise its `Content-Type` is a documented media type and the
//!   body is JSON that validates against that media type's schema
//!   (JSON Schema 2020-12, formats checked).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
};

use reqwest::header::HeaderMap;
use serde_json::Value;

/// The document, compiled into the suite (a change to it rebuilds the suite).
const SPEC_YAML: &str = include_str!("../../../openapi.yaml");
/// The document's URI in the schema registry: every schema is validated as
/// a reference into it, so its internal `$ref`s resolve.
const SPEC_URI: &str = "urn:spin-booking:openapi";
/// `$ref` chains longer than this are taken for a cycle.
const REFERENCE_DEPTH_MAX: usize = 16;
/// Body bytes quoted in a violation message.
const QUOTED_BODY_BYTES_MAX: usize = 600;

/// One answer as seen on the wire, with the request it answered.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The request method, upper case.
    pub method: &'a str,
    /// The request path as sent (percent-encoded; a query is ignored).
    pub path: &'a str,
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The parsed document and the schema validators compiled from it so far.
pub struct Contract {
    spec: Arc<Value>,
    registry: jsonschema::Registry<'static>,
    /// By the JSON pointer of the schema in the document.
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Contract(openapi.yaml)")
    }
}

static WORKSPACE_CONTRACT: OnceLock<Result<Contract, String>> = OnceLock::new();

/// The workspace's `openapi.yaml`, parsed once. Panics (in every test that
/// asks) if the document does not parse.
pub fn workspace() -> &'static Contract {
    match WORKSPACE_CONTRACT.get_or_init(|| Contract::from_yaml(SPEC_YAML)) {
        Ok(contract) => contract,
        Err(reason) => panic!("openapi.yaml: {reason}"),
    }
}

/// Where the answers for one request are documented: response maps, in
/// order of precedence, and a label for messages.
struct Documented {
    label: String,
    /// JSON pointers of `responses`-like maps (status → response).
    responses: Vec<String>,
}

impl Contract {
    pub fn from_yaml(text: &str) -> Result<Contract, String> {
        let spec: Value = serde_norway::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
        if spec.get("paths").and_then(Value::as_object).is_none() {
            return Err("no `paths` object".into());
        }
        let spec = Arc::new(spec);
        let registry = jsonschema::Registry::new()
            .draft(jsonschema::Draft::Draft202012)
            .add(SPEC_URI, Arc::clone(&spec))
            .and_then(|builder| builder.prepare())
            .map_err(|e| format!("cannot index the document's schemas: {e}"))?;
        Ok(Contract {
            spec,
            registry,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Every way `exchange` breaks the contract, one per line; `Ok` if none.
    /// An answer conforms when it conforms to one of the answers documented
    /// for its status (the operation's first, then the document-wide ones).
    pub fn check(&self, exchange: &Exchange<'_>) -> Result<(), String> {
        let documented = self.documented(exchange.method, exchange.path);
        let status = exchange.status.to_string();
        let range = format!("{}XX", exchange.status / 100);
        let candidates: Vec<String> = documented
            .responses
            .iter()
            .flat_map(|map| [format!("{map}/{status}"), format!("{map}/{range}")])
            .filter(|pointer| self.spec.pointer(pointer).is_some())
            .collect();
        let mut first_violations = None;
        for candidate in &candidates {
            let (response, _) = self.resolve(candidate)?;
            let mut violations = self.header_violations(&response, exchange.headers);
            violations.extend(self.body_violations(&response, exchange));
            if violations.is_empty() {
                return Ok(());
            }
            first_violations.get_or_insert((response, violations));
        }
        match first_violations {
            None => Err(format!(
                "{}: status {status} is not documented (documented: {})",
                documented.label,
                self.documented_statuses(&documented).join(", ")
            )),
            Some((response, violations)) => Err(format!(
                "{} answered {status} (documented at {response}):\n  - {}",
                documented.label,
                violations.join("\n  - ")
            )),
        }
    }

    /// The response maps for a method and path.
    fn documented(&self, method: &str, path: &str) -> Documented {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let every = "/x-every-request".to_owned();
        let runtime = "/x-runtime-answers".to_owned();
        let Some(template) = self.template_of(path) else {
            return Documented {
                label: format!("{method} {path} (no route)"),
                responses: vec!["/x-unmatched-path".into(), every, runtime],
            };
        };
        let operation = format!(
            "/paths/{}/{}",
            escape_pointer(&template),
            method.to_ascii_lowercase()
        );
        if self.spec.pointer(&operation).is_none() {
            return Documented {
                label: format!("{method} {template} (a method the route does not list)"),
                responses: vec!["/x-undocumented-method".into(), every, runtime],
            };
        }
        Documented {
            label: format!("{method} {template}"),
            responses: vec![format!("{operation}/responses"), every, runtime],
        }
    }

    /// The path template (`/events/{event_id}`) a concrete path matches: a
    /// `{name}` segment matches any one non-empty segment.
    fn template_of(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.spec.get("paths").and_then(Value::as_object)?;
        paths
            .keys()
            .find(|template| {
                let pattern: Vec<&str> = template.split('/').collect();
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(want, got)| {
                        if want.starts_with('{') && want.ends_with('}') {
                            !got.is_empty()
                        } else {
                            want == got
                        }
                    })
            })
            .cloned()
    }

    fn documented_statuses(&self, documented: &Documented) -> Vec<String> {
        documented
            .responses
            .iter()
            .filter_map(|map| self.spec.pointer(map).and_then(Value::as_object))
            .flat_map(|map| map.keys().cloned())
            .collect()
    }

    /// Follows `$ref`s from the node at `pointer`: the pointer of the node
    /// reached, and the node.
    fn resolve(&self, pointer: &str) -> Result<(String, &Value), String> {
        let mut pointer = pointer.to_owned();
        for _ in 0..REFERENCE_DEPTH_MAX {
            let node = self
                .spec
                .pointer(&pointer)
                .ok_or_else(|| format!("openapi.yaml has nothing at {pointer}"))?;
            match node.get("$ref").and_then(Value::as_str) {
                Some(target) => {
                    pointer = target
                        .strip_prefix('#')
                        .ok_or_else(|| format!("openapi.yaml: only local references: {target}"))?
                        .to_owned();
                }
                None => return Ok((pointer, node)),
            }
        }
        Err(format!("openapi.yaml: a $ref cycle at {pointer}"))
    }

    fn header_violations(&self, response: &str, headers: &HeaderMap) -> Vec<String> {
        let documented = format!("{response}/headers");
        let Some(names) = self.spec.pointer(&documented).and_then(Value::as_object) else {
            return Vec::new();
        };
        let mut violations = Vec::new();
        for name in names.keys() {
            let header = match self.resolve(&format!("{documented}/{}", escape_pointer(name))) {
                Ok(header) => header,
                Err(problem) => {
                    violations.push(problem);
                    continue;
                }
            };
            let required = header.1.get("required").and_then(Value::as_bool) == Some(true);
            match headers.get(name.as_str()) {
                None if required => violations.push(format!("required header {name} is missing")),
                None => {}
                Some(value) => {
                    let value = String::from_utf8_lossy(value.as_bytes());
                    if let Err(problem) = self.header_value_violation(&header.0, &value) {
                        violations.push(format!("header {name}: {value:?}: {problem}"));
                    }
                }
            }
        }
        violations
    }

    /// A header value against its schema: an integer schema takes the
    /// value as a number, any other as a string.
    fn header_value_violation(&self, header: &str, value: &str) -> Result<(), String> {
        let schema = format!("{header}/schema");
        let integer = self
            .resolve(&schema)
            .map(|(_, node)| node.get("type") == Some(&Value::from("integer")))?;
        let instance = if integer {
            match value.trim().parse::<i64>() {
                Ok(number) => Value::from(number),
                Err(_) => return Err("not an integer".into()),
            }
        } else {
            Value::from(value)
        };
        self.validate(&schema, &instance)
    }

    fn body_violations(&self, response: &str, exchange: &Exchange<'_>) -> Vec<String> {
        let content = format!("{response}/content");
        let media_types = self.spec.pointer(&content).and_then(Value::as_object);
        // HEAD answers carry the GET's headers and never a body.
        let media_types = match media_types {
            Some(types) if exchange.method != "HEAD" && !types.is_empty() => types,
            _ if exchange.body.is_empty() => return Vec::new(),
            _ => {
                return vec![format!(
                    "a body where none is documented: {}",
                    quoted(exchange.body)
                )];
            }
        };
        let content_type = exchange
            .headers
            .get("content-type")
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_default();
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !media_types.contains_key(&media_type) {
            let documented: Vec<&String> = media_types.keys().collect();
            return vec![format!(
                "Content-Type {content_type:?} is not documented (documented: {documented:?})"
            )];
        }
        // A body that is not JSON by its media type (server-sent events) is
        // checked as one string.
        let json_media = media_type == "application/json" || media_type.ends_with("+json");
        let parsed = if json_media {
            serde_json::from_slice(exchange.body)
        } else {
            Ok(Value::String(
                String::from_utf8_lossy(exchange.body).into_owned(),
            ))
        };
        let body: Value = match parsed {
            Ok(body) => body,
            Err(e) => {
                return vec![format!(
                    "the body is not JSON ({e}): {}",
                    quoted(exchange.body)
                )];
            }
        };
        let schema = format!("{content}/{}/schema", escape_pointer(&media_type));
        match self.validate(&schema, &body) {
            Ok(()) => Vec::new(),
            Err(problem) => vec![format!("the body breaks the schema: {problem}")],
        }
    }

    /// `instance` against the schema at `pointer`, every error listed.
    fn validate(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let validator = self.validator(pointer)?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|error| format!("at {:?}: {error}", error.instance_path().as_str()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// The compiled schema at `pointer`, compiled on first use.
    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self
            .validators
            .lock()
            .map_err(|_| "the validator cache is poisoned".to_owned())?;
        if let Some(validator) = cache.get(pointer) {
            return Ok(Arc::clone(validator));
        }
        let reference =
            serde_json::json!({ "$ref": format!("{SPEC_URI}#{}", uri_fragment(pointer)) });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&reference)
            .map_err(|e| format!("openapi.yaml: the schema at {pointer} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(pointer.to_owned(), Arc::clone(&validator));
        Ok(validator)
    }

    /// Compiles every schema the document's answers, request bodies and
    /// parameters use, and resolves every `$ref`: a typo in the document
    /// fails here rather than in the first test that meets it. Returns the
    /// number of schemas compiled.
    pub fn compile_all(&self) -> Result<usize, String> {
        let mut found = Found::default();
        collect(&self.spec, String::new(), &mut found);
        for pointer in &found.references {
            self.resolve(pointer)?;
        }
        for pointer in &found.schemas {
            self.validator(pointer)?;
        }
        Ok(found.schemas.len())
    }
}

/// What [`collect`] finds: pointers of `schema` members and of nodes that
/// are a `$ref`.
#[derive(Default)]
struct Found {
    schemas: Vec<String>,
    references: Vec<String>,
}

fn collect(node: &Value, pointer: String, found: &mut Found) {
    match node {
        Value::Object(map) => {
            if map.contains_key("$ref") {
                found.references.push(pointer.clone());
            }
            for (key, child) in map {
                let child_pointer = format!("{pointer}/{}", escape_pointer(key));
                if key == "schema" {
                    found.schemas.push(child_pointer.clone());
                }
                collect(child, child_pointer, found);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect(child, format!("{pointer}/{index}"), found);
            }
        }
        _ => {}
    }
}

/// A JSON Pointer token (RFC 6901): `~` and `/` escaped.
fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A JSON Pointer as a URI fragment: the characters a fragment may not
/// carry percent-encoded (path templates have braces).
fn uri_fragment(pointer: &str) -> String {
    pointer.replace('{', "%7B").replace('}', "%7D")
}

fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut = text.len().min(QUOTED_BODY_BYTES_MAX);
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(
        "{:?}{}",
        &text[..cut],
        if cut < text.len() { "..." } else { "" }
    )
}

#[cfg(test)]
#[path = "contract_tests.rs"]
mod tests;
