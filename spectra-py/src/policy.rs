//! `Policy`, `Plan`, `enforce` and `restore`.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use spectra_core::policy::{Action, ActionHooks, Plan, PlannedFile, Policy, StateDir};
use spectra_core::scan::{ScanControl, ScanOptions};

use crate::convert::{epoch_seconds, to_python};
use crate::errors::{CoreError, CoreResult};

/// A named list of rules (joined by AND) and an action. Rules are checked when the policy is
/// made, so a bad one raises `PolicyError` here, with its column and a caret.
#[pyclass(frozen, name = "Policy", module = "spectra")]
#[derive(Debug)]
pub struct PyPolicy {
    inner: Policy,
}

fn checked(policy: Policy) -> CoreResult<PyPolicy> {
    policy.compile()?;
    Ok(PyPolicy { inner: policy })
}

#[pymethods]
impl PyPolicy {
    /// `action` is `report`, `delete`, `archive` or `move` (the last two need `destination`).
    #[new]
    #[pyo3(signature = (name, rules, action = "report", *, description = String::new(),
                        scope = Vec::new(), destination = None))]
    fn new(
        name: String,
        rules: Vec<String>,
        action: &str,
        description: String,
        scope: Vec<PathBuf>,
        destination: Option<PathBuf>,
    ) -> PyResult<Self> {
        let action = Action::named(action, destination).map_err(CoreError)?;
        let policy = Policy {
            name,
            description,
            rules,
            action,
            scope,
            limits: Default::default(),
        };
        Ok(checked(policy)?)
    }

    /// A policy from TOML (the on-disk form).
    #[staticmethod]
    fn from_toml(text: &str) -> PyResult<Self> {
        Ok(checked(Policy::from_toml(text).map_err(CoreError::from)?)?)
    }

    /// A policy from JSON (the seed's and the server's form).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        Ok(checked(Policy::from_json(text).map_err(CoreError::from)?)?)
    }

    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }
    #[getter]
    fn rules(&self) -> Vec<String> {
        self.inner.rules.clone()
    }
    #[getter]
    fn action<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.action)
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }

    /// A dry run over `path`: what the policy would act on. Nothing changes on disk; the plan
    /// is saved under the state directory so `enforce(plan.id)` acts on exactly it.
    #[pyo3(signature = (path, *, state_dir = None, exclude = Vec::new(), one_file_system = None))]
    fn plan(
        &self,
        py: Python<'_>,
        path: PathBuf,
        state_dir: Option<PathBuf>,
        exclude: Vec<String>,
        one_file_system: Option<bool>,
    ) -> PyResult<PyPlan> {
        let plan = py.detach(|| -> CoreResult<Plan> {
            let mut options = ScanOptions::for_policy([path]);
            if let Some(on) = one_file_system {
                options = options.with_one_file_system(on);
            }
            for pattern in exclude {
                options = options.with_exclude(pattern);
            }
            let saved =
                StateDir::resolve(state_dir).plan(&self.inner, options, ScanControl::new())?;
            Ok(saved.plan)
        })?;
        Ok(PyPlan { inner: plan })
    }

    fn __repr__(&self) -> String {
        format!(
            "Policy(name={:?}, rules={:?})",
            self.inner.name, self.inner.rules
        )
    }
}

/// What a dry run found: the matching files and their total, identified by `id`.
#[pyclass(frozen, name = "Plan", module = "spectra")]
#[derive(Debug)]
pub struct PyPlan {
    inner: Plan,
}

