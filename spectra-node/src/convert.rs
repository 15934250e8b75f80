//! Core values → the plain objects JavaScript gets: their serde form (the JSON every frontend
//! sees) with keys in camelCase.

use serde::Serialize;
use serde_json::{Map, Value};

/// Deeper than any core value nests; a guard, so that no value can recurse without bound.
const MAX_DEPTH: usize = 64;

/// `value` as JSON with camelCase keys.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> spectra_core::Result<Value> {
    let json = serde_json::to_value(value).map_err(|e| spectra_core::Error::InvalidData {
        what: "result".into(),
        message: e.to_string(),
    })?;
    Ok(camel_keys(json, 0))
}

fn camel_keys(value: Value, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return value;
    }
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(key, item)| (camel(&key), camel_keys(item, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| camel_keys(item, depth + 1))
                .collect(),
        ),
        other => other,
    }
}

/// `usage_percent` → `usagePercent`; keys without `_` are left alone.
pub fn camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON options object's field, absent or `null` as `None`.
pub fn field<T: serde::de::DeserializeOwned>(
    options: Option<&Value>,
    name: &str,
) -> spectra_core::Result<Option<T>> {
    match options.and_then(|o| o.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| spectra_core::Error::InvalidInput {
                what: format!("option {name}"),
                message: e.to_string(),
            }),
    }
}
