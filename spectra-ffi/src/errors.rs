//! Result codes, the thread's last error, and the panic guard.

use std::cell::RefCell;
use std::ffi::c_char;
use std::panic::{AssertUnwindSafe, catch_unwind};

use spectra_core::{Error, ErrorCode};

use crate::strings::{write_buffer, write_string};

/// What a call did. 0 is success; 1–12 are core's error codes with core's numbers; 100 and up
/// belong to the ABI. Numbers are never reused.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum spectra_result {
    SPECTRA_RESULT_OK = 0,
    SPECTRA_RESULT_IO = 1,
    SPECTRA_RESULT_NOT_FOUND = 2,
    SPECTRA_RESULT_PERMISSION_DENIED = 3,
    SPECTRA_RESULT_INVALID_INPUT = 4,
    SPECTRA_RESULT_INVALID_PATTERN = 5,
    SPECTRA_RESULT_INVALID_DATA = 6,
    SPECTRA_RESULT_TOO_LARGE = 7,
    SPECTRA_RESULT_UNSUPPORTED = 8,
    SPECTRA_RESULT_INVALID_RULE = 9,
    SPECTRA_RESULT_TIMEOUT = 10,
    SPECTRA_RESULT_CANCELLED = 11,
    SPECTRA_RESULT_CALLBACK = 12,
    /// A required pointer argument was NULL.
    SPECTRA_RESULT_NULL_PARAMETER = 100,
    /// Spectra panicked: a bug, reported instead of unwinding into C.
    SPECTRA_RESULT_PANIC = 101,
    /// The caller's buffer was too small; the output was truncated (and NUL-terminated).
    SPECTRA_RESULT_BUFFER_TOO_SMALL = 102,
}

use spectra_result::*;

/// The result code of a core error code: the one mapping, exhaustive.
pub(crate) fn result_of(code: ErrorCode) -> spectra_result {
    match code {
        ErrorCode::Io => SPECTRA_RESULT_IO,
        ErrorCode::NotFound => SPECTRA_RESULT_NOT_FOUND,
        ErrorCode::PermissionDenied => SPECTRA_RESULT_PERMISSION_DENIED,
        ErrorCode::InvalidInput => SPECTRA_RESULT_INVALID_INPUT,
        ErrorCode::InvalidPattern => SPECTRA_RESULT_INVALID_PATTERN,
        ErrorCode::InvalidData => SPECTRA_RESULT_INVALID_DATA,
        ErrorCode::TooLarge => SPECTRA_RESULT_TOO_LARGE,
        ErrorCode::Unsupported => SPECTRA_RESULT_UNSUPPORTED,
        ErrorCode::InvalidRule => SPECTRA_RESULT_INVALID_RULE,
        ErrorCode::Timeout => SPECTRA_RESULT_TIMEOUT,
        ErrorCode::Cancelled => SPECTRA_RESULT_CANCELLED,
        ErrorCode::Callback => SPECTRA_RESULT_CALLBACK,
    }
}

fn message_of(result: spectra_result) -> &'static str {
    match result {
        SPECTRA_RESULT_OK => "success",
        SPECTRA_RESULT_IO => "an operating-system call failed",
        SPECTRA_RESULT_NOT_FOUND => "not found",
        SPECTRA_RESULT_PERMISSION_DENIED => "permission denied",
        SPECTRA_RESULT_INVALID_INPUT => "invalid argument",
        SPECTRA_RESULT_INVALID_PATTERN => "invalid glob pattern",
        SPECTRA_RESULT_INVALID_DATA => "data did not decode",
        SPECTRA_RESULT_TOO_LARGE => "larger than the limit",
        SPECTRA_RESULT_UNSUPPORTED => "not supported on this system",
        SPECTRA_RESULT_INVALID_RULE => "a policy rule did not parse",
        SPECTRA_RESULT_TIMEOUT => "timed out",
        SPECTRA_RESULT_CANCELLED => "cancelled",
        SPECTRA_RESULT_CALLBACK => "a callback failed",
        SPECTRA_RESULT_NULL_PARAMETER => "a required pointer argument was NULL",
        SPECTRA_RESULT_PANIC => "internal error: spectra panicked",
        SPECTRA_RESULT_BUFFER_TOO_SMALL => "the buffer was too small",
    }
}

/// A failed call: its code, and the error body kept as the thread's last error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) result: spectra_result,
    pub(crate) body: serde_json::Value,
}

impl Failure {
    pub(crate) fn abi(result: spectra_result, message: impl Into<String>) -> Failure {
        Failure {
            result,
            body: serde_json::json!({
                "code": "abi",
                "number": result as u32,
                "message": message.into(),
            }),
        }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure {
            result: result_of(error.code()),
            body: serde_json::to_value(error.body()).unwrap_or_default(),
        }
    }
}

pub(crate) type Outcome = Result<(), Failure>;

thread_local! {
    static LAST_ERROR: RefCell<Option<serde_json::Value>> = const { RefCell::new(None) };
}

