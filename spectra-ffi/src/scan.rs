//! `spectra_scanner` and `spectra_scan_report`.

use std::ffi::{c_char, c_int, c_void};
use std::ops::ControlFlow;
use std::path::PathBuf;

use spectra_core::scan::{ScanControl, ScanOptions, ScanReport, ScanSettings, Scanner, SizeMode};

use crate::errors::{Failure, guard, spectra_result};
use crate::strings::{out_arg, string_arg, write_json};

/// A scan's configuration; run it with `spectra_scanner_run`.
#[derive(Debug)]
pub struct spectra_scanner {
    options: ScanOptions,
}

/// What a scan has seen so far, passed to the progress callback.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct spectra_progress {
    pub entries: u64,
    pub bytes: u64,
    pub errors: u64,
}

/// Called about five times a second on the thread running the scan; returning non-zero
/// cancels it.
pub type spectra_progress_callback = Option<
    unsafe extern "C" fn(progress: *const spectra_progress, user_data: *mut c_void) -> c_int,
>;

/// A finished scan.
#[derive(Debug)]
pub struct spectra_scan_report {
    report: ScanReport,
}

/// A report's totals, read without JSON.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spectra_scan_totals {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub others: u64,
    pub apparent_bytes: u64,
    pub disk_bytes: u64,
    /// Entries that could not be read.
    pub errors: u64,
    /// Some entries could not be read: the totals are a lower bound.
    pub partial: bool,
    pub duration_secs: f64,
}

/// A scanner of `path` with core's defaults (on-disk sizes, the 10 largest entries, one
/// thread per core's default).
///
/// # Safety
/// `path` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_new(
    path: *const c_char,
    out: *mut *mut spectra_scanner,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let path = unsafe { string_arg(path, "path") }?;
        let out = out_arg(out, "out")?;
        let scanner = spectra_scanner {
            options: ScanOptions::new(PathBuf::from(path)),
        };
        // SAFETY: `out` is non-NULL and valid by the caller's promise.
        unsafe { *out = Box::into_raw(Box::new(scanner)) };
        Ok(())
    })
}

/// Runs `change` on the scanner behind `scanner`.
fn configure(
    scanner: *mut spectra_scanner,
    change: impl FnOnce(ScanOptions) -> Result<ScanOptions, Failure>,
) -> spectra_result {
    guard(|| {
        let scanner = out_arg(scanner, "scanner")?;
        // SAFETY: non-NULL, and a live scanner by the caller's promise; setters are not called
        // concurrently on one scanner (documented).
        let scanner = unsafe { &mut *scanner };
        let options = std::mem::replace(&mut scanner.options, ScanOptions::new(PathBuf::new()));
        scanner.options = change(options)?;
        Ok(())
    })
}

/// How many of the largest files and directories the report lists.
///
/// # Safety
/// `scanner` must be a live scanner, not used by another thread during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_set_top(
    scanner: *mut spectra_scanner,
    top: usize,
) -> spectra_result {
    configure(scanner, |o| Ok(o.with_top(top)))
}

/// Worker threads (0: core's default).
///
/// # Safety
/// As `spectra_scanner_set_top`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_set_threads(
    scanner: *mut spectra_scanner,
    threads: usize,
) -> spectra_result {
    configure(scanner, |o| {
        Ok(if threads == 0 {
            o
        } else {
            o.with_threads(threads)
        })
    })
}

/// Stay on the file systems of the roots (`du -x`).
///
/// # Safety
/// As `spectra_scanner_set_top`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_set_one_file_system(
    scanner: *mut spectra_scanner,
    on: bool,
) -> spectra_result {
    configure(scanner, |o| Ok(o.with_one_file_system(on)))
}

/// Count apparent sizes (file lengths) instead of disk usage.
///
/// # Safety
/// As `spectra_scanner_set_top`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_set_apparent_size(
    scanner: *mut spectra_scanner,
    on: bool,
) -> spectra_result {
    configure(scanner, |o| {
        Ok(o.with_size_mode(if on {
            SizeMode::Apparent
        } else {
            SizeMode::Disk
        }))
    })
}

/// Leaves out entries matching `glob` (checked when the scan runs).
///
/// # Safety
/// As `spectra_scanner_set_top`; `glob` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_add_exclude(
    scanner: *mut spectra_scanner,
    glob: *const c_char,
) -> spectra_result {
    // SAFETY: the caller's promise.
    let glob = unsafe { string_arg(glob, "glob") }.map(str::to_owned);
    configure(scanner, |o| Ok(o.with_exclude(glob?)))
}

