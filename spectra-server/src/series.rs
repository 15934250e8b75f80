//! Rollup arithmetic over the samples of metric envelopes (named by
//! [`spectra_core::protocol::flatten`]).

use std::collections::BTreeMap;

use serde_json::Value;
use spectra_core::protocol::flatten::samples;

/// Count, sum, minimum and maximum of the samples that fell into one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub samples: i64,
    pub total: f64,
    pub low: f64,
    pub high: f64,
}

impl Aggregate {
    pub fn of(value: f64) -> Self {
        Aggregate {
            samples: 1,
            total: value,
            low: value,
            high: value,
        }
    }

    pub fn merge(&mut self, other: Aggregate) {
        self.samples += other.samples;
        self.total += other.total;
        self.low = self.low.min(other.low);
        self.high = self.high.max(other.high);
    }

    pub fn mean(&self) -> f64 {
        if self.samples == 0 {
            0.0
        } else {
            self.total / self.samples as f64
        }
    }
}

/// Aggregates keyed by (field, bucket start in ms).
pub type Buckets = BTreeMap<(String, i64), Aggregate>;

/// Adds the samples of one envelope taken at `ts` (ms) into buckets of `step_ms`.
pub fn add_to_buckets(buckets: &mut Buckets, data: &Value, ts: i64, step_ms: i64) {
    let bucket = ts.div_euclid(step_ms) * step_ms;
    for sample in samples(data) {
        let aggregate = Aggregate::of(sample.value);
        buckets
            .entry((sample.key(), bucket))
            .and_modify(|a| a.merge(aggregate))
            .or_insert(aggregate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn buckets_aggregate_count_sum_min_max() {
        let mut buckets = Buckets::new();
        add_to_buckets(&mut buckets, &json!({"v": 1.0}), 1_000, 60_000);
        add_to_buckets(&mut buckets, &json!({"v": 3.0}), 59_999, 60_000);
        add_to_buckets(&mut buckets, &json!({"v": 10.0}), 60_000, 60_000);
        let first = buckets[&("v".to_owned(), 0)];
        assert_eq!((first.samples, first.low, first.high), (2, 1.0, 3.0));
        assert_eq!(first.mean(), 2.0);
        assert_eq!(buckets[&("v".to_owned(), 60_000)].samples, 1);
    }
}
