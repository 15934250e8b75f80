//! Numbers and labels out of metric data: the one flattening of a metric's free-form JSON
//! that the server's history, rollups and Prometheus exporter, the CLI's table and every
//! binding use, so a series has one name everywhere.
//!
//! Leaves are named by their path (`load.one`); array elements are told apart by a labelling
//! field when they have one (a disk's `mount_point`, an interface's `name`), else by index:
//! `used{mount_point="/"}`, `per_core{index="1"}`. Depth and count are bounded so one odd
//! envelope cannot cost much.

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

/// How deep and how many leaves [`leaves`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlattenLimits {
    pub max_depth: usize,
    pub max_leaves: usize,
}

/// What the server stores of one envelope: its numbers to four levels, at most 512.
pub const SERIES_LIMITS: FlattenLimits = FlattenLimits {
    max_depth: 4,
    max_leaves: 512,
};

/// What a person reading a whole sample wants (every installed package included).
pub const DISPLAY_LIMITS: FlattenLimits = FlattenLimits {
    max_depth: 8,
    max_leaves: 1 << 20,
};

/// One leaf of a metric's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// Object keys from the root to the leaf.
    pub path: Vec<String>,
    /// Labels of the array elements on the way (`mount_point="/"`).
    pub labels: Vec<(String, String)>,
    pub value: LeafValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LeafValue {
    Number(f64),
    Bool(bool),
    Text(String),
}

impl LeafValue {
    /// The value as a sample: numbers, and booleans as 0/1.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            LeafValue::Number(n) => Some(*n),
            LeafValue::Bool(b) => Some(f64::from(u8::from(*b))),
            LeafValue::Text(_) => None,
        }
    }
}

impl std::fmt::Display for LeafValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafValue::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{n:.0}"),
            LeafValue::Number(n) => write!(f, "{n:.2}"),
            LeafValue::Bool(b) => write!(f, "{b}"),
            LeafValue::Text(t) => f.write_str(t),
        }
    }
}

/// One numeric leaf: what history and Prometheus store.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The stable text key of a leaf: `path.to.leaf` or `path.to.leaf{mount_point="/"}`.
fn key_of(path: &[String], labels: &[(String, String)]) -> String {
    let mut key = path.join(".");
    if key.is_empty() {
        key.push_str("value");
    }
    if !labels.is_empty() {
        let labels: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}={}", Value::from(v.as_str())))
            .collect();
        key.push_str(&format!("{{{}}}", labels.join(",")));
    }
    key
}

impl Leaf {
    /// The leaf's stable text key (see [`Sample::key`]).
    pub fn key(&self) -> String {
        key_of(&self.path, &self.labels)
    }
}

impl Sample {
    /// The field's stable text key, as rollups store it: `path.to.leaf` or
    /// `path.to.leaf{mount_point="/"}`.
    pub fn key(&self) -> String {
        key_of(&self.path, &self.labels)
    }
}

/// The numeric leaves of `data` (numbers, and booleans as 0/1) within [`SERIES_LIMITS`],
/// labelled by the envelope's [series](series_label) when it has one.
pub fn samples(data: &Value) -> Vec<Sample> {
    leaves(data, SERIES_LIMITS)
        .into_iter()
        .filter_map(|leaf| {
            Some(Sample {
                value: leaf.value.as_number()?,
                path: leaf.path,
                labels: leaf.labels,
            })
        })
        .collect()
}

/// Every leaf of `data` within `limits` — numbers, booleans and text — named as
/// [`samples`] names them. The field that labels an array element is not repeated as a leaf
/// of its own when it is text (`mount_point{mount_point="/"} = /` says nothing new).
pub fn leaves(data: &Value, limits: FlattenLimits) -> Vec<Leaf> {
    let mut out = Vec::new();
    let mut labels: Vec<(String, String)> = series_label(data).into_iter().collect();
    walk(data, &mut Vec::new(), &mut labels, 0, limits, &mut out);
    out
}

/// Which series of its kind an envelope is (`mountpoint="/"`), when its data is an object
/// with a series field (`mount_point`, `mountpoint`, `interface`, `device` or `sensor`).
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
    limits: FlattenLimits,
    out: &mut Vec<Leaf>,
) {
    if out.len() >= limits.max_leaves {
        return;
    }
    let leaf = match value {
        Value::Number(n) => n.as_f64().filter(|v| v.is_finite()).map(LeafValue::Number),
        Value::Bool(b) => Some(LeafValue::Bool(*b)),
        Value::String(s) => {
            let labels_itself = path
                .last()
                .is_some_and(|field| labels.iter().any(|(label, _)| label == field));
            (!labels_itself).then(|| LeafValue::Text(s.clone()))
        }
        _ => None,
    };
    if let Some(value) = leaf {
        out.push(Leaf {
            path: path.clone(),
            labels: labels.clone(),
            value,
        });
        return;
    }
    if depth >= limits.max_depth {
        return;
    }
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                path.push(key.clone());
                walk(child, path, labels, depth + 1, limits, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let label =
                    element_label(item).unwrap_or_else(|| ("index".to_owned(), index.to_string()));
                labels.push(label);
                walk(item, path, labels, depth + 1, limits, out);
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
        assert_eq!(samples(&wide).len(), SERIES_LIMITS.max_leaves);
    }

    #[test]
    fn leaves_keep_text_but_not_the_label_twice() {
        let disks = json!([{"mount_point": "/", "fs_type": "ext4", "used": 7}]);
        let lines: Vec<String> = leaves(&disks, DISPLAY_LIMITS)
            .iter()
            .map(|l| format!("{} = {}", l.key(), l.value))
            .collect();
        assert_eq!(
            lines,
            [
                "fs_type{mount_point=\"/\"} = ext4",
                "used{mount_point=\"/\"} = 7"
            ]
        );
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        assert_eq!(
            leaves(&deep, DISPLAY_LIMITS).len(),
            1,
            "display reads deeper"
        );
    }
}
