//! Derives the two cfgs the code is gated on from the target and the test cfgs:
//!
//! - `spectra_native`: Linux's fast paths (`statx`/`getdents64` scan, `/proc` collectors) —
//!   on Linux unless built with `--cfg spectra_portable` or `--cfg spectra_no_unix`;
//! - `spectra_unix`: Unix APIs (owners, inodes, `openat`-style enforcement) — on every Unix
//!   unless built with `--cfg spectra_no_unix`.
//!
//! `RUSTFLAGS="--cfg spectra_portable"` thus builds on Linux exactly what macOS gets, and
//! adding `--cfg spectra_no_unix` what Windows gets.

fn main() {
    let set = |name: &str| std::env::var_os(format!("CARGO_CFG_{}", name.to_uppercase())).is_some();
    let unix =
        std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix"));
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let no_unix = set("spectra_no_unix");
    if unix && !no_unix {
        println!("cargo::rustc-cfg=spectra_unix");
    }
    if linux && !no_unix && !set("spectra_portable") {
        println!("cargo::rustc-cfg=spectra_native");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
