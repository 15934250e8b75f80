//! Numbers out of metric envelopes: what history, rollups and Prometheus read.
//!
//! An envelope's data is free-form JSON. Its numeric leaves become samples named by their
//! path (`load.one`); array elements are told apart by a labelling field when they have one
//! (a disk's `mount_point`, an interface's `name`), else by index. Depth and count are bounded
//! so one odd envelope cannot cost much.

use std::collections::BTreeMap;

use serde_json::Value;

/// Fields that name an array element, in order of preference.
const LABEL_KEYS: [&str; 9] = [
    "mount_point",
    "mountpoint",
    "interface",
    "name",
    "device",
    "sensor",
    "label",
    "pid",
    "id",
];
/// Fields that make a whole envelope one series of several: the Go agent sends one envelope
/// per mount (`mountpoint`), interface, disk (`device`) and sensor. Narrower than
/// [`LABEL_KEYS`]: a top-level `name` or `id` describes the host, not a series.
const SERIES_KEYS: [&str; 5] = ["mount_point", "mountpoint", "interface", "device", "sensor"];
const MAX_DEPTH: usize = 4;
const MAX_SAMPLES: usize = 512;

/// One numeric leaf.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Object keys from the root to the leaf.
    pub path: Vec<String>,
    /// Labels of the array elements on the way (`mount_point="/"`).
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The field's stable text key, as rollups store it: `path.to.leaf` or
    /// `path.to.leaf{mount_point="/"}`.
    pub fn key(&self) -> String {
        let mut key = self.path.join(".");
        if key.is_empty() {
            key.push_str("value");
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={}", Value::from(v.as_str())))
                .collect();
            key.push_str(&format!("{{{}}}", labels.join(",")));
        }
        key
    }
}

/// The numeric leaves of `data` (numbers, and booleans as 0/1), labelled by the envelope's
/// [series](series_label) when it has one.
pub fn samples(data: &Value) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut labels: Vec<(String, String)> = series_label(data).into_iter().collect();
    walk(data, &mut Vec::new(), &mut labels, 0, &mut out);
    out
}

/// Which series of its kind an envelope is (`mountpoint="/"`), when its data is an object
/// with a [series field](SERIES_KEYS).
pub fn series_label(data: &Value) -> Option<(String, String)> {
    let fields = data.as_object()?;
    SERIES_KEYS.iter().find_map(|key| match fields.get(*key)? {
        Value::String(s) => Some(((*key).to_owned(), s.clone())),
        _ => None,
    })
}

/// [`series_label`] as the text that keys the latest envelope of each series (empty for
/// envelopes of a single series).
pub fn series_key(data: &Value) -> String {
    series_label(data).map_or_else(String::new, |(key, value)| {
        format!("{key}={}", Value::from(value))
    })
}

fn walk(
    value: &Value,
    path: &mut Vec<String>,
    labels: &mut Vec<(String, String)>,
    depth: usize,
    out: &mut Vec<Sample>,
) {
    if out.len() >= MAX_SAMPLES {
        return;
    }
    let leaf = match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    };
    if let Some(value) = leaf.filter(|v| v.is_finite()) {
        out.push(Sample {
            path: path.clone(),
            labels: labels.clone(),
            value,
        });
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                path.push(key.clone());
                walk(child, path, labels, depth + 1, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let label =
                    element_label(item).unwrap_or_else(|| ("index".to_owned(), index.to_string()));
                labels.push(label);
                walk(item, path, labels, depth + 1, out);
                labels.pop();
            }
        }
        _ => {}
    }
}

fn element_label(item: &Value) -> Option<(String, String)> {
    let fields = item.as_object()?;
    LABEL_KEYS.iter().find_map(|key| {
        let text = match fields.get(*key)? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(((*key).to_owned(), text))
    })
}

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
    fn leaves_are_named_by_path_and_labelled_in_arrays() {
        let data = json!({
            "usage_percent": 12.5,
            "load": {"one": 0.5, "five": 0.25},
            "host": "web-1",
            "throttled": true,
            "per_core": [10.0, 20.0],
        });
        let keys: Vec<(String, f64)> = samples(&data).iter().map(|s| (s.key(), s.value)).collect();
        assert!(keys.contains(&("usage_percent".into(), 12.5)), "{keys:?}");
        assert!(keys.contains(&("load.one".into(), 0.5)), "{keys:?}");
        assert!(keys.contains(&("throttled".into(), 1.0)), "{keys:?}");
        assert!(
            keys.contains(&("per_core{index=\"1\"}".into(), 20.0)),
            "{keys:?}"
        );
        assert_eq!(keys.len(), 6, "the string is not a sample: {keys:?}");

        let disks = json!([{"mount_point": "/", "device": "/dev/vda", "used": 7},
                           {"mount_point": "/srv", "used": 9}]);
        let keys: Vec<String> = samples(&disks).iter().map(Sample::key).collect();
        assert_eq!(
            keys,
            ["used{mount_point=\"/\"}", "used{mount_point=\"/srv\"}"]
        );
    }

    #[test]
    fn the_go_agents_one_envelope_per_mount_is_a_series_each() {
        let root = json!({"device": "/dev/vda", "mountpoint": "/", "disk_used": 7});
        let home = json!({"device": "/dev/vdb", "mountpoint": "/home", "disk_used": 9});
        let keys = |data: &Value| samples(data).iter().map(Sample::key).collect::<Vec<_>>();
        assert_eq!(keys(&root), ["disk_used{mountpoint=\"/\"}"]);
        assert_eq!(keys(&home), ["disk_used{mountpoint=\"/home\"}"]);
        assert_eq!(series_key(&home), "mountpoint=\"/home\"");
        let nic = json!({"interface": "eth0", "rx_bytes": 1});
        assert_eq!(keys(&nic), ["rx_bytes{interface=\"eth0\"}"]);
        let cpu = json!({"usage": 0.3, "cores": [0.6, 0.0]});
        assert_eq!(series_key(&cpu), "", "a host-wide envelope is one series");
        assert!(keys(&cpu).contains(&"usage".to_owned()), "{:?}", keys(&cpu));
    }

    #[test]
    fn hostile_shapes_are_bounded() {
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        assert!(
            samples(&deep).is_empty(),
            "deeper than the bound is ignored"
        );
        let wide = Value::Array((0..10_000).map(Value::from).collect());
        assert_eq!(samples(&wide).len(), MAX_SAMPLES);
    }

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
