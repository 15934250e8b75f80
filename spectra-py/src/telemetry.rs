//! `Recorder`: access telemetry for tools that want to report which files they touch.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use spectra_core::protocol::{AccessEvent, AccessOp};
use spectra_core::telemetry::{JsonLinesSink, Recorder, RecorderOptions, Sink, agent_sink};

use crate::convert::to_python;
use crate::errors::{CoreError, CoreResult};

/// Hands each batch to a Python callable as a list of dicts (on the recorder's thread).
struct CallbackSink {
    callback: Py<PyAny>,
}

impl Sink for CallbackSink {
    fn write(&mut self, batch: &[AccessEvent]) -> spectra_core::Result<()> {
        Python::attach(|py| {
            let events = to_python(py, batch)?;
            self.callback.call1(py, (events,)).map(drop)
        })
        .map_err(|e| spectra_core::Error::callback("telemetry sink callback", e.to_string()))
    }
}

/// The local `spectra agent`'s telemetry socket as a recorder's sink: `socket`, or by default
/// core's (`telemetry.sock` in `$SPECTRA_AGENT_STATE_DIR`, else
/// `~/.local/state/spectra-agent`). The agent batches, spools and forwards the events.
#[pyclass(frozen, name = "AgentSink", module = "spectra")]
#[derive(Debug)]
pub struct PyAgentSink {
    socket: PathBuf,
}

#[pymethods]
impl PyAgentSink {
    #[new]
    #[pyo3(signature = (socket = None))]
    fn new(socket: Option<PathBuf>) -> Self {
        PyAgentSink {
            socket: socket.unwrap_or_else(spectra_core::telemetry::default_agent_socket),
        }
    }

    #[getter]
    fn socket(&self) -> PathBuf {
        self.socket.clone()
    }

    fn __repr__(&self) -> String {
        format!("AgentSink({:?})", self.socket)
    }
}

/// Records file accesses without blocking: `record()` queues, a background thread writes
/// batches to `sink` — a path (JSON lines appended), an `AgentSink` (the local agent, which
/// forwards them to the server) or a callable taking a list of dicts.
/// Metadata operations (`stat`, `list`) are kept at `metadata_sample_rate`.
#[pyclass(frozen, name = "Recorder", module = "spectra")]
pub struct PyRecorder {
    inner: Recorder,
}

impl std::fmt::Debug for PyRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

#[pymethods]
impl PyRecorder {
    #[new]
    // Core's defaults, read from `RecorderOptions::default()` rather than written again.
    #[pyo3(signature = (sink, *, batch_size = RecorderOptions::default().batch_size,
                        flush_interval = RecorderOptions::default().flush_interval.as_secs_f64(),
                        metadata_sample_rate = RecorderOptions::default().metadata_sample_rate,
                        queue_capacity = RecorderOptions::default().queue_capacity))]
    fn new(
        sink: &Bound<'_, PyAny>,
        batch_size: usize,
        flush_interval: f64,
        metadata_sample_rate: f64,
        queue_capacity: usize,
    ) -> PyResult<Self> {
        let sink: Box<dyn Sink> = if let Ok(agent) = sink.cast::<PyAgentSink>() {
            agent_sink(Some(&agent.get().socket)).map_err(CoreError::from)?
        } else if let Ok(path) = sink.extract::<PathBuf>() {
            Box::new(JsonLinesSink::create(&path).map_err(CoreError::from)?)
        } else if sink.is_callable() {
            Box::new(CallbackSink {
                callback: sink.clone().unbind(),
            })
        } else {
            return Err(PyTypeError::new_err(
                "sink must be a path (str or os.PathLike), a spectra.AgentSink or a callable taking \
                 a list of events",
            ));
        };
        let flush_interval = Duration::try_from_secs_f64(flush_interval).map_err(|e| {
            CoreError(spectra_core::Error::InvalidInput {
                what: "flush_interval".into(),
                message: e.to_string(),
            })
        })?;
        let options = RecorderOptions {
            queue_capacity,
            batch_size,
            flush_interval,
            metadata_sample_rate,
        };
        Ok(PyRecorder {
            inner: Recorder::new(sink, options).map_err(CoreError::from)?,
        })
    }

    /// Queues one access (`op`: open, read, write, create, delete, rename, stat, list) by
    /// `user` (a name; or `uid`) on `backend` (by default, the indexed root holding `path`);
    /// False when it was sampled out or dropped because the queue was full.
    #[pyo3(signature = (op, path, *, bytes = 0, uid = None, user = None, backend = None))]
    fn record(
        &self,
        op: &str,
        path: PathBuf,
        bytes: u64,
        uid: Option<u32>,
        user: Option<String>,
        backend: Option<String>,
    ) -> PyResult<bool> {
        let op: AccessOp = op.parse().map_err(CoreError::from)?;
        let mut event = AccessEvent::new(op, path).with_bytes(bytes);
        if let Some(uid) = uid {
            event = event.with_uid(uid);
        }
        if let Some(user) = user {
            event = event.with_user(user);
        }
        if let Some(backend) = backend {
            event = event.with_backend(backend);
        }
        Ok(self.inner.record(event))
    }

    /// Waits until every queued event has reached the sink.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        // Released: a callable sink needs the interpreter to run.
        py.detach(|| -> CoreResult<()> { Ok(self.inner.flush()?) })?;
        Ok(())
    }

    /// Flushes and stops recording; returns the final counts.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let stats = py.detach(|| -> CoreResult<_> { Ok(self.inner.close()?) })?;
        to_python(py, &stats)
    }

    /// Counts so far: recorded, sampled_out, dropped, written, failed.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.stats())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyAgentSink>()?;
    module.add_class::<PyRecorder>()
}
