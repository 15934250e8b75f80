//! Scanner throughput on a generated tree of 200k files in 4k directories (warm cache).

use criterion::{Criterion, criterion_group, criterion_main};
use spectra_benches::generated_tree;
use spectra_core::scan::{ScanOptions, Scanner};

fn scan_tree(c: &mut Criterion) {
    let root = generated_tree(200_000, 4_000).expect("generate the bench tree");
    let mut group = c.benchmark_group("scan_200k_files");
    group.sample_size(10);
    for threads in [1, 2] {
        let scanner = Scanner::new(ScanOptions::new(&root).with_threads(threads)).expect("options");
        group.bench_function(format!("full_report_{threads}_threads"), |b| {
            b.iter(|| {
                let report = scanner.scan().expect("scan");
                assert_eq!(report.totals.files, 200_000);
                report
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scan_tree);
criterion_main!(benches);
