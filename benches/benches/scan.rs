//! Scanner throughput on a generated tree of 200k files in 4k directories (warm cache): the
//! native walker (`openat`/`getdents64`/`statx(dirfd)`), the portable one (`std::fs`), and the
//! same walk done with jwalk plus a full-path `lstat` per entry.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use spectra_benches::generated_tree;
use spectra_core::scan::{ScanOptions, Scanner};

const FILES: usize = 200_000;

/// Counts files and sums disk bytes with jwalk, statting each entry on the worker threads.
fn jwalk_disk_usage(root: &Path, threads: usize) -> (u64, u64) {
    let walk = jwalk::WalkDirGeneric::<((), Option<(bool, u64)>)>::new(root)
        .skip_hidden(false)
        .parallelism(jwalk::Parallelism::RayonNewPool(threads))
        .process_read_dir(|_, _, _, children| {
            for child in children.iter_mut().flatten() {
                child.client_state = std::fs::symlink_metadata(child.path())
                    .ok()
                    .map(|m| (m.is_file(), m.blocks() * 512));
            }
        });
    let (mut files, mut bytes) = (0, 0);
    for entry in walk.into_iter().flatten() {
        if let Some((is_file, disk)) = entry.client_state {
            files += u64::from(is_file);
            bytes += disk;
        }
    }
    (files, bytes)
}

fn scan_tree(c: &mut Criterion) {
    let root = generated_tree(FILES, 4_000).expect("generate the bench tree");
    let mut group = c.benchmark_group("scan_200k_files");
    group.sample_size(10);
    for threads in [1, 2] {
        let scanner = Scanner::new(ScanOptions::new(&root).with_threads(threads)).expect("options");
        group.bench_function(format!("spectra_full_report_{threads}_threads"), |b| {
            b.iter(|| {
                let report = scanner.scan().expect("scan");
                assert_eq!(report.totals.files, FILES as u64);
                report
            })
        });
        let portable = Scanner::new(
            ScanOptions::new(&root)
                .with_threads(threads)
                .with_backend(spectra_core::Backend::Portable),
        )
        .expect("options");
        group.bench_function(format!("portable_full_report_{threads}_threads"), |b| {
            b.iter(|| {
                let report = portable.scan().expect("scan");
                assert_eq!(report.totals.files, FILES as u64);
                report
            })
        });
        group.bench_function(format!("jwalk_lstat_{threads}_threads"), |b| {
            b.iter(|| {
                let (files, bytes) = jwalk_disk_usage(&root, threads);
                assert_eq!(files, FILES as u64);
                bytes
            })
        });
    }
    group.finish();
}

/// Issue 4's budget: scan + plan at most 1.1× the scan alone (one thread, so the ratio is not
/// blurred by scheduling on this 2-core machine).
fn scan_and_plan(c: &mut Criterion) {
    let root = generated_tree(FILES, 4_000).expect("generate the bench tree");
    let policy = spectra_core::policy::Policy::from_json(
        r#"{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"}"#,
    )
    .expect("policy")
    .compile()
    .expect("compile");
    let options = || ScanOptions::new(&root).with_threads(1);
    let mut group = c.benchmark_group("plan_200k_files");
    group.sample_size(10);
    let scanner = Scanner::new(options()).expect("options");
    group.bench_function("scan_only", |b| b.iter(|| scanner.scan().expect("scan")));
    group.bench_function("scan_plus_plan", |b| {
        b.iter(|| {
            spectra_core::policy::plan(&policy, options(), spectra_core::scan::ScanControl::new())
                .expect("plan")
        })
    });
    group.finish();
}

criterion_group!(benches, scan_tree, scan_and_plan);
criterion_main!(benches);
