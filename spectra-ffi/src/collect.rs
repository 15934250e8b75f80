//! Collectors (by name as JSON, and typed SIGAR-style structs for the hot ones) and
//! diagnostics.

use std::ffi::c_char;
use std::sync::OnceLock;

use spectra_core::CancelToken;
use spectra_core::collect::{Metric, SampleOptions, Sampler};
use spectra_core::diagnose::{Diagnostic, DiagnosticLimits};

use crate::errors::{Failure, guard, spectra_result};
use crate::strings::{optional_string_arg, out_arg, string_arg, write_json};

/// The process's collectors, kept between calls so a second `spectra_cpu` reports usage
/// since the first. Each has its own lock in core.
fn sampler() -> &'static Sampler {
    static SAMPLER: OnceLock<Sampler> = OnceLock::new();
    SAMPLER.get_or_init(Sampler::new)
}

/// CPU usage since the previous call (since boot on the first), as percentages.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spectra_cpu_info {
    pub usage_percent: f64,
    pub user_percent: f64,
    pub system_percent: f64,
    pub idle_percent: f64,
    pub iowait_percent: f64,
    pub steal_percent: f64,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub core_count: u32,
    /// NaN when the system does not say.
    pub frequency_mhz: f64,
}

/// Memory in bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spectra_memory_info {
    pub total: u64,
    pub used: u64,
    pub available: u64,
    pub free: u64,
    pub buffers: u64,
    pub cached: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    /// The cgroup's memory limit; 0 when there is none.
    pub cgroup_limit: u64,
}

/// One mounted file system's usage, in bytes and inodes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spectra_disk_info {
    pub total: u64,
    pub used: u64,
    pub free: u64,
    pub usage_percent: f64,
    pub inodes_total: u64,
    pub inodes_used: u64,
    pub inodes_free: u64,
}

/// Interface counters since boot (summed over every interface when asked for none).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct spectra_network_info {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
}

fn sample(name: &str) -> Result<Metric, Failure> {
    Ok(sampler().sample(name)?)
}

fn unexpected(metric: &Metric) -> Failure {
    Failure::from(spectra_core::Error::InvalidData {
        what: "collector result".into(),
        message: format!("unexpected {} metric", metric.kind()),
    })
}

fn write<T>(out: *mut T, value: T) -> Result<(), Failure> {
    let out = out_arg(out, "out")?;
    // SAFETY: non-NULL, and valid for a write by the caller's promise.
    unsafe { out.write(value) };
    Ok(())
}

/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_cpu(out: *mut spectra_cpu_info) -> spectra_result {
    guard(|| {
        out_arg(out, "out")?;
        let metric = sample("cpu")?;
        let Metric::Cpu(cpu) = &metric else {
            return Err(unexpected(&metric));
        };
        let t = &cpu.total;
        write(
            out,
            spectra_cpu_info {
                usage_percent: t.usage_percent,
                user_percent: t.user_percent,
                system_percent: t.system_percent,
                idle_percent: t.idle_percent,
                iowait_percent: t.iowait_percent,
                steal_percent: t.steal_percent,
                load_1: cpu.load_1,
                load_5: cpu.load_5,
                load_15: cpu.load_15,
                core_count: u32::try_from(cpu.core_count).unwrap_or(u32::MAX),
                frequency_mhz: cpu.frequency_mhz.unwrap_or(f64::NAN),
            },
        )
    })
}

/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_memory(out: *mut spectra_memory_info) -> spectra_result {
    guard(|| {
        out_arg(out, "out")?;
        let metric = sample("memory")?;
        let Metric::Memory(m) = &metric else {
            return Err(unexpected(&metric));
        };
        write(
            out,
            spectra_memory_info {
                total: m.total,
                used: m.used,
                available: m.available,
                free: m.free,
                buffers: m.buffers,
                cached: m.cached,
                swap_total: m.swap_total,
                swap_used: m.swap_used,
                cgroup_limit: m.cgroup_limit.unwrap_or(0),
            },
        )
    })
}

