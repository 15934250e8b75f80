//! `Recorder`: access telemetry for tools that want to report which files they touch.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;
use spectra_core::protocol::{AccessEvent, AccessOp};
use spectra_core::telemetry::{JsonLinesSink, Recorder, RecorderOptions, Sink, agent_sink};

use crate::Work;
use crate::convert::{field, to_js};
use crate::errors::IntoJs;

/// A JavaScript sink, called on the JavaScript thread with each batch. Weak: a recorder
/// alone does not keep the process alive.
type SinkFn = ThreadsafeFunction<Value, (), Value, Status, false, true>;

struct FunctionSink {
    callback: SinkFn,
}

impl Sink for FunctionSink {
    fn write(&mut self, batch: &[AccessEvent]) -> spectra_core::Result<()> {
        let events = to_js(batch)?;
        match self
            .callback
            .call(events, ThreadsafeFunctionCallMode::NonBlocking)
        {
            Status::Ok => Ok(()),
            status => Err(spectra_core::Error::callback(
                "telemetry sink",
                format!("the JavaScript sink could not be called: {status}"),
            )),
        }
    }
}

/// Batches access events in the background and hands them to a sink: a JSON-lines file (a
/// path) or a function. `record` never blocks: when the queue is full the event is dropped
/// and counted.
#[napi]
#[derive(Debug)]
pub struct NativeRecorder {
    inner: Arc<Recorder>,
}

#[napi]
impl NativeRecorder {
    /// `options`: `{ batchSize, flushIntervalSeconds, metadataSampleRate, queueCapacity }`,
    /// each defaulting to core's.
    #[napi(constructor)]
    pub fn new(sink: Either<String, SinkFn>, options: Option<Value>) -> Result<Self> {
        let sink: Box<dyn Sink> = match sink {
            Either::A(path) => Box::new(JsonLinesSink::create(&PathBuf::from(path)).js()?),
            Either::B(callback) => Box::new(FunctionSink { callback }),
        };
        NativeRecorder::with_sink(sink, options.as_ref())
    }

    /// A recorder handing events to the local `spectra agent` over its Unix socket: `socket`,
    /// or core's default (`telemetry.sock` in `$SPECTRA_AGENT_STATE_DIR`, else
    /// `~/.local/state/spectra-agent`).
    #[napi(factory)]
    pub fn to_agent(socket: Option<String>, options: Option<Value>) -> Result<Self> {
        let sink = agent_sink(socket.as_deref().map(std::path::Path::new)).js()?;
        NativeRecorder::with_sink(sink, options.as_ref())
    }

    fn with_sink(sink: Box<dyn Sink>, options: Option<&Value>) -> Result<Self> {
        let mut settings = RecorderOptions::default();
        if let Some(n) = field(options, "batchSize").js()? {
            settings.batch_size = n;
        }
        if let Some(n) = field(options, "queueCapacity").js()? {
            settings.queue_capacity = n;
        }
        if let Some(rate) = field(options, "metadataSampleRate").js()? {
            settings.metadata_sample_rate = rate;
        }
        if let Some(seconds) = field::<f64>(options, "flushIntervalSeconds").js()? {
            settings.flush_interval = Duration::try_from_secs_f64(seconds)
                .map_err(|e| spectra_core::Error::InvalidInput {
                    what: "flushIntervalSeconds".into(),
                    message: e.to_string(),
                })
                .js()?;
        }
        Ok(NativeRecorder {
            inner: Arc::new(Recorder::new(sink, settings).js()?),
        })
    }

    /// Queues `{ op, path, bytes, uid, user, backend }`; `false` when the queue was full and it was dropped.
    #[napi]
    pub fn record(&self, event: Value) -> Result<bool> {
        let op: AccessOp = field::<String>(Some(&event), "op")
            .js()?
            .unwrap_or_default()
            .parse()
            .js()?;
        let path = field::<PathBuf>(Some(&event), "path")
            .js()?
            .ok_or_else(|| {
                crate::errors::to_napi(&spectra_core::Error::InvalidInput {
                    what: "event.path".into(),
                    message: "missing".into(),
                })
            })?;
        let mut access = AccessEvent::new(op, path);
        if let Some(bytes) = field(Some(&event), "bytes").js()? {
            access = access.with_bytes(bytes);
        }
        if let Some(uid) = field(Some(&event), "uid").js()? {
            access = access.with_uid(uid);
        }
        if let Some(user) = field::<String>(Some(&event), "user").js()? {
            access = access.with_user(user);
        }
        if let Some(backend) = field::<String>(Some(&event), "backend").js()? {
            access = access.with_backend(backend);
        }
        Ok(self.inner.record(access))
    }

    /// Resolves when everything recorded so far has been handed to the sink.
    #[napi(ts_return_type = "Promise<null>")]
    pub fn flush(&self) -> AsyncTask<Work> {
        let recorder = self.inner.clone();
        Work::new(move || recorder.flush().map(|()| Value::Null))
    }

    /// Flushes and stops taking events; resolves to the final counts.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn close(&self) -> AsyncTask<Work> {
        let recorder = self.inner.clone();
        Work::new(move || to_js(&recorder.close()?))
    }

    /// `{ recorded, dropped, written, … }` so far.
    #[napi]
    pub fn stats(&self) -> Result<Value> {
        to_js(&self.inner.stats()).js()
    }
}
