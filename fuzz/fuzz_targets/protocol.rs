//! The wire decoder with its limits, plain and gzip: metric batches (both agents' forms),
//! snapshots, command results, file index and telemetry batches decode (and validate) or
//! are refused; nothing panics or runs away.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spectra_core::protocol::{
    self, CommandResult, Compression, IndexBatch, Limits, Snapshot, TelemetryBatch,
};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_body_bytes: 1 << 20,
        max_decoded_bytes: 4 << 20,
        ..Limits::default()
    };
    let compression = Compression::sniff(data);
    let _ = protocol::decode_metric_batch(data, compression, &limits);
    if let Ok(snapshot) = protocol::decode::<Snapshot>("snapshot", data, compression, &limits) {
        let _ = snapshot.validate();
    }
    let _ = protocol::decode::<CommandResult>("command result", data, compression, &limits);
    if let Ok(batch) = protocol::decode::<IndexBatch>("index batch", data, compression, &limits) {
        let _ = batch.validate();
        for entry in &batch.entries {
            let _ = (entry.fingerprint(), entry.owner_key());
        }
    }
    if let Ok(batch) =
        protocol::decode::<TelemetryBatch>("telemetry batch", data, compression, &limits)
    {
        let _ = batch.validate();
    }
});
