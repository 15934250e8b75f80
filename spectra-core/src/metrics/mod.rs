//! The metric schema: every field a collector (or the old Go agent) sends, by its dotted
//! series name, with its unit, whether it is a counter or a gauge, and for series that fill
//! up, what "full" is.
//!
//! It is the one source for what a series means: alert conditions are checked against it
//! (a threshold's unit must fit the field's, `time_to_full` only on fields that fill), the
//! history API answers each series with its unit, the CLI prints it (`spectra collect --list
//! --fields`), and every frontend formats values from it rather than guessing.
//!
//! A series name is the envelope's kind and the dotted path of the field in its data, as
//! [`crate::protocol::flatten`] names leaves: `disk.usage_percent`, `cpu.total.usage_percent`,
//! `processes.top_by_cpu.rss_bytes`. Fields that name an array element (a disk's
//! `mount_point`, an interface's `name`) are labels, not series. A `*` segment stands for the
//! keys of a map (`processes.by_state.*`).
//!
//! ```
//! use spectra_core::metrics::{self, Full, Unit};
//!
//! let field = metrics::field("disk.usage_percent").expect("in the schema");
//! assert_eq!(field.unit, Unit::Percent);
//! assert_eq!(field.full, Some(Full::Percent));
//! assert_eq!(metrics::field("processes.by_state.zombie").map(|f| f.unit), Some(Unit::Count));
//! assert!(metrics::field("disk.used_percent").is_none());
//! let series = metrics::field_of_series("disk", r#"used{mount_point="/"}"#).expect("known");
//! assert_eq!(series.unit, Unit::Bytes);
//! ```

mod fields;

use serde::Serialize;

pub use fields::FIELDS;

/// What a field's numbers are measured in.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// 0–100.
    Percent,
    /// 0–1.
    Ratio,
    Bytes,
    BytesPerSecond,
    Seconds,
    Milliseconds,
    /// A number of things (files, packets, processes).
    Count,
    /// Things per second (operations, packets).
    PerSecond,
    Celsius,
    Megahertz,
    /// Signal strength, decibel-milliwatts.
    Dbm,
    MegabitsPerSecond,
    /// A number without a unit (a load average, an id).
    Number,
    /// `true` or `false` (0 or 1 as a sample).
    Boolean,
    /// Text: never a sample.
    Text,
    /// A point in time (RFC 3339 text, or seconds since the epoch from the Go agent).
    Timestamp,
}

