//! A uniffi interface to `spectra-core` for Kotlin, Swift and Python: scans, collectors and
//! policies. It is uniffi's own ABI, kept apart from the C header of `spectra-ffi`; like every
//! binding it converts, calls core, and maps errors once ([`SpectraError::from`]).
//!
//! Generate the bindings in library mode:
//! `uniffi-bindgen generate --library libspectra_uniffi.so --language kotlin --out-dir out`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use spectra_core::collect::{Metric, SampleOptions, Sampler};
use spectra_core::policy::{ActionHooks, StateDir};
use spectra_core::scan::{ScanControl, Scanner};

uniffi::setup_scaffolding!();

/// Every failure of core, with its stable code (`not_found`, `invalid_rule`, …) and number,
/// and where known the path and a policy rule's line and column.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum SpectraError {
    #[error("{message}")]
    Failed {
        code: String,
        number: u32,
        message: String,
        path: Option<String>,
        line: Option<u32>,
        column: Option<u32>,
    },
}

impl From<spectra_core::Error> for SpectraError {
    fn from(error: spectra_core::Error) -> Self {
        let body = error.body();
        SpectraError::Failed {
            code: body.code,
            number: error.code().as_u32(),
            message: body.message,
            path: body.path,
            line: body.line.and_then(|n| u32::try_from(n).ok()),
            column: body.column.and_then(|n| u32::try_from(n).ok()),
        }
    }
}

type Result<T> = std::result::Result<T, SpectraError>;

/// How to scan: core's `ScanSettings` field for field (the names of the CLI's flags); a field
/// left `None` keeps core's default. It reaches core through serde by name, so a setting core
/// has and this record lacks fails the test below.
#[derive(Debug, Clone, Default, serde::Serialize, uniffi::Record)]
pub struct ScanSettings {
    #[uniffi(default = None)]
    pub top: Option<u32>,
    #[uniffi(default = None)]
    pub top_extensions: Option<u32>,
    #[uniffi(default = [])]
    pub exclude: Vec<String>,
    #[uniffi(default = None)]
    pub one_file_system: Option<bool>,
    #[uniffi(default = None)]
    pub apparent_size: Option<bool>,
    #[uniffi(default = None)]
    pub threads: Option<u32>,
    #[uniffi(default = None)]
    pub max_depth: Option<u32>,
    #[uniffi(default = None)]
    pub follow_symlinks: Option<bool>,
    #[uniffi(default = None)]
    pub count_links: Option<bool>,
    /// `native` or `portable`.
    #[uniffi(default = None)]
    pub walker: Option<String>,
}

