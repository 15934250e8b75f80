//! Times every collector supported here: `collect-timing [CALLS]` prints one JSON object,
//! `{name: median microseconds per collect()}`, for `compare-collect.sh`.

use std::time::Instant;

fn main() {
    let calls: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let mut medians = serde_json::Map::new();
    for name in spectra_core::collect::names() {
        let Ok(mut collector) = spectra_core::collect::by_name(name) else {
            continue;
        };
        // The first call primes rate state (and page caches); it is not timed.
        if collector.collect().is_err() {
            continue;
        }
        let calls = if name == "applications" {
            calls.min(20)
        } else {
            calls
        };
        let mut times: Vec<f64> = (0..calls)
            .map(|_| {
                let started = Instant::now();
                let _ = std::hint::black_box(collector.collect());
                started.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        medians.insert(name.to_string(), serde_json::json!(times[times.len() / 2]));
    }
    println!("{}", serde_json::Value::Object(medians));
}
