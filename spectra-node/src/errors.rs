//! `spectra_core::Error` → the error body JavaScript sees, in one place.
//!
//! A native call that fails with a core error throws (or rejects with) an error whose message
//! carries the error body as JSON after [`MARKER`]; `index.js` turns it into a thrown
//! `SpectraError` with these fields. The body's `code` is the upper-case name of the core error code
//! (`NOT_FOUND`, `UNSUPPORTED`, …); the match below is exhaustive over [`ErrorCode`], so a
//! new core error code does not compile until it is mapped here. I/O errors also carry
//! Node's own fields, as `fs` errors do: `errno` (negative, as Node has it), and `syscall`
//! left out (core does not record which call failed) — the OS error name is in `osCode`.

use serde_json::{Value, json};
use spectra_core::{Error, ErrorCode};

/// The JavaScript `code` of a core error code.
pub fn js_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Io => "IO",
        ErrorCode::NotFound => "NOT_FOUND",
        ErrorCode::PermissionDenied => "PERMISSION_DENIED",
        ErrorCode::InvalidInput => "INVALID_INPUT",
        ErrorCode::InvalidPattern => "INVALID_PATTERN",
        ErrorCode::InvalidData => "INVALID_DATA",
        ErrorCode::TooLarge => "TOO_LARGE",
        ErrorCode::Unsupported => "UNSUPPORTED",
        ErrorCode::InvalidRule => "INVALID_RULE",
        ErrorCode::Timeout => "TIMEOUT",
        ErrorCode::Cancelled => "CANCELLED",
        ErrorCode::Callback => "CALLBACK",
    }
}

/// The body of a thrown `SpectraError`.
pub fn body(error: &Error) -> Value {
    let code = error.code();
    let body = error.body();
    let mut value = json!({
        "code": js_code(code),
        "coreCode": code.as_str(),
        "number": code.as_u32(),
        "message": body.message,
    });
    let fields = value.as_object_mut().expect("a JSON object literal");
    if let Some(path) = body.path {
        fields.insert("path".into(), path.into());
    }
    if let Some(line) = body.line {
        fields.insert("line".into(), line.into());
    }
    if let Some(column) = body.column {
        fields.insert("column".into(), column.into());
    }
    if let Error::Io { source, .. } = error
        && let Some(errno) = source.raw_os_error()
    {
        fields.insert("errno".into(), (-errno).into());
        if let Some(name) = errno_name(errno) {
            fields.insert("osCode".into(), name.into());
        }
    }
    value
}

/// Node's name of the errors a scan or a policy meets most.
fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::ENOENT => "ENOENT",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EEXIST => "EEXIST",
        libc::ENOSPC => "ENOSPC",
        libc::ELOOP => "ELOOP",
        libc::EXDEV => "EXDEV",
        _ => return None,
    })
}

/// Marks a native error's message as a core error body (JSON after the marker), which
/// `index.js` turns into a `SpectraError`; any other native error is a bug and stays as is.
pub const MARKER: &str = "\u{0}spectra-error:";

/// A core error as the native error `index.js` converts.
pub fn to_napi(error: &Error) -> napi::Error {
    napi::Error::from_reason(format!("{MARKER}{}", body(error)))
}

/// `.js()?` on a core result inside a native function.
pub trait IntoJs<T> {
    fn js(self) -> napi::Result<T>;
}

impl<T> IntoJs<T> for spectra_core::Result<T> {
    fn js(self) -> napi::Result<T> {
        self.map_err(|error| to_napi(&error))
    }
}

/// Every code with its JavaScript name, for `index.js`'s `codes` table and its tests.
pub fn table() -> Value {
    ErrorCode::ALL
        .into_iter()
        .map(|code| json!({"code": js_code(code), "coreCode": code.as_str(), "number": code.as_u32()}))
        .collect()
}
