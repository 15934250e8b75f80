//! The wire types shared by agent, server and bindings, and their codec.
//!
//! Besides metrics, the module holds the other messages between agents and the server
//! (enrollment, scan [`Snapshot`]s, diagnostic [`Command`]s and their results).
//!
//! Metrics travel as [`Envelope`]s — `{type, timestamp, hostname, data}`, the Go agent's
//! format — grouped into a [`MetricBatch`] and sent as JSON, usually gzip-compressed. Decoding
//! is the part that faces the network, so it enforces hard [`Limits`] before doing any work
//! proportional to the input: the body size, the decompressed size (a gzip bomb stops at the
//! limit, it is never inflated whole), the nesting depth and the number of envelopes.
//!
//! ```
//! use spectra_core::protocol::{self, Compression, Envelope, Limits, MetricBatch};
//!
//! let envelope = Envelope::new("cpu", "web-1", serde_json::json!({"usage_percent": 12.5}));
//! let batch = MetricBatch::new(Some("agent-7".into()), vec![envelope]);
//! let body = protocol::encode(&batch, Compression::Gzip)?;
//! let back = protocol::decode_metric_batch(&body, Compression::sniff(&body), &Limits::default())?;
//! assert_eq!(back, batch);
//! # Ok::<(), spectra_core::Error>(())
//! ```

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use flate2::Compression as GzLevel;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};

pub mod flatten;
mod index;
mod messages;

pub use crate::raw_path::{MAX_PATH_BYTES, check_path};
pub use index::{
    CrawlEnd, DEFAULT_INDEX_BATCH, INDEX_BATCH_PATH_BYTES, IndexBatch, IndexEntry,
    MAX_INDEX_ENTRIES, MAX_TELEMETRY_EVENTS, TelemetryBatch, check_backend_name, holding_root,
    owner_key, path_hash,
};
pub use messages::{
    AccessEvent, AccessOp, AgentInfo, Command, CommandOutcome, CommandResult, Diagnostic,
    MAX_DISK_USAGE_TOP, MAX_LABELS, MAX_REPORTED_FILES, PlanReport, Registration, Snapshot,
    check_label_key,
};

/// The protocol version this build speaks. A batch with a newer version is refused (the
/// receiver cannot know what it would drop); older versions are read as they are.
pub const PROTOCOL_VERSION: u32 = 1;

/// One observation: what kind (`cpu`, `memory`, …), when, from which host, and the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: DateTime<Utc>,
    pub hostname: String,
    pub data: serde_json::Value,
}

impl crate::collect::Metric {
    /// Wraps the metric in the wire format agents send, stamped now.
    pub fn into_envelope(self, hostname: impl Into<String>) -> Result<Envelope> {
        let kind = self.kind();
        let tagged =
            serde_json::to_value(&self).map_err(|e| Error::invalid("metric", e.to_string()))?;
        let data = match tagged {
            serde_json::Value::Object(mut fields) => fields.remove("data").unwrap_or_default(),
            other => other,
        };
        Ok(Envelope::new(kind, hostname, data))
    }
}

impl Envelope {
    /// Refuses a `type` that is not a short name (`[A-Za-z0-9_.-]`, at most 64) and a
    /// hostname with control characters, so no store or exporter sees them.
    pub fn validate(&self) -> Result<()> {
        let kind_ok = !self.kind.is_empty()
            && self.kind.len() <= 64
            && self
                .kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !kind_ok {
            return Err(Error::invalid(
                "type",
                format!(
                    "{:?} is not a name of 1 to 64 letters, digits, '_', '.', '-'",
                    self.kind
                ),
            ));
        }
        messages::check_label("hostname", &self.hostname, true)
    }

    /// An envelope stamped now.
    pub fn new(
        kind: impl Into<String>,
        hostname: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Envelope {
            kind: kind.into(),
            timestamp: Utc::now(),
            hostname: hostname.into(),
            data,
        }
    }
}

/// Envelopes sent together. The batch id lets a receiver store a batch once however often an
/// agent retries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBatch {
    #[serde(default = "first_version")]
    pub version: u32,
    pub batch_id: Uuid,
    #[serde(default)]
    pub agent_id: Option<String>,
    pub envelopes: Vec<Envelope>,
}

fn first_version() -> u32 {
    1
}

