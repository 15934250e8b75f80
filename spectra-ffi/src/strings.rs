//! Strings across the boundary: NUL-terminated UTF-8 in, allocated strings or caller buffers
//! out.

use std::ffi::{CStr, CString, c_char};

use crate::errors::{Failure, Outcome, spectra_result};

/// A required string argument.
///
/// # Safety
/// `text` must be NULL or a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn string_arg<'a>(text: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(Failure::abi(
            spectra_result::SPECTRA_RESULT_NULL_PARAMETER,
            format!("{what} is NULL"),
        ));
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's promise.
    let bytes = unsafe { CStr::from_ptr(text) };
    bytes.to_str().map_err(|e| {
        Failure::from(spectra_core::Error::InvalidInput {
            what: what.to_owned(),
            message: format!("not UTF-8: {e}"),
        })
    })
}

/// An optional string argument: NULL is `None`.
///
/// # Safety
/// As [`string_arg`].
pub(crate) unsafe fn optional_string_arg<'a>(
    text: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    if text.is_null() {
        return Ok(None);
    }
    // SAFETY: passed on.
    unsafe { string_arg(text, what) }.map(Some)
}

/// A required output pointer.
pub(crate) fn out_arg<T>(out: *mut T, what: &str) -> Result<*mut T, Failure> {
    if out.is_null() {
        Err(Failure::abi(
            spectra_result::SPECTRA_RESULT_NULL_PARAMETER,
            format!("{what} is NULL"),
        ))
    } else {
        Ok(out)
    }
}

/// Stores a new C string (interior NULs dropped) in `*out`.
///
/// # Safety
/// `out` must be valid for a write.
pub(crate) unsafe fn write_string(text: String, out: *mut *mut c_char) {
    let text = CString::new(text).unwrap_or_else(|e| {
        let mut bytes = e.into_vec();
        bytes.retain(|&b| b != 0);
        CString::new(bytes).unwrap_or_default()
    });
    // SAFETY: valid for a write by the caller's promise.
    unsafe { *out = text.into_raw() };
}

/// Copies `text` into the caller's buffer, NUL-terminated, truncated on a character boundary
/// when it does not fit (then `SPECTRA_RESULT_BUFFER_TOO_SMALL`).
///
/// # Safety
/// `buf` must point to `len` writable bytes; `out_len` must be NULL or valid for a write.
pub(crate) unsafe fn write_buffer(
    text: &str,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> Outcome {
    if buf.is_null() || len == 0 {
        return Err(Failure::abi(
            spectra_result::SPECTRA_RESULT_NULL_PARAMETER,
            "buf is NULL or len is 0",
        ));
    }
    let mut end = text.len().min(len - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // SAFETY: `end + 1 <= len` bytes are written into a buffer of `len` bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), buf.cast::<u8>(), end);
        *buf.add(end) = 0;
        if !out_len.is_null() {
            *out_len = end;
        }
    }
    if end < text.len() {
        return Err(Failure::abi(
            spectra_result::SPECTRA_RESULT_BUFFER_TOO_SMALL,
            format!("{} bytes needed, {len} given", text.len() + 1),
        ));
    }
    Ok(())
}

/// Releases a string this library returned. NULL is ignored.
///
/// # Safety
/// `text` must be NULL or a string returned by this library, not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_string_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: made by `CString::into_raw` in `write_string`, by the caller's promise.
        drop(unsafe { CString::from_raw(text) });
    }
}

/// `value` as JSON into `*out`.
pub(crate) fn write_json<T: serde::Serialize + ?Sized>(
    value: &T,
    out: *mut *mut c_char,
) -> Outcome {
    let out = out_arg(out, "out")?;
    let json = serde_json::to_string(value).map_err(|e| {
        Failure::from(spectra_core::Error::InvalidData {
            what: "result".into(),
            message: e.to_string(),
        })
    })?;
    // SAFETY: `out` is non-NULL and the caller promised it is valid.
    unsafe { write_string(json, out) };
    Ok(())
}
