//! Host collectors: each one reads one aspect of the machine (CPU, memory, disks, …).
//!
//! Every collector implements [`Collector`]: a name, a default interval, and
//! [`Collector::collect`], which returns a typed [`Metric`]. Collectors read `/proc` and `/sys`
//! directly (faster than a general library for the same figures) through pure parsing
//! functions that the tests run against recorded files. A collector whose hardware or service
//! is absent returns [`crate::Error::Unsupported`] with the reason — it never panics and the
//! function always exists.
//!
//! Collectors that report rates (CPU usage, disk and network throughput) keep the previous
//! sample. The **first** call has nothing to compare with: CPU usage is then the average since
//! boot (`since_boot: true`), and throughput rates are `None`, never a misleading zero.
//! Counters that go backwards (a 32-bit wrap or a driver reset) give a rate from the new value
//! alone rather than a huge or negative number.
//!
//! ```no_run
//! use spectra_core::collect::Sampler;
//!
//! let sampler = Sampler::new(); // keeps each collector's previous sample
//! let first = sampler.sample("cpu")?; // since boot
//! std::thread::sleep(std::time::Duration::from_secs(1));
//! let metric = sampler.sample("cpu")?; // over the last second
//! println!("{}", serde_json::to_string_pretty(&metric).unwrap());
//! # Ok::<(), spectra_core::Error>(())
//! ```

#[cfg(spectra_native)]
mod containers;
#[cfg(spectra_native)]
mod cpu;
#[cfg(spectra_native)]
mod disk;
#[cfg(spectra_native)]
mod memory;
#[cfg(spectra_native)]
mod network;
mod portable;
#[cfg(spectra_native)]
mod processes;
mod records;
mod sampler;
#[cfg(spectra_native)]
mod software;
#[cfg(spectra_native)]
mod system;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::sys::Mount;
pub(crate) use portable::portable_mounts;
pub use records::{
    Container, CpuStats, CpuUsage, DiskIoRates, DiskIoStats, InterfaceRates, InterfaceStats,
    LoggedInUser, MemoryStats, MountUsage, Package, PiStats, ProcessInfo, ProcessStats, Sensor,
    Service, SystemInfo, Throttle, WifiLink,
};
pub use sampler::{DEFAULT_PROCESS_TOP, MAX_PROCESS_TOP, SampleOptions, Sampler};

use crate::Backend;
use crate::error::{Error, Result};

/// One aspect of the host, sampled on demand.
pub trait Collector: Send {
    /// The stable name (`cpu`, `memory`, …), also the envelope's `type`.
    fn name(&self) -> &'static str;
    /// How often an agent samples it unless configured otherwise: the same for both backends.
    fn default_interval(&self) -> Duration {
        default_interval(self.name()).unwrap_or(Duration::from_secs(60))
    }
    /// Takes one sample.
    fn collect(&mut self) -> Result<Metric>;
}

/// What a collector returns, tagged with its kind (`{"type": "cpu", "data": {...}}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Metric {
    Cpu(CpuStats),
    Memory(MemoryStats),
    Disk(Vec<MountUsage>),
    DiskIo(Vec<DiskIoStats>),
    Network(Vec<InterfaceStats>),
    Wifi(Vec<WifiLink>),
    Processes(ProcessStats),
    Services(Vec<Service>),
    Applications(Vec<Package>),
    Containers(Vec<Container>),
    System(SystemInfo),
    Temperature(Vec<Sensor>),
    RaspberryPi(PiStats),
}

impl Metric {
    /// The collector name this metric came from.
    pub fn kind(&self) -> &'static str {
        match self {
            Metric::Cpu(_) => "cpu",
            Metric::Memory(_) => "memory",
            Metric::Disk(_) => "disk",
            Metric::DiskIo(_) => "disk_io",
            Metric::Network(_) => "network",
            Metric::Wifi(_) => "wifi",
            Metric::Processes(_) => "processes",
            Metric::Services(_) => "services",
            Metric::Applications(_) => "applications",
            Metric::Containers(_) => "containers",
            Metric::System(_) => "system",
            Metric::Temperature(_) => "temperature",
            Metric::RaspberryPi(_) => "raspberry_pi",
        }
    }
}

/// How long a collector lets an external tool (systemctl, iw, rpm, pvesh) run.
#[cfg(spectra_native)]
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of its output it keeps.
#[cfg(spectra_native)]
pub(crate) const MAX_COMMAND_OUTPUT: usize = 32 << 20;

/// Every collector by name with its default interval, in the order the CLI lists them: the
/// one table that names, intervals and both backends' constructors read, so a collector
/// cannot be listed but unreachable, or have two defaults.
const REGISTRY: [(&str, Duration); 13] = [
    ("cpu", Duration::from_secs(5)),
    ("memory", Duration::from_secs(10)),
    ("disk", Duration::from_secs(60)),
    ("disk_io", Duration::from_secs(5)),
    ("network", Duration::from_secs(5)),
    ("processes", Duration::from_secs(15)),
    ("services", Duration::from_secs(60)),
    ("wifi", Duration::from_secs(30)),
    ("containers", Duration::from_secs(60)),
    ("system", Duration::from_secs(300)),
    // Nightly: package lists change rarely and are the slowest thing to read.
    ("applications", Duration::from_secs(24 * 3600)),
    ("temperature", Duration::from_secs(10)),
    ("raspberry_pi", Duration::from_secs(30)),
];

