//! `scan`, `ScanReport` and `iter_files`.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use spectra_core::scan::{
    DEFAULT_PROGRESS_INTERVAL, DEFAULT_STREAM_CAPACITY, FileRecord, FileStream, Next, ScanControl,
    ScanOptions, ScanReport, ScanSettings, Scanner,
};

use crate::convert::{epoch_seconds, to_python};
use crate::errors::{CoreError, CoreResult};

/// Core's scan options from keyword arguments (`scan(path, top=3, max_depth=2)`): core's
/// `ScanSettings` by name, its defaults for what is left out; an unknown name is a
/// `ValueError` listing the known ones.
fn options(path: PathBuf, settings: Option<&Bound<'_, PyDict>>) -> PyResult<ScanOptions> {
    let settings = match settings {
        None => ScanSettings::default(),
        Some(settings) => {
            let text: String = settings
                .py()
                .import("json")?
                .call_method1("dumps", (settings,))?
                .extract()?;
            ScanSettings::from_json(&text).map_err(CoreError::from)?
        }
    };
    Ok(settings.options(vec![path]))
}

/// What a finished scan found. Sizes are in bytes; `total_bytes` counts in the scan's size
/// mode (on-disk unless `apparent_size=True`).
#[pyclass(frozen, name = "ScanReport", module = "spectra")]
#[derive(Debug)]
pub struct PyScanReport {
    inner: ScanReport,
}

#[pymethods]
impl PyScanReport {
    #[getter]
    fn total_bytes(&self) -> u64 {
        let t = &self.inner.totals;
        self.inner.size_mode.pick(t.apparent_bytes, t.disk_bytes)
    }
    #[getter]
    fn apparent_bytes(&self) -> u64 {
        self.inner.totals.apparent_bytes
    }
    #[getter]
    fn disk_bytes(&self) -> u64 {
        self.inner.totals.disk_bytes
    }
    #[getter]
    fn file_count(&self) -> u64 {
        self.inner.totals.files
    }
    #[getter]
    fn dir_count(&self) -> u64 {
        self.inner.totals.dirs
    }
    #[getter]
    fn symlink_count(&self) -> u64 {
        self.inner.totals.symlinks
    }
    #[getter]
    fn error_count(&self) -> u64 {
        self.inner.errors.count
    }
    #[getter]
    fn partial(&self) -> bool {
        self.inner.partial
    }
    #[getter]
    fn cancelled(&self) -> bool {
        self.inner.cancelled
    }
    /// Which walker produced the report: `native` (Linux) or `portable`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.inner.backend.as_str()
    }
    /// True where the platform reports no allocated blocks (Windows): disk sizes are then
    /// apparent sizes.
    #[getter]
    fn disk_bytes_are_apparent(&self) -> bool {
        self.inner.disk_bytes_are_apparent
    }
    #[getter]
    fn duration(&self) -> f64 {
        self.inner.duration_secs
    }
    #[getter]
    fn roots(&self) -> Vec<String> {
        self.inner.roots.iter().map(|r| r.to_string()).collect()
    }
    /// `[{"path", "apparent_bytes", "disk_bytes"}]`, largest first.
    #[getter]
    fn largest_files<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.largest_files)
    }
    #[getter]
    fn largest_dirs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.largest_dirs)
    }
    /// `[{"name", "count", "bytes"}]` by extension, largest first.
    #[getter]
    fn extensions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.extensions)
    }
    /// `[{"uid", "user", "count", "bytes"}]`, largest first.
    #[getter]
    fn owners<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.owners)
    }
    #[getter]
    fn age_by_mtime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.age_by_mtime)
    }
    #[getter]
    fn age_by_atime<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.age_by_atime)
    }

    /// The whole report as plain data (the JSON document every frontend gets).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }

    /// Every figure as a long DataFrame: section, name, count, bytes.
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rows = self.inner.summary_rows();
        let columns = PyDict::new(py);
        columns.set_item(
            "section",
            rows.iter().map(|r| r.section).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "name",
            rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        )?;
        columns.set_item("count", rows.iter().map(|r| r.count).collect::<Vec<_>>())?;
        columns.set_item("bytes", rows.iter().map(|r| r.bytes).collect::<Vec<_>>())?;
        data_frame(py, &columns)
    }

    /// The largest files as a DataFrame: path, bytes (in the size mode), apparent_bytes,
    /// disk_bytes.
    fn largest_files_frame<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let files = &self.inner.largest_files;
        let mode = self.inner.size_mode;
        let columns = PyDict::new(py);
        columns.set_item(
            "path",
            files.iter().map(|f| f.path.to_string()).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "bytes",
            files.iter().map(|f| f.bytes(mode)).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "apparent_bytes",
            files.iter().map(|f| f.apparent_bytes).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "disk_bytes",
            files.iter().map(|f| f.disk_bytes).collect::<Vec<_>>(),
        )?;
        data_frame(py, &columns)
    }

    fn __repr__(&self) -> String {
        format!(
            "ScanReport(roots={:?}, files={}, total_bytes={}, partial={})",
            self.roots(),
            self.inner.totals.files,
            self.total_bytes(),
            self.inner.partial
        )
    }
}

/// `pandas.DataFrame(columns)` with uint64 columns kept as such.
pub(crate) fn data_frame<'py>(
    py: Python<'py>,
    columns: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let pandas = py.import("pandas").map_err(|_| {
        PyImportError::new_err(
            "pandas is needed for DataFrames: pip install pandas (or spectra-py[pandas])",
        )
    })?;
    pandas.getattr("DataFrame")?.call1((columns,))
}