/// The file system mounted at `mount_point` (`SPECTRA_RESULT_NOT_FOUND` if none is).
///
/// # Safety
/// `mount_point` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_disk(
    mount_point: *const c_char,
    out: *mut spectra_disk_info,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let mount_point = unsafe { string_arg(mount_point, "mount_point") }?;
        out_arg(out, "out")?;
        let metric = sample("disk")?;
        let Metric::Disk(mounts) = &metric else {
            return Err(unexpected(&metric));
        };
        let mount = mounts
            .iter()
            .find(|m| m.mount_point == mount_point)
            .ok_or_else(|| {
                Failure::from(spectra_core::Error::Io {
                    path: mount_point.into(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no file system is mounted here",
                    ),
                })
            })?;
        write(
            out,
            spectra_disk_info {
                total: mount.total,
                used: mount.used,
                free: mount.free,
                usage_percent: mount.usage_percent,
                inodes_total: mount.inodes_total,
                inodes_used: mount.inodes_used,
                inodes_free: mount.inodes_free,
            },
        )
    })
}

/// Counters of interface `name`, or of every interface summed when `name` is NULL
/// (`SPECTRA_RESULT_NOT_FOUND` for an unknown name).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_network(
    name: *const c_char,
    out: *mut spectra_network_info,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let name = unsafe { optional_string_arg(name, "name") }?;
        out_arg(out, "out")?;
        let metric = sample("network")?;
        let Metric::Network(interfaces) = &metric else {
            return Err(unexpected(&metric));
        };
        let chosen: Vec<_> = interfaces
            .iter()
            .filter(|i| name.is_none_or(|n| i.name == n))
            .collect();
        if let (Some(name), true) = (name, chosen.is_empty()) {
            return Err(Failure::from(spectra_core::Error::Io {
                path: name.into(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such interface"),
            }));
        }
        let mut sum = spectra_network_info::default();
        for i in chosen {
            sum.rx_bytes += i.rx_bytes;
            sum.rx_packets += i.rx_packets;
            sum.rx_errors += i.rx_errors;
            sum.rx_drops += i.rx_drops;
            sum.tx_bytes += i.tx_bytes;
            sum.tx_packets += i.tx_packets;
            sum.tx_errors += i.tx_errors;
            sum.tx_drops += i.tx_drops;
        }
        write(out, sum)
    })
}

/// One sample of collector `name` as JSON (the metric's data, as the CLI's `collect --format
/// json` and the other bindings give it); `top` limits `processes` (0: core's default).
/// Unsupported collectors answer `SPECTRA_RESULT_UNSUPPORTED` with the reason.
///
/// # Safety
/// `name` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_collect_json(
    name: *const c_char,
    top: usize,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let name = unsafe { string_arg(name, "name") }?;
        let top = (top > 0).then_some(top);
        let metric = sampler().sample_with(name, SampleOptions { top })?;
        let mut tagged = serde_json::to_value(&metric).unwrap_or_default();
        write_json(&tagged["data"].take(), out)
    })
}

/// Every collector with its default interval and whether it works here, as JSON.
///
/// # Safety
/// `out` must be valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_collectors_json(out: *mut *mut c_char) -> spectra_result {
    guard(|| write_json(&sampler().capabilities(), out))
}

/// Runs a diagnostic given as JSON — `{"kind": "ping", "args": {"host": "10.0.0.1"}}`, the
/// agent protocol's form, arguments left out taking core's defaults — under core's limits
/// (`timeout_seconds` the probe timeout, 0 for core's default). Its result as JSON.
///
/// # Safety
/// `request` must be a NUL-terminated string; `out` valid for a write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn spectra_diagnose_json(
    request: *const c_char,
    timeout_seconds: f64,
    out: *mut *mut c_char,
) -> spectra_result {
    guard(|| {
        // SAFETY: the caller's promise.
        let request = unsafe { string_arg(request, "request") }?;
        out_arg(out, "out")?;
        let diagnostic: Diagnostic = serde_json::from_str(request).map_err(|e| {
            Failure::from(spectra_core::Error::InvalidInput {
                what: "diagnostic request".into(),
                message: e.to_string(),
            })
        })?;
        let timeout = (timeout_seconds != 0.0).then_some(timeout_seconds);
        let limits = DiagnosticLimits::with_probe_seconds(timeout)?;
        let outcome = diagnostic.run(&limits, &CancelToken::new())?;
        write_json(&outcome.output, out)
    })
}
