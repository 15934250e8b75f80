//! One criterion bench per collector supported on this host (after a priming call, so rate
//! collectors measure their steady state).

use criterion::{Criterion, criterion_group, criterion_main};

fn collectors(c: &mut Criterion) {
    let mut group = c.benchmark_group("collect");
    group.sample_size(30);
    for name in spectra_core::collect::names() {
        let Ok(mut collector) = spectra_core::collect::by_name(name) else {
            continue;
        };
        if collector.collect().is_err() {
            continue; // unsupported here: nothing to measure
        }
        group.bench_function(name, |b| b.iter(|| collector.collect().expect("collect")));
    }
    group.finish();
}

criterion_group!(benches, collectors);
criterion_main!(benches);
