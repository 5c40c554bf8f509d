//! Arbitrary JSON for the targets: foreign values, wrong types, huge and
//! negative numbers, deep nesting (bounded by the input's length).

use arbitrary::Arbitrary;
use serde_json::Value;

#[derive(Debug, Clone, Arbitrary)]
pub enum Json {
    Null,
    Bool(bool),
    Integer(i64),
    Unsigned(u64),
    /// A number near a limit: 0, 1, 10, 11, 64, 1000, u32::MAX, 2^32, ...
    Edge(u8),
    Float(f64),
    Text(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Numbers where the core's bounds are: off-by-one on each side.
const EDGES: [u64; 14] = [
    0,
    1,
    2,
    9,
    10,
    11,
    64,
    1_000,
    1_001,
    1_000_000,
    u32::MAX as u64,
    u32::MAX as u64 + 1,
    i64::MAX as u64,
    u64::MAX,
];

impl Json {
    pub fn value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Integer(n) => Value::from(*n),
            Json::Unsigned(n) => Value::from(*n),
            Json::Edge(index) => Value::from(EDGES[usize::from(*index) % EDGES.len()]),
            // NaN and infinities are not JSON: they become null.
            Json::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Json::Text(text) => Value::String(text.clone()),
            Json::Array(items) => Value::Array(items.iter().map(Json::value).collect()),
            Json::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), value.value()))
                    .collect(),
            ),
        }
    }
}

/// Every place in `value` (objects' fields and arrays' items, at any
/// depth), as JSON pointers, so that one can be replaced.
pub fn pointers(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    collect(value, String::new(), &mut found);
    found
}

fn collect(value: &Value, at: String, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (name, inner) in fields {
                let escaped = name.replace('~', "~0").replace('/', "~1");
                collect(inner, format!("{at}/{escaped}"), found);
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                collect(inner, format!("{at}/{index}"), found);
            }
        }
        _ => {}
    }
    found.push(at);
}