/// Sets every setting of the scan from a JSON object of core's `ScanSettings` — `top`,
/// `top_extensions`, `exclude`, `one_file_system`, `apparent_size`, `threads`, `max_depth`,
/// `follow_symlinks`, `count_links`, `walker`, named as the CLI's flags — what it leaves out
/// keeping core's default (settings made before are replaced; the path stays). An unknown name
/// or a wrong type is `SPECTRA_INVALID_INPUT`, its detail naming the setting, line and column.
///
/// # Safety
/// As `spectra_scanner_set_top`; `json` a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_set_settings_json(
    scanner: *mut spectra_scanner,
    json: *const c_char,
) -> spectra_result {
    // SAFETY: the caller's promise.
    let json = unsafe { string_arg(json, "json") }.map(str::to_owned);
    configure(scanner, |options| {
        let settings = ScanSettings::from_json(&json?)?;
        Ok(settings.options(options.roots))
    })
}

/// Releases a scanner. NULL is ignored.
///
/// # Safety
/// `scanner` must be NULL or a scanner not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_free(scanner: *mut spectra_scanner) {
    if !scanner.is_null() {
        // SAFETY: made by `Box::into_raw` in `spectra_scanner_new`, by the caller's promise.
        drop(unsafe { Box::from_raw(scanner) });
    }
}

/// Scans, calling `progress` (which may be NULL) with `user_data` about five times a second on
/// this thread. A callback returning non-zero cancels the walk: the call then answers
/// `SPECTRA_RESULT_CANCELLED` and writes no report.
///
/// # Safety
/// `scanner` must be a live scanner; `out` valid for a write; `progress` (if not NULL) must be
/// safe to call with `user_data`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scanner_run(
    scanner: *const spectra_scanner,
    progress: spectra_progress_callback,
    user_data: *mut c_void,
    out: *mut *mut spectra_scan_report,
) -> spectra_result {
    guard(|| {
        let scanner = out_arg(scanner.cast_mut(), "scanner")?;
        let out = out_arg(out, "out")?;
        // SAFETY: non-NULL and live by the caller's promise; only read.
        let options = unsafe { &*scanner }.options.clone();
        let mut control = ScanControl::new();
        if let Some(callback) = progress {
            control = control.on_progress(move |seen| {
                let progress = spectra_progress {
                    entries: seen.entries,
                    bytes: seen.bytes,
                    errors: seen.errors,
                };
                // SAFETY: the caller promised the callback may be called with `user_data`.
                if unsafe { callback(&progress, user_data) } == 0 {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            });
        }
        let report = Scanner::new(options)?.scan_controlled(control)?;
        if report.cancelled {
            return Err(Failure::from(spectra_core::Error::Cancelled {
                what: "scan".into(),
            }));
        }
        // SAFETY: `out` is non-NULL and valid by the caller's promise.
        unsafe { *out = Box::into_raw(Box::new(spectra_scan_report { report })) };
        Ok(())
    })
}

fn report<'a>(report: *const spectra_scan_report) -> Result<&'a ScanReport, Failure> {
    let report = out_arg(report.cast_mut(), "report")?;
    // SAFETY: non-NULL and live by the caller's promise; only read.
    Ok(&unsafe { &*report }.report)
}

/// The report's totals.
///
/// # Safety
/// `report` must be a live report; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scan_report_totals(
    report: *const spectra_scan_report,
    out: *mut spectra_scan_totals,
) -> spectra_result {
    guard(|| {
        let report = self::report(report)?;
        let out = out_arg(out, "out")?;
        let t = &report.totals;
        let totals = spectra_scan_totals {
            files: t.files,
            dirs: t.dirs,
            symlinks: t.symlinks,
            others: t.others,
            apparent_bytes: t.apparent_bytes,
            disk_bytes: t.disk_bytes,
            errors: report.errors.count,
            partial: report.partial,
            duration_secs: report.duration_secs,
        };
        // SAFETY: non-NULL and valid by the caller's promise.
        unsafe { *out = totals };
        Ok(())
    })
}

/// The whole report as JSON (the `ScanReport` document every frontend gets); free it with
/// `spectra_string_free`.
///
/// # Safety
/// `report` must be a live report; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scan_report_json(
    report: *const spectra_scan_report,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| write_json(self::report(report)?, out))
}

/// Releases a report. NULL is ignored.
///
/// # Safety
/// `report` must be NULL or a report not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_scan_report_free(report: *mut spectra_scan_report) {
    if !report.is_null() {
        // SAFETY: made by `Box::into_raw` in `spectra_scanner_run`, by the caller's promise.
        drop(unsafe { Box::from_raw(report) });
    }
}
