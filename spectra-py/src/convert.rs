//! Rust values → Python objects, through their serde form (the same JSON every frontend sees).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde::Serialize;
use serde_json::Value;
use spectra_core::scan::Timestamp;

/// `value` as plain Python data: dicts, lists, str, int, float, bool, None.
pub fn to_python<'py, T: Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let json = serde_json::to_value(value).map_err(|e| {
        crate::errors::CoreError(spectra_core::Error::InvalidData {
            what: "result".into(),
            message: e.to_string(),
        })
    })?;
    value_to_python(py, &json)
}

pub fn value_to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, item) in fields {
                dict.set_item(key, value_to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A file time as Python's `os.stat` gives it: float seconds since the epoch.
pub fn epoch_seconds(time: Option<Timestamp>) -> Option<f64> {
    time.map(|t| t.secs as f64 + f64::from(t.nanos) / 1e9)
}