impl Unit {
    /// The name used in JSON and tables (`bytes_per_second`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Percent => "percent",
            Unit::Ratio => "ratio",
            Unit::Bytes => "bytes",
            Unit::BytesPerSecond => "bytes_per_second",
            Unit::Seconds => "seconds",
            Unit::Milliseconds => "milliseconds",
            Unit::Count => "count",
            Unit::PerSecond => "per_second",
            Unit::Celsius => "celsius",
            Unit::Megahertz => "megahertz",
            Unit::Dbm => "dbm",
            Unit::MegabitsPerSecond => "megabits_per_second",
            Unit::Number => "number",
            Unit::Boolean => "boolean",
            Unit::Text => "text",
            Unit::Timestamp => "timestamp",
        }
    }

    /// A value of this unit as a person reads it: `93.4 %`, `1.5 GiB`, `12.0 MiB/s`, `2m 5s`,
    /// `41.0 °C`, `true`. What every table and chart shows, so all frontends agree.
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return value.to_string();
        }
        let whole_bytes = || {
            if value < 0.0 {
                format!("-{}", crate::format::bytes(value.abs() as u64))
            } else {
                crate::format::bytes(value as u64)
            }
        };
        match self {
            Unit::Percent => format!("{value:.1} %"),
            Unit::Ratio => format!("{value:.3}"),
            Unit::Bytes => whole_bytes(),
            Unit::BytesPerSecond => format!("{}/s", whole_bytes()),
            Unit::Seconds => crate::format::seconds(value),
            Unit::Milliseconds => format!("{value:.1} ms"),
            Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
            Unit::Count | Unit::Number => format!("{value:.2}"),
            Unit::PerSecond => format!("{value:.1}/s"),
            Unit::Celsius => format!("{value:.1} °C"),
            Unit::Megahertz => format!("{value:.0} MHz"),
            Unit::Dbm => format!("{value:.0} dBm"),
            Unit::MegabitsPerSecond => format!("{value:.1} Mbit/s"),
            Unit::Boolean => (value != 0.0).to_string(),
            Unit::Text | Unit::Timestamp => value.to_string(),
        }
    }

    /// Whether the field's values are numbers a sample, a threshold or a chart can use.
    pub fn is_numeric(self) -> bool {
        !matches!(self, Unit::Text | Unit::Timestamp)
    }

    /// What a threshold of `literal`'s kind means against this unit, as a multiplier into the
    /// field's own unit, or `None` when the two do not fit (`90GB` against a percent).
    pub fn accepts(self, literal: LiteralKind) -> Option<f64> {
        match (literal, self) {
            (LiteralKind::Plain, unit) if unit.is_numeric() => Some(1.0),
            (LiteralKind::Percent, Unit::Percent) => Some(1.0),
            (LiteralKind::Percent, Unit::Ratio) => Some(0.01),
            (LiteralKind::Bytes, Unit::Bytes | Unit::BytesPerSecond) => Some(1.0),
            (LiteralKind::Seconds, Unit::Seconds) => Some(1.0),
            (LiteralKind::Seconds, Unit::Milliseconds) => Some(1000.0),
            _ => None,
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of number a threshold can be written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// `42`
    Plain,
    /// `90%`
    Percent,
    /// `500MB`, `1.5GiB`
    Bytes,
    /// `10m`, `4h`
    Seconds,
}

impl LiteralKind {
    /// How a threshold of this kind reads in an error (`a size such as 500MB`).
    pub fn describe(self) -> &'static str {
        match self {
            LiteralKind::Plain => "a plain number",
            LiteralKind::Percent => "a percentage",
            LiteralKind::Bytes => "a size",
            LiteralKind::Seconds => "a duration",
        }
    }
}

/// Whether a field only grows (until a reset or a wrap) or goes up and down.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Gauge,
    Counter,
}

/// What "full" is for a series that fills up.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Full {
    /// The percent reaches 100.
    Percent,
    /// The value reaches the named capacity field of the same element (`disk.used` →
    /// `disk.total`).
    Capacity(&'static str),
}

/// Which agents send a field.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    /// Spectra's own collectors.
    Spectra,
    /// The old Go agent, in legacy mode.
    GoAgent,
    /// Both, with the same meaning.
    Both,
}

/// One field of the schema.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MetricField {
    /// `kind.path.to.field`, as series are named.
    pub name: &'static str,
    pub unit: Unit,
    pub kind: Kind,
    /// For series that fill up: what full is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<Full>,
    pub sender: Sender,
    /// One line for people (and Prometheus' `# HELP`).
    pub help: &'static str,
}

