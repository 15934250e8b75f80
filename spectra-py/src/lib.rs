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

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pyo3::prelude::*;
use spectra_core::collect::{Collector, Host, ProcessCollector};
use spectra_core::diagnose;

use convert::to_python;
use errors::CoreResult;

/// Collectors kept between calls, so a second `cpu()` reports usage since the first (as
/// `psutil.cpu_percent(interval=None)` does) instead of since boot.
static COLLECTORS: Mutex<Option<HashMap<String, Box<dyn Collector>>>> = Mutex::new(None);

/// One sample of collector `name` (`processes` keeps its `top` busiest); the metric's data.
#[pyfunction]
#[pyo3(signature = (name, top = None))]
fn collect<'py>(py: Python<'py>, name: &str, top: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
    let metric = py.detach(|| -> CoreResult<_> {
        let mut kept = COLLECTORS.lock().unwrap_or_else(PoisonError::into_inner);
        let kept = kept.get_or_insert_with(HashMap::new);
        let key = match top {
            Some(top) => format!("{name}:{top}"),
            None => name.to_owned(),
        };
        let collector = match kept.entry(key) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let made: Box<dyn Collector> = match (name, top) {
                    ("processes", Some(top)) => Box::new(ProcessCollector::new(Host::real(), top)),
                    _ => spectra_core::collect::by_name(name)?,
                };
                slot.insert(made)
            }
        };
        Ok(collector.collect()?)
    })?;
    let tagged = to_python(py, &metric)?;
    tagged.get_item("data")
}

/// Every collector: name, default interval, whether it works here and why not.
#[pyfunction]
fn collectors(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let capabilities = py.detach(spectra_core::collect::capabilities);
    to_python(py, &capabilities)
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("timeout: {e}")))
}

#[pyfunction]
#[pyo3(signature = (host, count = 4, timeout = 2.0))]
fn ping<'py>(py: Python<'py>, host: &str, count: u32, timeout: f64) -> PyResult<Bound<'py, PyAny>> {
    let timeout = seconds(timeout)?;
    let result = py.detach(|| -> CoreResult<_> { Ok(diagnose::ping(host, count, timeout)?) })?;
    to_python(py, &result)
}

#[pyfunction]
#[pyo3(signature = (host, port, timeout = 2.0))]
fn tcp_connect<'py>(
    py: Python<'py>,
    host: &str,
    port: u16,
    timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let timeout = seconds(timeout)?;
    let result =
        py.detach(|| -> CoreResult<_> { Ok(diagnose::tcp_connect(host, port, timeout)?) })?;
    to_python(py, &result)
}

#[pyfunction]
#[pyo3(signature = (host, max_hops = 30, timeout = 2.0))]
fn traceroute<'py>(
    py: Python<'py>,
    host: &str,
    max_hops: u8,
    timeout: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let timeout = seconds(timeout)?;
    let result =
        py.detach(|| -> CoreResult<_> { Ok(diagnose::traceroute(host, max_hops, timeout)?) })?;
    to_python(py, &result)
}

#[pyfunction]
fn netstat(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let sockets = py.detach(|| -> CoreResult<_> { Ok(diagnose::netstat()?) })?;
    to_python(py, &sockets)
}

#[pyfunction]
fn mounts(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let mounts = py.detach(|| -> CoreResult<_> { Ok(diagnose::mounts()?) })?;
    to_python(py, &mounts)
}

#[pymodule]
fn _spectra(module: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(module)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(collect, module)?)?;
    module.add_function(wrap_pyfunction!(collectors, module)?)?;
    module.add_function(wrap_pyfunction!(ping, module)?)?;
    module.add_function(wrap_pyfunction!(tcp_connect, module)?)?;
    module.add_function(wrap_pyfunction!(traceroute, module)?)?;
    module.add_function(wrap_pyfunction!(netstat, module)?)?;
    module.add_function(wrap_pyfunction!(mounts, module)?)?;
    scan::register(module)?;
    policy::register(module)?;
    telemetry::register(module)?;
    Ok(())
}
