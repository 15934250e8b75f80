//! Derives the two cfgs the code is gated on from the target and the test cfgs:
//!
//! - `spectra_native`: Linux's fast paths (`statx`/`getdents64` scan, `/proc` collectors) —
//!   on Linux unless built with `--cfg spectra_portable` or `--cfg spectra_no_unix`;
//! - `spectra_unix`: Unix APIs (owners, inodes, ICMP sockets) — on every Unix unless built
//!   with `--cfg spectra_no_unix`;
//! - `spectra_safe_moves`: enforcement's `openat`-style moves, which need a rename that never
//!   replaces (`renameat2`, macOS's `renameatx_np`) — Unix on Linux, Android and Apple.
//!
//! `RUSTFLAGS="--cfg spectra_portable"` thus builds on Linux exactly what macOS gets, and
//! adding `--cfg spectra_no_unix` what Windows gets.

fn main() {
    let set = |name: &str| std::env::var_os(format!("CARGO_CFG_{}", name.to_uppercase())).is_some();
    let unix =
        std::env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix"));
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let no_unix = set("spectra_no_unix");
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    if unix && !no_unix {
        println!("cargo::rustc-cfg=spectra_unix");
        if matches!(os.as_str(), "linux" | "android") || vendor == "apple" {
            println!("cargo::rustc-cfg=spectra_safe_moves");
        }
    }
    if os == "linux" && !no_unix && !set("spectra_portable") {
        println!("cargo::rustc-cfg=spectra_native");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
