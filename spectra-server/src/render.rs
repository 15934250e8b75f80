//! Plain-text rendering of JSON results, shared by the commands that print typed data.

use std::fmt::Write as _;

/// Writes a JSON value as `path = value` lines; a list of records gets one line per record.
pub fn flatten(out: &mut String, prefix: &str, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Array(items) if prefix.is_empty() && items.is_empty() => out.push_str("  (none)\n"),
        Value::Object(fields)
            if prefix.is_empty() || fields.values().any(|v| v.is_object() || v.is_array()) =>
        {
            for (key, v) in fields {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(out, &path, v);
            }
        }
        Value::Object(fields) => {
            let line: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect();
            let _ = writeln!(out, "  {prefix}: {}", line.join(" "));
        }
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            let _ = writeln!(
                out,
                "  {prefix} = [{}]",
                items.iter().map(scalar).collect::<Vec<_>>().join(", ")
            );
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(
                    out,
                    &format!("{}[{i}]", if prefix.is_empty() { "" } else { prefix }),
                    item,
                );
            }
        }
        scalar_value => {
            let _ = writeln!(out, "  {prefix} = {}", scalar(scalar_value));
        }
    }
}

fn scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_values_flatten_to_readable_lines() {
        let mut out = String::new();
        let value = serde_json::json!({
            "load_1": 0.5,
            "total": {"usage_percent": 12.345, "idle_percent": 87.655},
            "mounts": [{"mount_point": "/", "total": 10}],
            "users": [],
        });
        flatten(&mut out, "", &value);
        assert!(out.contains("  load_1 = 0.50\n"), "{out}");
        assert!(
            out.contains("  total: idle_percent=87.66 usage_percent=12.35\n"),
            "{out}"
        );
        assert!(
            out.contains("  mounts[0]: mount_point=/ total=10\n"),
            "{out}"
        );
        assert!(out.contains("  users = []\n"), "{out}");
    }
}