/// The default interval of the collector `name`, `None` for an unknown name.
pub fn default_interval(name: &str) -> Option<Duration> {
    REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, interval)| *interval)
}

/// Makes the collector `name` (a registered name) for `backend`; `top` for `processes`.
fn make(
    name: &'static str,
    backend: Backend,
    #[cfg(spectra_native)] host: &crate::sys::Host,
    top: usize,
) -> Box<dyn Collector> {
    match backend {
        #[cfg(spectra_native)]
        Backend::Native => make_native(name, host.clone(), top),
        _ => portable::make(name, top),
    }
}

#[cfg(spectra_native)]
fn make_native(name: &'static str, host: crate::sys::Host, top: usize) -> Box<dyn Collector> {
    match name {
        "cpu" => Box::new(cpu::CpuCollector::new(host)),
        "memory" => Box::new(memory::MemoryCollector::new(host)),
        "disk" => Box::new(disk::DiskCollector::new(host)),
        "disk_io" => Box::new(disk::DiskIoCollector::new(host)),
        "network" => Box::new(network::NetworkCollector::new(host)),
        "processes" => Box::new(processes::ProcessCollector::new(host, top)),
        "services" => Box::new(software::ServicesCollector::new(host)),
        "wifi" => Box::new(network::WifiCollector::new(host)),
        "containers" => Box::new(containers::ContainersCollector::new(host)),
        "system" => Box::new(system::SystemCollector::new(host)),
        "applications" => Box::new(software::ApplicationsCollector::new(host)),
        "temperature" => Box::new(system::TemperatureCollector::new(host)),
        _ => Box::new(system::RaspberryPiCollector::new(host)),
    }
}

/// This host's name as every frontend and the agent report it: `HOSTNAME` when it is set (as
/// the Go agent read it), else the system's node name (on every platform), else `localhost`.
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| sysinfo::System::host_name().filter(|name| !name.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The names of every collector, in the order the CLI lists them.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(name, _)| *name).collect()
}

/// A collector by name, reading the real host through the backend [`Backend::resolve`] picks.
pub fn by_name(name: &str) -> Result<Box<dyn Collector>> {
    let name = registered(name)?;
    Ok(make(
        name,
        Backend::resolve(None)?,
        #[cfg(spectra_native)]
        &crate::sys::Host::real(),
        DEFAULT_PROCESS_TOP,
    ))
}

/// The registered spelling of `name`, or an error listing the known names.
fn registered(name: &str) -> Result<&'static str> {
    REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(known, _)| *known)
        .ok_or_else(|| unknown_collector(name))
}

fn unknown_collector(name: &str) -> Error {
    Error::invalid(
        "collector",
        format!("unknown collector {name:?}; known: {}", names().join(", ")),
    )
}

/// Every collector, reading the real host through the backend [`Backend::resolve`] picks.
pub fn all() -> Result<Vec<Box<dyn Collector>>> {
    let backend = Backend::resolve(None)?;
    Ok(REGISTRY
        .iter()
        .map(|(name, _)| {
            make(
                name,
                backend,
                #[cfg(spectra_native)]
                &crate::sys::Host::real(),
                DEFAULT_PROCESS_TOP,
            )
        })
        .collect())
}

/// What a collector can do on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
    pub interval_secs: u64,
    pub supported: bool,
    /// Why not, when unsupported (or what failed): the error's code and message.
    pub reason: Option<crate::ErrorBody>,
    /// Which backend answered (`None` when the backend itself could not be chosen).
    pub backend: Option<Backend>,
}

/// Tries every collector once and reports which work here.
pub fn capabilities() -> Vec<Capability> {
    Sampler::new().capabilities()
}

/// The change of a kernel counter between two samples. A counter that went backwards wrapped
/// (32-bit counters do) or was reset; either way the new value is the best estimate.
pub(crate) fn counter_delta(previous: u64, current: u64) -> u64 {
    if current >= previous {
        current - previous
    } else if previous <= u64::from(u32::MAX) {
        current + (u64::from(u32::MAX) - previous) + 1
    } else {
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hostname_is_hostname_else_the_node_name_on_every_backend() {
        let expected = std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
            })
            .expect("a Linux test host has a node name");
        assert_eq!(hostname(), expected);
    }

    #[test]
    fn counters_survive_wraps_and_resets() {
        assert_eq!(counter_delta(10, 25), 15);
        assert_eq!(
            counter_delta(u64::from(u32::MAX) - 4, 5),
            10,
            "a 32-bit wrap"
        );
        assert_eq!(counter_delta(1 << 40, 7), 7, "a reset of a 64-bit counter");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = by_name("gpu").err().expect("unknown");
        assert!(err.to_string().contains("cpu, memory"), "{err}");
        for name in names() {
            assert_eq!(by_name(name).expect("known").name(), name);
        }
    }
}