#[pymethods]
impl PyPlan {
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }
    #[getter]
    fn policy(&self) -> PyPolicy {
        PyPolicy {
            inner: self.inner.policy.clone(),
        }
    }
    #[getter]
    fn total_bytes(&self) -> u64 {
        self.inner.total_bytes
    }
    #[getter]
    fn scanned_bytes(&self) -> u64 {
        self.inner.scanned_bytes
    }
    #[getter]
    fn file_count(&self) -> usize {
        self.inner.files.len()
    }
    /// The matching files, as `PlannedFile` objects.
    #[getter]
    fn matches(&self) -> Vec<PyPlannedFile> {
        self.inner
            .files
            .iter()
            .map(|file| PyPlannedFile {
                inner: file.clone(),
            })
            .collect()
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }
    /// The matches as a DataFrame: path, size, disk_size, mtime (seconds), uid, gid.
    fn to_pandas<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let files = &self.inner.files;
        let columns = PyDict::new(py);
        columns.set_item(
            "path",
            files.iter().map(|f| f.path.to_string()).collect::<Vec<_>>(),
        )?;
        columns.set_item("size", files.iter().map(|f| f.size).collect::<Vec<_>>())?;
        columns.set_item(
            "disk_size",
            files.iter().map(|f| f.disk_size).collect::<Vec<_>>(),
        )?;
        columns.set_item(
            "mtime",
            files
                .iter()
                .map(|f| epoch_seconds(f.mtime))
                .collect::<Vec<_>>(),
        )?;
        columns.set_item("uid", files.iter().map(|f| f.uid).collect::<Vec<_>>())?;
        columns.set_item("gid", files.iter().map(|f| f.gid).collect::<Vec<_>>())?;
        crate::scan::data_frame(py, &columns)
    }
    fn __repr__(&self) -> String {
        format!(
            "Plan(id={:?}, files={}, total_bytes={})",
            self.inner.id,
            self.inner.files.len(),
            self.inner.total_bytes
        )
    }
}

/// One file a plan would act on, as it was when planned (enforcement checks it again).
#[pyclass(frozen, name = "PlannedFile", module = "spectra")]
#[derive(Debug)]
pub struct PyPlannedFile {
    inner: PlannedFile,
}

#[pymethods]
impl PyPlannedFile {
    #[getter]
    fn path(&self) -> String {
        self.inner.path.to_string()
    }
    #[getter]
    fn size(&self) -> u64 {
        self.inner.size
    }
    #[getter]
    fn disk_size(&self) -> u64 {
        self.inner.disk_size
    }
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
    fn nlink(&self) -> Option<u64> {
        self.inner.nlink
    }
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner)
    }
    fn __repr__(&self) -> String {
        format!(
            "PlannedFile(path={:?}, size={})",
            self.path(),
            self.inner.size
        )
    }
}

/// Carries out a saved plan under the safety rules (each file checked again, limits on,
/// deletes into a quarantine, an audit record). Returns what was done and what was skipped.
#[pyfunction]
#[pyo3(signature = (plan_id, *, state_dir = None, override_limits = false))]
fn enforce<'py>(
    py: Python<'py>,
    plan_id: &str,
    state_dir: Option<PathBuf>,
    override_limits: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let outcome = py.detach(|| -> CoreResult<_> {
        let (_, outcome) = StateDir::resolve(state_dir).enforce(
            plan_id,
            override_limits,
            ActionHooks::default(),
        )?;
        Ok(outcome)
    })?;
    to_python(py, &outcome)
}

/// Puts back what enforcing `plan_id` quarantined; returns the restored paths.
#[pyfunction]
#[pyo3(signature = (plan_id, *, state_dir = None))]
fn restore(py: Python<'_>, plan_id: &str, state_dir: Option<PathBuf>) -> PyResult<Vec<String>> {
    let restored = py.detach(|| -> CoreResult<_> {
        Ok(StateDir::resolve(state_dir).restore(plan_id, ActionHooks::default())?)
    })?;
    Ok(restored
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyPolicy>()?;
    module.add_class::<PyPlan>()?;
    module.add_class::<PyPlannedFile>()?;
    module.add_function(wrap_pyfunction!(enforce, module)?)?;
    module.add_function(wrap_pyfunction!(restore, module)?)?;
    Ok(())
}