/// Runs an exported body: a panic becomes `SPECTRA_RESULT_PANIC`, a failure is kept as the
/// thread's last error, success clears it.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> spectra_result {
    let (result, last) = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => (SPECTRA_RESULT_OK, None),
        Ok(Err(failure)) => (failure.result, Some(failure.body)),
        Err(_) => {
            let failure = Failure::abi(SPECTRA_RESULT_PANIC, message_of(SPECTRA_RESULT_PANIC));
            (failure.result, Some(failure.body))
        }
    };
    LAST_ERROR.with(|slot| *slot.borrow_mut() = last);
    result
}

/// Writes the name of `result` into `buf` (`len` bytes, NUL-terminated, truncated if need be)
/// and its length without the NUL to `*out_len` (which may be NULL).
///
/// # Safety
/// `buf` must point to `len` writable bytes (or be NULL with `len` 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_error_message(
    result: spectra_result,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> spectra_result {
    // SAFETY: the caller's promise about `buf` and `out_len` is passed on.
    guard(|| unsafe { write_buffer(message_of(result), buf, len, out_len) })
}

/// The calling thread's last error message (with its path, or the rule and a caret), as
/// `spectra_error_message` writes it; an empty string when the last call succeeded.
///
/// # Safety
/// As `spectra_error_message`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_last_error_detail(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> spectra_result {
    let message = last_error()
        .and_then(|body| {
            body.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    // SAFETY: the caller's promise about `buf` and `out_len` is passed on.
    unsafe { write_buffer_unguarded(&message, buf, len, out_len) }
}

/// The calling thread's last error as JSON — `{code, number, message, path, line, column}`,
/// the same body the server and the other bindings give — or `null`; free it with
/// `spectra_string_free`.
///
/// # Safety
/// `out` must be a valid pointer to a `char *`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_last_error_json(out: *mut *mut c_char) -> spectra_result {
    let body = last_error().unwrap_or(serde_json::Value::Null);
    if out.is_null() {
        return SPECTRA_RESULT_NULL_PARAMETER;
    }
    // SAFETY: `out` is non-NULL and the caller promised it is valid.
    unsafe { write_string(body.to_string(), out) };
    SPECTRA_RESULT_OK
}

fn last_error() -> Option<serde_json::Value> {
    LAST_ERROR.with(|slot| slot.borrow().clone())
}

/// `write_buffer` without the guard, so that reading the last error does not clear it.
unsafe fn write_buffer_unguarded(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> spectra_result {
    // SAFETY: the caller's promise about `buf` and `out_len` is passed on.
    match catch_unwind(AssertUnwindSafe(|| unsafe {
        write_buffer(text, buf, len, out_len)
    })) {
        Ok(Ok(())) => SPECTRA_RESULT_OK,
        Ok(Err(failure)) => failure.result,
        Err(_) => SPECTRA_RESULT_PANIC,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_json() -> serde_json::Value {
        last_error().unwrap_or_default()
    }

    #[test]
    fn a_panic_becomes_a_result_and_the_last_error_says_so() {
        let result = guard(|| panic!("a bug"));
        assert_eq!(result, SPECTRA_RESULT_PANIC);
        assert_eq!(last_json()["number"], 101);
        // The next successful call clears it.
        assert_eq!(guard(|| Ok(())), SPECTRA_RESULT_OK);
        assert_eq!(last_error(), None);
    }

    #[test]
    fn core_errors_keep_their_number_and_body() {
        let result = guard(|| {
            Err(Failure::from(Error::InvalidInput {
                what: "top".into(),
                message: "too big".into(),
            }))
        });
        assert_eq!(result, SPECTRA_RESULT_INVALID_INPUT);
        assert_eq!(last_json()["code"], "invalid_input");
        assert_eq!(last_json()["number"], 4);
        for code in ErrorCode::ALL {
            assert_eq!(result_of(code) as u32, code.as_u32(), "{code:?}");
        }
    }

    #[test]
    fn every_result_has_its_own_message() {
        let all = [
            SPECTRA_RESULT_OK,
            SPECTRA_RESULT_IO,
            SPECTRA_RESULT_NOT_FOUND,
            SPECTRA_RESULT_PERMISSION_DENIED,
            SPECTRA_RESULT_INVALID_INPUT,
            SPECTRA_RESULT_INVALID_PATTERN,
            SPECTRA_RESULT_INVALID_DATA,
            SPECTRA_RESULT_TOO_LARGE,
            SPECTRA_RESULT_UNSUPPORTED,
            SPECTRA_RESULT_INVALID_RULE,
            SPECTRA_RESULT_TIMEOUT,
            SPECTRA_RESULT_CANCELLED,
            SPECTRA_RESULT_CALLBACK,
            SPECTRA_RESULT_NULL_PARAMETER,
            SPECTRA_RESULT_PANIC,
            SPECTRA_RESULT_BUFFER_TOO_SMALL,
        ];
        let messages: std::collections::BTreeSet<&str> =
            all.iter().map(|r| message_of(*r)).collect();
        assert_eq!(messages.len(), all.len());
        // The published numbers, pinned: a number is never reused for something else.
        let numbers: Vec<u32> = all.iter().map(|r| *r as u32).collect();
        assert_eq!(
            numbers,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 100, 101, 102]
        );
    }
}
