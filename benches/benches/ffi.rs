//! The C ABI's overhead: each typed collector and a scan through `spectra-ffi` beside the same
//! work through `spectra-core` directly, in one run. (`SPECTRA_FFI_SCAN_ROOT` picks the tree,
//! `/usr/share` by default.)

// Calling the C ABI from Rust is calling `extern "C"` functions with raw pointers.
#![allow(unsafe_code)]

use std::ffi::CString;

use criterion::{Criterion, criterion_group, criterion_main};
use spectra::*;
use spectra_core::collect::Sampler;
use spectra_core::scan::{ScanOptions, Scanner};

fn collectors(c: &mut Criterion) {
    let mut group = c.benchmark_group("ffi-collect");
    group.sample_size(50);
    let core = Sampler::new();
    for name in ["cpu", "memory", "network", "disk"] {
        core.sample(name).expect("collector works here");
        group.bench_function(format!("{name}/core"), |b| {
            b.iter(|| core.sample(name).expect("sample"))
        });
    }
    let root = CString::new("/").expect("no NUL");
    let mut cpu = spectra_cpu_info::default();
    let mut memory = spectra_memory_info::default();
    let mut network = spectra_network_info::default();
    let mut disk = spectra_disk_info::default();
    // SAFETY (all calls below): valid pointers to live locals and a NUL-terminated string.
    group.bench_function("cpu/ffi", |b| {
        b.iter(|| {
            assert_eq!(
                unsafe { spectra_cpu(&mut cpu) },
                spectra_result::SPECTRA_RESULT_OK
            )
        })
    });
    group.bench_function("memory/ffi", |b| {
        b.iter(|| {
            assert_eq!(
                unsafe { spectra_memory(&mut memory) },
                spectra_result::SPECTRA_RESULT_OK
            )
        })
    });
    group.bench_function("network/ffi", |b| {
        b.iter(|| {
            let result = unsafe { spectra_network(std::ptr::null(), &mut network) };
            assert_eq!(result, spectra_result::SPECTRA_RESULT_OK)
        })
    });
    group.bench_function("disk/ffi", |b| {
        b.iter(|| {
            let result = unsafe { spectra_disk(root.as_ptr(), &mut disk) };
            assert_eq!(result, spectra_result::SPECTRA_RESULT_OK)
        })
    });
    group.finish();
}

fn scan(c: &mut Criterion) {
    let root = std::env::var("SPECTRA_FFI_SCAN_ROOT").unwrap_or_else(|_| "/usr/share".into());
    let mut group = c.benchmark_group("ffi-scan");
    group.sample_size(10);
    group.bench_function("core", |b| {
        b.iter(|| {
            Scanner::new(ScanOptions::new(&root))
                .and_then(|s| s.scan())
                .expect("scan")
        })
    });
    let path = CString::new(root.clone()).expect("no NUL");
    group.bench_function("ffi", |b| {
        b.iter(|| {
            let mut scanner = std::ptr::null_mut();
            let mut report = std::ptr::null_mut();
            // SAFETY: a NUL-terminated path and pointers to live locals; each handle is freed
            // once.
            unsafe {
                assert_eq!(
                    spectra_scanner_new(path.as_ptr(), &mut scanner),
                    spectra_result::SPECTRA_RESULT_OK
                );
                let result = spectra_scanner_run(scanner, None, std::ptr::null_mut(), &mut report);
                assert_eq!(result, spectra_result::SPECTRA_RESULT_OK);
                spectra_scan_report_free(report);
                spectra_scanner_free(scanner);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, collectors, scan);
criterion_main!(benches);