impl MetricField {
    /// The envelope kind the field belongs to (`disk`).
    pub fn metric_kind(&self) -> &'static str {
        self.name
            .split_once('.')
            .map_or(self.name, |(kind, _)| kind)
    }

    /// The field's Prometheus name and the factor that turns its values into Prometheus' base
    /// unit: `spectra_` and the dotted name with `_`, the unit's own suffix replaced by the
    /// base unit's (`_ratio` for a percent, `_seconds` for milliseconds, `_hertz` for MHz, …),
    /// `_total` on counters only. A `*` segment (a map's keys) is not part of the name: the
    /// key becomes a label (see [`MetricField::wildcard_label`]).
    ///
    /// ```
    /// let field = spectra_core::metrics::field("disk_io.read_time_ms").unwrap();
    /// assert_eq!(field.prometheus(), ("spectra_disk_io_read_time_seconds_total".into(), 0.001));
    /// ```
    pub fn prometheus(&self) -> (String, f64) {
        let mut stem = self.name.trim_end_matches(".*").replace('.', "_");
        let mut strip = |suffixes: &[&str]| {
            for suffix in suffixes {
                if let Some(cut) = stem.strip_suffix(suffix)
                    && !cut.is_empty()
                {
                    stem = cut.to_owned();
                    return;
                }
            }
        };
        let (suffix, scale) = match self.unit {
            Unit::Percent => {
                strip(&["_percent", "_pct"]);
                ("_ratio", 0.01)
            }
            Unit::Ratio => ("_ratio", 1.0),
            Unit::Bytes => {
                strip(&["_bytes"]);
                ("_bytes", 1.0)
            }
            Unit::BytesPerSecond => {
                strip(&["_bytes_per_sec"]);
                ("_bytes_per_second", 1.0)
            }
            Unit::Seconds => {
                strip(&["_secs", "_seconds"]);
                ("_seconds", 1.0)
            }
            Unit::Milliseconds => {
                strip(&["_ms"]);
                ("_seconds", 0.001)
            }
            Unit::PerSecond => {
                strip(&["_per_sec"]);
                ("_per_second", 1.0)
            }
            Unit::Celsius => ("_celsius", 1.0),
            Unit::Megahertz => {
                strip(&["_mhz"]);
                ("_hertz", 1e6)
            }
            Unit::MegabitsPerSecond => {
                strip(&["_mbps"]);
                ("_bits_per_second", 1e6)
            }
            Unit::Timestamp => ("_seconds", 1.0),
            Unit::Count => {
                // `_count` belongs to summaries and histograms, `_total` to counters:
                // `core_count` is `cores`, a gauge `inodes_total` is `inodes`.
                strip(&["_total"]);
                if let Some(thing) = stem.strip_suffix("_count") {
                    stem = if thing.ends_with('s') {
                        format!("{thing}es")
                    } else {
                        format!("{thing}s")
                    };
                }
                ("", 1.0)
            }
            Unit::Dbm | Unit::Number | Unit::Boolean | Unit::Text => ("", 1.0),
        };
        let mut name = format!("spectra_{stem}");
        if !name.ends_with(suffix) {
            name.push_str(suffix);
        }
        if self.kind == Kind::Counter {
            name.push_str("_total");
        }
        (name, scale)
    }

    /// For a field with a `*` segment, the label its keys become (`state` for
    /// `processes.by_state.*`: the last segment before it, without `by_`).
    pub fn wildcard_label(&self) -> Option<&'static str> {
        let stem = self.name.strip_suffix(".*")?;
        let last = stem.rsplit('.').next().unwrap_or(stem);
        Some(last.strip_prefix("by_").unwrap_or(last))
    }

    /// Whether series `name` (without labels) is this field: equal, or matching its `*`.
    fn names(&self, name: &str) -> bool {
        match self.name.strip_suffix('*') {
            Some(prefix) => name
                .strip_prefix(prefix)
                .is_some_and(|key| !key.is_empty() && !key.contains('.')),
            None => self.name == name,
        }
    }
}

/// Every field, in collector order.
pub fn fields() -> &'static [MetricField] {
    FIELDS
}

/// The field series `name` (`disk.usage_percent`, no labels) is, if the schema has it.
pub fn field(name: &str) -> Option<&'static MetricField> {
    FIELDS.iter().find(|field| field.names(name))
}

/// The field of series `key` of envelope kind `kind`, as the history stores keys
/// (`usage_percent{mount_point="/"}`: the labels are not part of the field's name).
pub fn field_of_series(kind: &str, key: &str) -> Option<&'static MetricField> {
    let path = key.split_once('{').map_or(key, |(path, _)| path);
    field(&format!("{kind}.{path}"))
}

/// The fields of envelope kind `kind`, for an error that lists what is known.
pub fn fields_of(kind: &str) -> impl Iterator<Item = &'static MetricField> + '_ {
    FIELDS
        .iter()
        .filter(move |field| field.metric_kind() == kind)
}

/// The envelope kinds the schema knows, in order, each once.
pub fn kinds() -> Vec<&'static str> {
    let mut kinds: Vec<&'static str> = Vec::new();
    for field in FIELDS {
        if !kinds.contains(&field.metric_kind()) {
            kinds.push(field.metric_kind());
        }
    }
    kinds
}

#[cfg(test)]
mod tests;
