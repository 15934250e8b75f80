//! The native half of the `spectra` Python package (`spectra._spectra`).
//!
//! No logic lives here: each function converts its arguments, calls `spectra-core` with the
//! interpreter released (`py.detach`), converts the result and maps errors once
//! (`src/errors.rs`). The friendly surface (records, DataFrames) is in `python/spectra/`.

mod convert;
mod errors;
mod policy;
mod scan;
mod telemetry;

use std::path::PathBuf;
use std::sync::OnceLock;

use pyo3::prelude::*;
use spectra_core::CancelToken;
use spectra_core::collect::{SampleOptions, Sampler};
use spectra_core::diagnose::{Diagnostic, DiagnosticLimits, Severity};

use convert::to_python;
use errors::CoreResult;

/// The module's collectors, kept between calls so a second `cpu()` reports usage since the
/// first (as `psutil.cpu_percent(interval=None)` does) instead of since boot. Each collector
/// has its own lock in core: a slow `applications()` does not hold up `cpu()`.
fn sampler() -> &'static Sampler {
    static SAMPLER: OnceLock<Sampler> = OnceLock::new();
    SAMPLER.get_or_init(Sampler::new)
}

/// One sample of collector `name` (`processes` lists its `top` busiest); the metric's data.
#[pyfunction]
#[pyo3(signature = (name, top = None))]
fn collect<'py>(py: Python<'py>, name: &str, top: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
    let metric =
        py.detach(|| -> CoreResult<_> { Ok(sampler().sample_with(name, SampleOptions { top })?) })?;
    let tagged = to_python(py, &metric)?;
    tagged.get_item("data")
}

/// Every collector: name, default interval, whether it works here and why not.
#[pyfunction]
fn collectors(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let capabilities = py.detach(|| sampler().capabilities());
    to_python(py, &capabilities)
}

/// Runs `diagnostic` under core's limits (the probe `timeout` in seconds when given) with the
/// interpreter released; Ctrl-C cancels it. Returns the diagnostic's result.
fn diagnose<'py>(
    py: Python<'py>,
    diagnostic: Diagnostic,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let limits = DiagnosticLimits::with_probe_seconds(timeout).map_err(errors::CoreError)?;
    let cancel = CancelToken::new();
    let outcome = std::thread::scope(|scope| {
        let running = scope.spawn(|| diagnostic.run(&limits, &cancel));
        // Python delivers Ctrl-C to the main thread only: look for it while the diagnostic runs.
        while !running.is_finished() {
            if py.check_signals().is_err() {
                cancel.cancel();
            }
            py.detach(|| std::thread::sleep(std::time::Duration::from_millis(50)));
        }
        running.join()
    });
    let outcome = match outcome {
        Ok(result) => result.map_err(errors::CoreError)?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    py.check_signals()?;
    to_python(py, &outcome.output)
}

#[pyfunction]
#[pyo3(signature = (host, count = None, timeout = None))]
fn ping<'py>(
    py: Python<'py>,
    host: String,
    count: Option<u32>,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let count = count.unwrap_or(spectra_core::diagnose::DEFAULT_PING_COUNT);
    diagnose(py, Diagnostic::Ping { host, count }, timeout)
}

#[pyfunction]
#[pyo3(signature = (host, port, timeout = None))]
fn tcp_connect<'py>(
    py: Python<'py>,
    host: String,
    port: u16,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    diagnose(py, Diagnostic::TcpConnect { host, port }, timeout)
}

#[pyfunction]
#[pyo3(signature = (host, max_hops = None, timeout = None))]
fn traceroute<'py>(
    py: Python<'py>,
    host: String,
    max_hops: Option<u8>,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let max_hops = max_hops.unwrap_or(spectra_core::diagnose::DEFAULT_MAX_HOPS);
    diagnose(py, Diagnostic::Traceroute { host, max_hops }, timeout)
}

#[pyfunction]
fn netstat(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    diagnose(py, Diagnostic::Netstat, None)
}

#[pyfunction]
fn mounts(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    diagnose(py, Diagnostic::Mounts, None)
}

/// Recent log lines at `severity` (`emerg` … `debug`) or worse.
#[pyfunction]
#[pyo3(signature = (severity = None, lines = None))]
fn logs<'py>(
    py: Python<'py>,
    severity: Option<&str>,
    lines: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let severity = match severity {
        Some(text) => text.parse::<Severity>().map_err(errors::CoreError)?,
        None => spectra_core::diagnose::DEFAULT_LOG_SEVERITY,
    };
    let lines = lines.unwrap_or(spectra_core::diagnose::DEFAULT_LOG_LINES);
    diagnose(py, Diagnostic::Logs { severity, lines }, None)
}

/// What fills `path`: the scanner's report (as a dict) with the `top` largest entries.
#[pyfunction]
#[pyo3(signature = (path, top = None))]
fn disk_usage(py: Python<'_>, path: PathBuf, top: Option<usize>) -> PyResult<Bound<'_, PyAny>> {
    let top = top.unwrap_or(spectra_core::diagnose::DEFAULT_DISK_USAGE_TOP);
    diagnose(py, Diagnostic::DiskUsage { path, top }, None)
}

/// Core's metric schema: every field of every collector's record by its dotted name (the
/// record's keys, as the server's series and Prometheus name it), with its unit, whether it
/// is a counter or a gauge, what "full" is where it fills up, and a line of help.
#[pyfunction]
fn metric_fields(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    to_python(py, spectra_core::metrics::fields())
}

/// The schema's entry for one field (`disk.usage_percent`, `processes.by_state.running`), or
/// None when core has no such field.
#[pyfunction]
fn metric_field<'py>(py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    spectra_core::metrics::field(name)
        .map(|field| to_python(py, field))
        .transpose()
}

#[pymodule]
fn _spectra(module: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(collect, module)?)?;
    module.add_function(wrap_pyfunction!(collectors, module)?)?;
    module.add_function(wrap_pyfunction!(metric_fields, module)?)?;
    module.add_function(wrap_pyfunction!(metric_field, module)?)?;
    module.add_function(wrap_pyfunction!(ping, module)?)?;
    module.add_function(wrap_pyfunction!(tcp_connect, module)?)?;
    module.add_function(wrap_pyfunction!(traceroute, module)?)?;
    module.add_function(wrap_pyfunction!(netstat, module)?)?;
    module.add_function(wrap_pyfunction!(mounts, module)?)?;
    module.add_function(wrap_pyfunction!(logs, module)?)?;
    module.add_function(wrap_pyfunction!(disk_usage, module)?)?;
    scan::register(module)?;
    policy::register(module)?;
    telemetry::register(module)?;
    Ok(())
}
