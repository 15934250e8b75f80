//! `spectra_core::Error` → Python exceptions, in one place.
//!
//! The classes are made at import with `type()`, so they can inherit from both
//! `SpectraError` and the built-in a Python programmer expects (`FileNotFoundError`,
//! `PermissionError`, `ValueError`, …). The match below is exhaustive over
//! [`ErrorCode`]: a new core error code does not compile until it is mapped here.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use spectra_core::{Error, ErrorCode};

/// (class name, bases by name: earlier classes of this list or builtins).
const CLASSES: &[(&str, &[&str])] = &[
    ("SpectraError", &["Exception"]),
    ("SpectraIOError", &["SpectraError", "OSError"]),
    ("NotFoundError", &["SpectraIOError", "FileNotFoundError"]),
    (
        "PermissionDeniedError",
        &["SpectraIOError", "PermissionError"],
    ),
    ("InvalidInputError", &["SpectraError", "ValueError"]),
    ("InvalidPatternError", &["InvalidInputError"]),
    ("InvalidDataError", &["SpectraError", "ValueError"]),
    ("TooLargeError", &["SpectraError", "ValueError"]),
    ("UnsupportedError", &["SpectraError", "NotImplementedError"]),
    ("PolicyError", &["SpectraError", "ValueError"]),
    ("SpectraTimeoutError", &["SpectraError", "TimeoutError"]),
    ("CancelledError", &["SpectraError"]),
    ("CallbackError", &["SpectraError"]),
];

/// Adds the exception classes to the module.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let builtins = py.import("builtins")?;
    let make_type = builtins.getattr("type")?;
    for (name, bases) in CLASSES {
        let bases: Vec<Bound<'_, PyAny>> = bases
            .iter()
            .map(|base| module.getattr(*base).or_else(|_| builtins.getattr(*base)))
            .collect::<PyResult<_>>()?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "spectra")?;
        let code = error_code_of(name);
        namespace.set_item("code", code.map(ErrorCode::as_str))?;
        namespace.set_item("number", code.map(ErrorCode::as_u32))?;
        let class = make_type.call1((*name, PyTuple::new(py, bases)?, namespace))?;
        module.add(*name, class)?;
    }
    Ok(())
}

/// The core error code a class stands for (`None` for the base class).
fn error_code_of(class: &str) -> Option<ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .find(|code| class_of(*code) == class)
}

fn class_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Io => "SpectraIOError",
        ErrorCode::NotFound => "NotFoundError",
        ErrorCode::PermissionDenied => "PermissionDeniedError",
        ErrorCode::InvalidInput => "InvalidInputError",
        ErrorCode::InvalidPattern => "InvalidPatternError",
        ErrorCode::InvalidData => "InvalidDataError",
        ErrorCode::TooLarge => "TooLargeError",
        ErrorCode::Unsupported => "UnsupportedError",
        ErrorCode::InvalidRule => "PolicyError",
        ErrorCode::Timeout => "SpectraTimeoutError",
        ErrorCode::Cancelled => "CancelledError",
        ErrorCode::Callback => "CallbackError",
    }
}

/// A core error on its way to Python.
#[derive(Debug)]
pub struct CoreError(pub Error);

impl From<Error> for CoreError {
    fn from(error: Error) -> Self {
        CoreError(error)
    }
}

impl From<CoreError> for PyErr {
    fn from(CoreError(error): CoreError) -> PyErr {
        Python::attach(|py| to_exception(py, &error))
            .unwrap_or_else(|e| PyRuntimeError::new_err(format!("{error} (and {e})")))
    }
}

fn to_exception(py: Python<'_>, error: &Error) -> PyResult<PyErr> {
    let module = py.import("spectra._spectra")?;
    let class = module.getattr(class_of(error.code()))?;
    let message = error.to_string();
    let instance = match error {
        // OSError's (errno, strerror, filename) fill its attributes.
        Error::Io { path, source } => class.call1((
            source.raw_os_error().unwrap_or(0),
            source.to_string(),
            path.to_string_lossy().into_owned(),
        ))?,
        Error::InvalidRule {
            policy,
            index,
            error: rule,
        } => {
            let instance = class.call1((message,))?;
            instance.setattr("policy", policy)?;
            instance.setattr("rule_index", *index)?;
            // Rules are written one per line (a TOML array, a list in code): the rule's
            // number is its line within the policy's rules.
            instance.setattr("line", *index)?;
            instance.setattr("rule", &rule.rule)?;
            instance.setattr("column", rule.column)?;
            instance.setattr("reason", &rule.message)?;
            instance
        }
        _ => class.call1((message,))?,
    };
    Ok(PyErr::from_value(instance))
}

pub type CoreResult<T> = Result<T, CoreError>;
