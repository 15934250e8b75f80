//! The C ABI of Spectra, in the manner of rustls-ffi.
//!
//! - Every symbol is prefixed `spectra_`. Objects are opaque handles made by `_new` (or
//!   returned by a call) and released by `_free`, which accepts NULL. Freeing a handle twice
//!   is undefined behaviour, as with `free(3)`: set your pointer to NULL after freeing it.
//! - Every function that can fail returns a [`spectra_result`] and writes its outputs through
//!   pointer arguments, which are left untouched on failure. The codes are numbered from
//!   core's `ErrorCode` table (1–12) plus the ABI's own (100 and up); a number is never
//!   reused. `spectra_error_message` names a code; `spectra_last_error_detail` and
//!   `spectra_last_error_json` give the calling thread's last failure with its path and, for
//!   policy rules, line and column.
//! - Strings in are NUL-terminated UTF-8 (`const char *`); NULL where a string is required is
//!   `SPECTRA_RESULT_NULL_PARAMETER`, invalid UTF-8 is `SPECTRA_RESULT_INVALID_INPUT`.
//!   Strings out are allocated here and released with `spectra_string_free`.
//! - No panic crosses the boundary: every exported body runs inside a guard that turns a panic
//!   into `SPECTRA_RESULT_PANIC`.
//! - Thread safety: every function may be called from any thread. Handles may be shared
//!   between threads for reading (`spectra_scan_report_*`, `spectra_plan_*`, `spectra_policy_plan`,
//!   `spectra_recorder_record`); a `spectra_scanner` is configured by one thread at a time
//!   (its setters take it mutably) but may then run on several. The collectors share one
//!   process-wide sampler, whose collectors each have their own lock.

// An FFI crate is unsafe code by nature: raw pointers in, raw pointers out. Each unsafe block
// says why it is sound.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]

mod collect;
mod errors;
mod policy;
mod scan;
mod strings;
mod telemetry;

pub use collect::*;
pub use errors::*;
pub use policy::*;
pub use scan::*;
pub use strings::*;
pub use telemetry::*;

/// The version of this library (and of spectra-core), NUL-terminated, static.
#[unsafe(no_mangle)]
pub extern "C" fn spectra_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
