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

mod containers;
mod cpu;
mod disk;
mod memory;
mod network;
mod processes;
mod sampler;
mod software;
mod system;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sys::Host;
pub use crate::sys::Mount;
pub use containers::Container;
pub use cpu::{CpuStats, CpuUsage};
pub use disk::{DiskIoStats, MountUsage};
pub use memory::MemoryStats;
pub use network::{InterfaceStats, WifiLink};
pub use processes::{ProcessInfo, ProcessStats};
pub use sampler::{DEFAULT_PROCESS_TOP, MAX_PROCESS_TOP, SampleOptions, Sampler};
pub use software::{Package, Service};
pub use system::{PiStats, Sensor, SystemInfo};

use containers::ContainersCollector;
use cpu::CpuCollector;
use disk::{DiskCollector, DiskIoCollector};
use memory::MemoryCollector;
use network::{NetworkCollector, WifiCollector};
use processes::ProcessCollector;
use software::{ApplicationsCollector, ServicesCollector};
use system::{RaspberryPiCollector, SystemCollector, TemperatureCollector};

use crate::error::{Error, Result};

/// One aspect of the host, sampled on demand.
pub trait Collector: Send {
    /// The stable name (`cpu`, `memory`, …), also the envelope's `type`.
    fn name(&self) -> &'static str;
    /// How often an agent samples it unless configured otherwise.
    fn default_interval(&self) -> Duration;
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
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of its output it keeps.
pub(crate) const MAX_COMMAND_OUTPUT: usize = 32 << 20;

type Constructor = fn(Host) -> Box<dyn Collector>;

/// Every collector by name, in the order the CLI lists them: the one table that `by_name`,
/// `all` and `names` read, so a new collector cannot be listed but unreachable or vice versa.
const REGISTRY: [(&str, Constructor); 13] = [
    ("cpu", |h| Box::new(CpuCollector::new(h))),
    ("memory", |h| Box::new(MemoryCollector::new(h))),
    ("disk", |h| Box::new(DiskCollector::new(h))),
    ("disk_io", |h| Box::new(DiskIoCollector::new(h))),
    ("network", |h| Box::new(NetworkCollector::new(h))),
    ("processes", |h| {
        Box::new(ProcessCollector::new(h, DEFAULT_PROCESS_TOP))
    }),
    ("services", |h| Box::new(ServicesCollector::new(h))),
    ("wifi", |h| Box::new(WifiCollector::new(h))),
    ("containers", |h| Box::new(ContainersCollector::new(h))),
    ("system", |h| Box::new(SystemCollector::new(h))),
    ("applications", |h| Box::new(ApplicationsCollector::new(h))),
    ("temperature", |h| Box::new(TemperatureCollector::new(h))),
    ("raspberry_pi", |h| Box::new(RaspberryPiCollector::new(h))),
];

/// The names of every collector, in the order the CLI lists them.
pub fn names() -> Vec<&'static str> {
    REGISTRY.iter().map(|(name, _)| *name).collect()
}

/// A collector by name, reading the real host.
pub fn by_name(name: &str) -> Result<Box<dyn Collector>> {
    by_name_on(name, &Host::real())
}

/// A collector by name, reading `/proc`, `/sys` and `/etc` under `host` (tests point this at
/// recorded samples).
pub(crate) fn by_name_on(name: &str, host: &Host) -> Result<Box<dyn Collector>> {
    REGISTRY
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, make)| make(host.clone()))
        .ok_or_else(|| unknown_collector(name))
}

fn unknown_collector(name: &str) -> Error {
    Error::invalid(
        "collector",
        format!("unknown collector {name:?}; known: {}", names().join(", ")),
    )
}

/// Every collector, reading the real host.
pub fn all() -> Vec<Box<dyn Collector>> {
    REGISTRY
        .iter()
        .map(|(_, make)| make(Host::real()))
        .collect()
}

/// What a collector can do on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    pub name: String,
    pub interval_secs: u64,
    pub supported: bool,
    /// Why not, when unsupported (or what failed): the error's code and message.
    pub reason: Option<crate::ErrorBody>,
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
