//! Calls one collector N times through `spectra-core` or through the C ABI, for
//! `valgrind --tool=callgrind` to count the instructions of each side (repeatable where
//! wall-clock time on this machine is not):
//!   ffi-calls core|ffi cpu|memory|network|disk N

// Calling the C ABI is calling `extern "C"` functions with raw pointers.
#![allow(unsafe_code)]

use std::ffi::CString;

use spectra::*;
use spectra_core::collect::Sampler;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(side), Some(name), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: ffi-calls core|ffi cpu|memory|network|disk N");
        std::process::exit(2);
    };
    let count: usize = count.parse().unwrap_or(0);
    let root = CString::new("/").unwrap_or_default();
    let sampler = Sampler::new();
    let mut ok = 0usize;
    for _ in 0..count {
        let fine = match side.as_str() {
            "core" => sampler.sample(name).is_ok(),
            // SAFETY: pointers to live locals and a NUL-terminated string.
            _ => unsafe {
                let result = match name.as_str() {
                    "cpu" => spectra_cpu(&mut spectra_cpu_info::default()),
                    "memory" => spectra_memory(&mut spectra_memory_info::default()),
                    "network" => {
                        spectra_network(std::ptr::null(), &mut spectra_network_info::default())
                    }
                    _ => spectra_disk(root.as_ptr(), &mut spectra_disk_info::default()),
                };
                result == spectra_result::SPECTRA_RESULT_OK
            },
        };
        ok += usize::from(fine);
    }
    println!("{ok} of {count} calls succeeded");
}
