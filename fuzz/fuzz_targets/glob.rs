//! Glob patterns, as scan excludes and as `matches` in rules: accepted or refused with an
//! error, never a panic inside globset.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spectra_core::policy::Rule;
use spectra_core::scan::{ScanOptions, Scanner};

fuzz_target!(|data: &[u8]| {
    let Ok(pattern) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Scanner::new(ScanOptions::new("/").with_exclude(pattern));
    let escaped = pattern.replace('\\', "\\\\").replace('\'', "\\'");
    let _ = Rule::parse(&format!("name matches '{escaped}'"));
});