impl MetricBatch {
    /// A batch with a fresh random id.
    pub fn new(agent_id: Option<String>, envelopes: Vec<Envelope>) -> Self {
        MetricBatch {
            version: PROTOCOL_VERSION,
            batch_id: Uuid::new_v4(),
            agent_id,
            envelopes,
        }
    }
}

/// How a body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
}

impl Compression {
    /// Gzip when the bytes start with gzip's magic number, else none (JSON never starts so).
    pub fn sniff(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else {
            Compression::None
        }
    }
}

/// Hard limits applied while decoding. The defaults suit metric batches from one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Bytes of the body as received (compressed or not).
    pub max_body_bytes: u64,
    /// Bytes of JSON after decompression.
    pub max_decoded_bytes: u64,
    /// Nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// Envelopes in one batch.
    pub max_envelopes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 << 20,
            max_decoded_bytes: 64 << 20,
            max_depth: 32,
            max_envelopes: 10_000,
        }
    }
}

/// Serializes `value` as JSON, gzip-compressed if asked.
pub fn encode<T: Serialize>(value: &T, compression: Compression) -> Result<Vec<u8>> {
    let json =
        serde_json::to_vec(value).map_err(|e| Error::invalid("value to encode", e.to_string()))?;
    match compression {
        Compression::None => Ok(json),
        Compression::Gzip => {
            let mut encoder = GzEncoder::new(Vec::with_capacity(json.len() / 4), GzLevel::fast());
            encoder
                .write_all(&json)
                .and_then(|()| encoder.finish())
                .map_err(|e| Error::invalid("gzip", e.to_string()))
        }
    }
}

/// Decodes a JSON document of type `T` within `limits`; `what` names it in errors.
pub fn decode<T: DeserializeOwned>(
    what: &str,
    body: &[u8],
    compression: Compression,
    limits: &Limits,
) -> Result<T> {
    let json = decompress(what, body, compression, limits)?;
    check_depth(what, &json, limits.max_depth)?;
    serde_json::from_slice(&json).map_err(|e| Error::InvalidData {
        what: described(what, compression),
        message: e.to_string(),
    })
}

/// `what`, saying when the bytes at fault were the inside of a gzip body.
fn described(what: &str, compression: Compression) -> String {
    match compression {
        Compression::Gzip => format!("{what} (in the gunzipped body)"),
        Compression::None => what.to_owned(),
    }
}

/// Decodes a metric batch: a [`MetricBatch`] object, or the Go agent's forms — a bare array of
/// envelopes or a single envelope. Those carry no batch id, so one is derived from the content
/// (a UUIDv5 of the decoded bytes): a retried body gets the same id and is stored once.
pub fn decode_metric_batch(
    body: &[u8],
    compression: Compression,
    limits: &Limits,
) -> Result<MetricBatch> {
    const WHAT: &str = "metric batch";
    let json = decompress(WHAT, body, compression, limits)?;
    check_depth(WHAT, &json, limits.max_depth)?;
    let invalid = |e: serde_json::Error| Error::InvalidData {
        what: described(WHAT, compression),
        message: e.to_string(),
    };
    let value: serde_json::Value = serde_json::from_slice(&json).map_err(invalid)?;
    let content_id = || Uuid::new_v5(&Uuid::NAMESPACE_OID, &json);
    let batch = match value {
        serde_json::Value::Array(_) => MetricBatch {
            version: PROTOCOL_VERSION,
            batch_id: content_id(),
            agent_id: None,
            envelopes: serde_json::from_value(value).map_err(invalid)?,
        },
        serde_json::Value::Object(ref fields) if fields.contains_key("envelopes") => {
            serde_json::from_value(value).map_err(invalid)?
        }
        other => MetricBatch {
            version: PROTOCOL_VERSION,
            batch_id: content_id(),
            agent_id: None,
            envelopes: vec![serde_json::from_value(other).map_err(invalid)?],
        },
    };
    if batch.version > PROTOCOL_VERSION {
        return Err(Error::InvalidData {
            what: WHAT.into(),
            message: format!(
                "protocol version {} is newer than the supported {PROTOCOL_VERSION}",
                batch.version
            ),
        });
    }
    if batch.envelopes.len() > limits.max_envelopes {
        return Err(Error::TooLarge {
            what: format!("{WHAT} of {} envelopes", batch.envelopes.len()),
            limit: limits.max_envelopes as u64,
            unit: "envelopes",
        });
    }
    for (index, envelope) in batch.envelopes.iter().enumerate() {
        envelope.validate().map_err(|e| Error::InvalidData {
            what: WHAT.into(),
            message: format!("envelope {index}: {e}"),
        })?;
    }
    Ok(batch)
}