/// Scans `path` with the interpreter released. The settings are core's `ScanSettings` by
/// name (`top`, `top_extensions`, `exclude`, `one_file_system`, `apparent_size`, `threads`,
/// `max_depth`, `follow_symlinks`, `count_links`, `walker`), as the CLI's flags.
/// `progress(entries, bytes)` is called from this thread about five times a second; Ctrl-C
/// (or an exception raised by `progress`) cancels the walk and is raised here.
#[pyfunction]
#[pyo3(signature = (path, *, progress = None, **settings))]
fn scan(
    py: Python<'_>,
    path: PathBuf,
    progress: Option<Py<PyAny>>,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<PyScanReport> {
    let options = options(path, settings)?;
    // Ctrl-C stops the scan as KeyboardInterrupt; an exception of `progress` stops it as
    // `CallbackError`, with the exception as its cause.
    let interrupted: Mutex<Option<PyErr>> = Mutex::new(None);
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let report = py.detach(|| -> CoreResult<ScanReport> {
        let scanner = Scanner::new(options)?;
        let control = ScanControl::new().on_progress(|seen| {
            Python::attach(|py| {
                let (slot, error) = match py.check_signals() {
                    Err(e) => (&interrupted, e),
                    Ok(()) => match &progress {
                        Some(callback) => match callback.call1(py, (seen.entries, seen.bytes)) {
                            Ok(_) => return ControlFlow::Continue(()),
                            Err(e) => (&raised, e),
                        },
                        None => return ControlFlow::Continue(()),
                    },
                };
                if let Ok(mut slot) = slot.lock() {
                    slot.get_or_insert(error);
                }
                ControlFlow::Break(())
            })
        });
        Ok(scanner.scan_controlled(control)?)
    });
    if let Some(interrupt) = interrupted.into_inner().ok().flatten() {
        return Err(interrupt);
    }
    if let Some(cause) = raised.into_inner().ok().flatten() {
        let error = PyErr::from(CoreError(spectra_core::Error::callback(
            "scan progress callback",
            cause.to_string(),
        )));
        error.set_cause(py, Some(cause));
        return Err(error);
    }
    Ok(PyScanReport { inner: report? })
}

/// One entry from `iter_files`.
#[pyclass(frozen, name = "FileEntry", module = "spectra")]
#[derive(Debug)]
pub struct PyFileEntry {
    inner: FileRecord,
}

#[pymethods]
impl PyFileEntry {
    #[getter]
    fn path(&self) -> String {
        self.inner.path.to_string()
    }
    /// `file`, `dir`, `symlink` or `other`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.as_str()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }
    #[getter]
    fn disk_size(&self) -> u64 {
        self.inner.disk_size
    }
    /// Seconds since the epoch, or None when the filesystem does not say.
    #[getter]
    fn mtime(&self) -> Option<f64> {
        epoch_seconds(self.inner.mtime)
    }
    #[getter]
    fn atime(&self) -> Option<f64> {
        epoch_seconds(self.inner.atime)
    }
    #[getter]
    fn uid(&self) -> Option<u32> {
        self.inner.uid
    }
    #[getter]
    fn gid(&self) -> Option<u32> {
        self.inner.gid
    }
    #[getter]
    fn depth(&self) -> usize {
        self.inner.depth
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "FileEntry(path={:?}, kind={:?}, size={})",
            self.path(),
            self.kind(),
            self.inner.size
        )
    }
}

/// The entries of a scan, as they are found (the walk runs ahead by a bounded amount).
#[pyclass(frozen, name = "FileIterator", module = "spectra")]
#[derive(Debug)]
pub struct PyFileIterator {
    // A Mutex only because Python objects may move between threads; one iterator is read by
    // one thread at a time.
    stream: Mutex<Option<FileStream>>,
}

#[pymethods]
impl PyFileIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyFileEntry>> {
        let mut slot = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let Some(stream) = slot.as_mut() else {
                return Ok(None);
            };
            match py.detach(|| stream.next_timeout(DEFAULT_PROGRESS_INTERVAL)) {
                Next::Entry(record) => return Ok(Some(PyFileEntry { inner: record })),
                Next::Waiting => {
                    if let Err(interrupt) = py.check_signals() {
                        drop(slot);
                        self.close(py)?;
                        return Err(interrupt);
                    }
                }
                Next::Done => {
                    if let Some(stream) = slot.take() {
                        py.detach(|| stream.finish()).map_err(CoreError::from)?;
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Stops the walk early.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let stream = self
            .stream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stream) = stream {
            // A cancelled walk reports what it saw; only an error of the walk itself matters.
            py.detach(|| stream.finish())
                .map(drop)
                .map_err(CoreError::from)?;
        }
        Ok(())
    }
}

/// Streams every entry under `path` (directories, files, symlinks) without holding them all.
/// Takes the scan's settings by name, as `scan` does (`top` and `apparent_size` do not change
/// what is streamed).
#[pyfunction]
#[pyo3(signature = (path, **settings))]
fn iter_files(path: PathBuf, settings: Option<&Bound<'_, PyDict>>) -> PyResult<PyFileIterator> {
    let options = options(path, settings)?;
    let scanner = Scanner::new(options).map_err(CoreError::from)?;
    Ok(PyFileIterator {
        stream: Mutex::new(Some(scanner.stream(DEFAULT_STREAM_CAPACITY))),
    })
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyScanReport>()?;
    module.add_class::<PyFileEntry>()?;
    module.add_class::<PyFileIterator>()?;
    module.add_function(wrap_pyfunction!(scan, module)?)?;
    module.add_function(wrap_pyfunction!(iter_files, module)?)?;
    Ok(())
}