impl ScanSettings {
    fn core(&self) -> Result<spectra_core::scan::ScanSettings> {
        let value = serde_json::to_value(self).unwrap_or_default();
        Ok(spectra_core::scan::ScanSettings::from_value(value)?)
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct Entry {
    pub path: String,
    pub apparent_bytes: u64,
    pub disk_bytes: u64,
}

/// A finished scan: the totals, the largest entries, and the whole report as JSON.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ScanSummary {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub apparent_bytes: u64,
    pub disk_bytes: u64,
    pub errors: u64,
    pub partial: bool,
    pub duration_secs: f64,
    pub largest_files: Vec<Entry>,
    pub largest_dirs: Vec<Entry>,
    pub report_json: String,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Scans `path`.
#[uniffi::export]
pub fn scan(path: String, settings: ScanSettings) -> Result<ScanSummary> {
    let options = settings.core()?.options(vec![PathBuf::from(path)]);
    let report = Scanner::new(options)?.scan_controlled(ScanControl::new())?;
    let entries = |list: &[spectra_core::scan::SizedPath]| {
        list.iter()
            .map(|e| Entry {
                path: e.path.to_string(),
                apparent_bytes: e.apparent_bytes,
                disk_bytes: e.disk_bytes,
            })
            .collect()
    };
    Ok(ScanSummary {
        files: report.totals.files,
        dirs: report.totals.dirs,
        symlinks: report.totals.symlinks,
        apparent_bytes: report.totals.apparent_bytes,
        disk_bytes: report.totals.disk_bytes,
        errors: report.errors.count,
        partial: report.partial,
        duration_secs: report.duration_secs,
        largest_files: entries(&report.largest_files),
        largest_dirs: entries(&report.largest_dirs),
        report_json: json(&report),
    })
}

fn sampler() -> &'static Sampler {
    static SAMPLER: OnceLock<Sampler> = OnceLock::new();
    SAMPLER.get_or_init(Sampler::new)
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct Capability {
    pub name: String,
    pub supported: bool,
    pub reason: Option<String>,
}

/// Every collector and whether it works here.
#[uniffi::export]
pub fn collectors() -> Vec<Capability> {
    sampler()
        .capabilities()
        .into_iter()
        .map(|c| Capability {
            name: c.name.to_string(),
            supported: c.supported,
            reason: c.reason.map(|r| r.message),
        })
        .collect()
}

/// One sample of collector `name` (`top` limits `processes`) as JSON.
#[uniffi::export]
pub fn collect_json(name: String, top: Option<u32>) -> Result<String> {
    let top = top.map(|n| n as usize);
    let metric = sampler().sample_with(&name, SampleOptions { top })?;
    let mut tagged = serde_json::to_value(&metric).unwrap_or_default();
    Ok(tagged["data"].take().to_string())
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct MemoryInfo {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

/// Memory in bytes.
#[uniffi::export]
pub fn memory() -> Result<MemoryInfo> {
    match sampler().sample("memory")? {
        Metric::Memory(m) => Ok(MemoryInfo {
            total: m.total,
            used: m.used,
            available: m.available,
            swap_total: m.swap_total,
            swap_used: m.swap_used,
        }),
        other => Err(unexpected(&other)),
    }
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct CpuInfo {
    pub usage_percent: f64,
    pub core_count: u32,
    pub load_1: f64,
}

/// CPU usage since the previous call (since boot on the first).
#[uniffi::export]
pub fn cpu() -> Result<CpuInfo> {
    match sampler().sample("cpu")? {
        Metric::Cpu(c) => Ok(CpuInfo {
            usage_percent: c.total.usage_percent,
            core_count: u32::try_from(c.core_count).unwrap_or(u32::MAX),
            load_1: c.load_1,
        }),
        other => Err(unexpected(&other)),
    }
}

fn unexpected(metric: &Metric) -> SpectraError {
    spectra_core::Error::InvalidData {
        what: "collector result".into(),
        message: format!("unexpected {} metric", metric.kind()),
    }
    .into()
}

/// A checked policy.
#[derive(Debug, uniffi::Object)]
pub struct Policy {
    inner: spectra_core::policy::Policy,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct PlanSummary {
    pub id: String,
    pub files: u64,
    pub total_bytes: u64,
    pub plan_json: String,
}

#[uniffi::export]
impl Policy {
    /// Parses and checks a policy; a bad rule is `invalid_rule` with its line and column.
    #[uniffi::constructor]
    pub fn from_toml(text: String) -> Result<Arc<Self>> {
        let inner = spectra_core::policy::Policy::from_toml(&text)?;
        inner.compile()?;
        Ok(Arc::new(Policy { inner }))
    }

    pub fn name(&self) -> String {
        self.inner.name.clone()
    }

    pub fn rules(&self) -> Vec<String> {
        self.inner.rules.clone()
    }

    /// A dry run over `path`, saved under `state_dir` (or the default state directory).
    pub fn plan(&self, path: String, state_dir: Option<String>) -> Result<PlanSummary> {
        let options = spectra_core::scan::ScanOptions::for_policy([PathBuf::from(path)]);
        let saved = StateDir::resolve(state_dir.map(PathBuf::from)).plan(
            &self.inner,
            options,
            ScanControl::new(),
        )?;
        Ok(PlanSummary {
            id: saved.plan.id.clone(),
            files: saved.plan.files.len() as u64,
            total_bytes: saved.plan.total_bytes,
            plan_json: json(&saved.plan),
        })
    }
}

/// Carries out a saved plan under the safety rules; the outcome as JSON.
#[uniffi::export]
pub fn enforce(
    plan_id: String,
    state_dir: Option<String>,
    override_limits: bool,
) -> Result<String> {
    let (_, outcome) = StateDir::resolve(state_dir.map(PathBuf::from)).enforce(
        &plan_id,
        override_limits,
        ActionHooks::default(),
    )?;
    Ok(json(&outcome))
}

/// Puts back what enforcing `plan_id` quarantined; the restored paths.
#[uniffi::export]
pub fn restore(plan_id: String, state_dir: Option<String>) -> Result<Vec<String>> {
    let restored = StateDir::resolve(state_dir.map(PathBuf::from))
        .restore(&plan_id, ActionHooks::default())?;
    Ok(restored
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect())
}

/// The version of spectra-core.
#[uniffi::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_carries_every_setting_core_has() {
        let record = serde_json::to_value(ScanSettings::default()).expect("JSON");
        let mut names: Vec<String> = record
            .as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect();
        let mut known = spectra_core::scan::ScanSettings::names();
        names.sort();
        known.sort();
        assert_eq!(names, known);
    }
}