fn decompress(
    what: &str,
    body: &[u8],
    compression: Compression,
    limits: &Limits,
) -> Result<Vec<u8>> {
    if body.len() as u64 > limits.max_body_bytes {
        return Err(Error::TooLarge {
            what: format!("{what} body"),
            limit: limits.max_body_bytes,
            unit: "bytes",
        });
    }
    let too_large = || Error::TooLarge {
        what: format!("decompressed {what}"),
        limit: limits.max_decoded_bytes,
        unit: "bytes",
    };
    match compression {
        Compression::None if body.len() as u64 > limits.max_decoded_bytes => Err(too_large()),
        Compression::None => Ok(body.to_vec()),
        Compression::Gzip => {
            // Read one byte past the limit: reaching it proves the limit is exceeded without
            // inflating the rest.
            let mut out = Vec::new();
            GzDecoder::new(body)
                .take(limits.max_decoded_bytes.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| Error::InvalidData {
                    what: what.into(),
                    message: format!("gzip: {e}"),
                })?;
            if out.len() as u64 > limits.max_decoded_bytes {
                Err(too_large())
            } else {
                Ok(out)
            }
        }
    }
}

/// Refuses JSON nested deeper than `max_depth` before any parsing (a linear scan), so a
/// hostile document cannot make a parser recurse.
fn check_depth(what: &str, json: &[u8], max_depth: usize) -> Result<()> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &byte) in json.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Err(Error::TooLarge {
                        what: format!("nesting of {what} at byte {offset}"),
                        limit: max_depth as u64,
                        unit: "levels",
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use proptest::prelude::*;
    use serde_json::json;

    fn sample() -> MetricBatch {
        let mut e = Envelope::new(
            "memory",
            "db-2",
            json!({"total": 25_000_000_000u64, "used_percent": 41.5}),
        );
        e.timestamp = "2026-11-22T10:00:00.123456789Z".parse().expect("timestamp");
        MetricBatch::new(Some("agent-1".into()), vec![e])
    }

    #[test]
    fn batches_round_trip_plain_and_gzipped() {
        let batch = sample();
        for compression in [Compression::None, Compression::Gzip] {
            let body = encode(&batch, compression).expect("encode");
            assert_eq!(Compression::sniff(&body), compression);
            let back = decode_metric_batch(&body, compression, &Limits::default()).expect("decode");
            assert_eq!(back, batch);
        }
    }

    #[test]
    fn the_go_agents_forms_are_accepted_with_a_content_derived_id() {
        let go = br#"[{"type":"cpu","timestamp":"2026-11-22T10:00:00+01:00","hostname":"pi","data":{"usage":3}}]"#;
        let a = decode_metric_batch(go, Compression::None, &Limits::default()).expect("array form");
        let b = decode_metric_batch(go, Compression::None, &Limits::default()).expect("again");
        assert_eq!(a.batch_id, b.batch_id, "a retried body keeps its id");
        assert_eq!(a.envelopes[0].kind, "cpu");
        assert_eq!(
            a.envelopes[0].timestamp.to_rfc3339(),
            "2026-11-22T09:00:00+00:00"
        );
        let single =
            br#"{"type":"disk","timestamp":"2026-11-22T10:00:00Z","hostname":"pi","data":[]}"#;
        let one = decode_metric_batch(single, Compression::None, &Limits::default())
            .expect("single form");
        assert_eq!(one.envelopes.len(), 1);
        assert_ne!(one.batch_id, a.batch_id);
    }

    #[test]
    fn a_gzip_bomb_is_refused_without_inflating_it() {
        let zeros = vec![b' '; 200 << 20];
        let mut encoder = GzEncoder::new(Vec::new(), GzLevel::best());
        encoder.write_all(&zeros).expect("compress");
        let bomb = encoder.finish().expect("finish");
        assert!(bomb.len() < 1 << 20, "the bomb is small: {}", bomb.len());
        let err =
            decode_metric_batch(&bomb, Compression::Gzip, &Limits::default()).expect_err("refused");
        assert_eq!(err.code(), ErrorCode::TooLarge);
        assert!(
            err.to_string().contains("decompressed metric batch"),
            "{err}"
        );
    }

    #[test]
    fn oversize_bodies_deep_nesting_and_long_batches_are_refused() {
        let limits = Limits {
            max_body_bytes: 100,
            max_depth: 4,
            max_envelopes: 1,
            ..Limits::default()
        };
        let big = vec![b'['; 101];
        let err = decode_metric_batch(&big, Compression::None, &limits).expect_err("too big");
        assert!(
            matches!(err, Error::TooLarge { unit: "bytes", .. }),
            "{err}"
        );

        let deep = b"[[[[[1]]]]]";
        let err = decode_metric_batch(deep, Compression::None, &limits).expect_err("too deep");
        assert!(err.to_string().contains("at byte 4"), "{err}");
        let brackets_in_strings = br#"{"type":"cpu","timestamp":"2026-01-01T00:00:00Z","hostname":"[[[[[[","data":"{{{{{{"}"#;
        decode_metric_batch(brackets_in_strings, Compression::None, &limits)
            .expect("brackets inside strings do not nest");

        let two = encode(
            &MetricBatch::new(None, vec![sample().envelopes[0].clone(); 2]),
            Compression::None,
        )
        .expect("encode");
        let limits = Limits {
            max_envelopes: 1,
            ..Limits::default()
        };
        let err = decode_metric_batch(&two, Compression::None, &limits).expect_err("too many");
        assert!(err.to_string().contains("2 envelopes"), "{err}");
    }

    #[test]
    fn envelopes_with_odd_names_are_refused_by_index() {
        let odd = br#"[{"type":"cpu","timestamp":"2026-11-22T10:00:00Z","hostname":"h","data":1},
                      {"type":"c\u0000pu","timestamp":"2026-11-22T10:00:00Z","hostname":"h","data":1}]"#;
        let err = decode_metric_batch(odd, Compression::None, &Limits::default()).expect_err("odd");
        assert_eq!(err.code(), ErrorCode::InvalidData);
        assert!(
            err.to_string().contains("envelope 1: invalid type"),
            "{err}"
        );
        let host =
            br#"{"type":"cpu","timestamp":"2026-11-22T10:00:00Z","hostname":"a\nb","data":1}"#;
        let err =
            decode_metric_batch(host, Compression::None, &Limits::default()).expect_err("host");
        assert!(err.to_string().contains("hostname"), "{err}");
    }

    #[test]
    fn malformed_input_says_what_and_where() {
        let err = decode_metric_batch(
            b"{\"envelopes\": [\n  {\"type\": 5}",
            Compression::None,
            &Limits::default(),
        )
        .expect_err("bad json");
        assert_eq!(err.code(), ErrorCode::InvalidData);
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = decode_metric_batch(
            &[0x1f, 0x8b, 0, 1, 2],
            Compression::Gzip,
            &Limits::default(),
        )
        .expect_err("bad gzip");
        assert!(err.to_string().contains("gzip"), "{err}");
        let future = br#"{"version": 99, "batch_id": "67e55044-10b1-426f-9247-bb680e5fe0c8", "envelopes": []}"#;
        let err =
            decode_metric_batch(future, Compression::None, &Limits::default()).expect_err("newer");
        assert!(err.to_string().contains("version 99"), "{err}");
        let err = decode::<Envelope>(
            "envelope",
            br#"{"type":"cpu"}"#,
            Compression::None,
            &Limits::default(),
        )
        .expect_err("missing fields");
        assert!(err.to_string().contains("missing field"), "{err}");
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[^\u{0}]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_batch_round_trips(
            kinds in prop::collection::vec(("[a-z_]{1,12}", "\\PC{0,20}", json_value(), -1_000_000_000i64..4_000_000_000), 0..6),
            agent in prop::option::of("[a-z0-9-]{1,16}"),
            gzip in any::<bool>(),
        ) {
            let envelopes = kinds
                .into_iter()
                .map(|(kind, hostname, data, secs)| Envelope {
                    kind,
                    timestamp: DateTime::from_timestamp(secs, 0).expect("in range"),
                    hostname,
                    data,
                })
                .collect();
            let batch = MetricBatch::new(agent, envelopes);
            let compression = if gzip { Compression::Gzip } else { Compression::None };
            let body = encode(&batch, compression).expect("encode");
            let back = decode_metric_batch(&body, compression, &Limits::default()).expect("decode");
            prop_assert_eq!(back, batch);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_metric_batch(&bytes, Compression::sniff(&bytes), &Limits::default());
        }
    }
}
