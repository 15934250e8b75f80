//! The records collectors return, the same from either backend, and the rate arithmetic
//! both backends share.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::counter_delta;

/// CPU usage, load and frequency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// All CPUs together.
    pub total: CpuUsage,
    /// One entry per core, in order.
    pub per_core: Vec<CpuUsage>,
    pub load_1: f64,
    pub load_5: f64,
    pub load_15: f64,
    pub core_count: usize,
    /// Mean current frequency over the cores, when the kernel reports one.
    pub frequency_mhz: Option<f64>,
    /// True on a collector's first sample: usage is then the average since boot.
    pub since_boot: bool,
}

/// Percentages (0–100) of the time between two samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuUsage {
    /// Everything but idle and iowait.
    pub usage_percent: f64,
    /// user + nice
    pub user_percent: f64,
    /// system + irq + softirq
    pub system_percent: f64,
    pub idle_percent: f64,
    pub iowait_percent: f64,
    pub steal_percent: f64,
}

/// Memory and swap, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    pub total: u64,
    /// `total - available`: what programs hold and the kernel cannot reclaim.
    pub used: u64,
    /// What can be given to programs without swapping (`MemAvailable`).
    pub available: u64,
    pub free: u64,
    pub buffers: u64,
    /// Page cache plus reclaimable slab.
    pub cached: u64,
    pub swap_total: u64,
    pub swap_used: u64,
    /// The memory limit of this process's cgroup, when one is set.
    pub cgroup_limit: Option<u64>,
}

/// Space and inodes of one mounted filesystem, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MountUsage {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub total: u64,
    pub used: u64,
    /// Free for unprivileged users (what `df` shows as available).
    pub free: u64,
    /// `used / (used + free)`, as `df` computes it.
    pub usage_percent: f64,
    pub inodes_total: u64,
    pub inodes_used: u64,
    pub inodes_free: u64,
}

/// I/O of one block device: counters since boot and, from the second sample on, rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskIoStats {
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
    pub read_time_ms: u64,
    pub write_time_ms: u64,
    pub in_flight: u64,
    pub io_time_ms: u64,
    /// `None` on the first sample: a rate needs two.
    pub rates: Option<DiskIoRates>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DiskIoRates {
    pub read_bytes_per_sec: f64,
    pub write_bytes_per_sec: f64,
    pub read_ops_per_sec: f64,
    pub write_ops_per_sec: f64,
    /// Mean time per completed read in the interval (`None` without reads).
    pub read_latency_ms: Option<f64>,
    pub write_latency_ms: Option<f64>,
    /// Share of the interval the device was busy, 0–100.
    pub utilization_percent: f64,
}

pub(crate) fn disk_rates(
    before: &DiskIoStats,
    now: &DiskIoStats,
    elapsed: Duration,
) -> DiskIoRates {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let d = |a: u64, b: u64| counter_delta(a, b);
    let reads = d(before.read_ops, now.read_ops);
    let writes = d(before.write_ops, now.write_ops);
    let latency = |ms: u64, ops: u64| (ops > 0).then(|| ms as f64 / ops as f64);
    DiskIoRates {
        read_bytes_per_sec: d(before.read_bytes, now.read_bytes) as f64 / secs,
        write_bytes_per_sec: d(before.write_bytes, now.write_bytes) as f64 / secs,
        read_ops_per_sec: reads as f64 / secs,
        write_ops_per_sec: writes as f64 / secs,
        read_latency_ms: latency(d(before.read_time_ms, now.read_time_ms), reads),
        write_latency_ms: latency(d(before.write_time_ms, now.write_time_ms), writes),
        utilization_percent: (d(before.io_time_ms, now.io_time_ms) as f64 / (secs * 1000.0)
            * 100.0)
            .min(100.0),
    }
}

/// Traffic of one network interface: counters since boot and, from the second sample on, rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InterfaceStats {
    pub name: String,
    /// Operational (the `IFF_RUNNING` flag: up with a carrier); `None` when not known, as for
    /// an interface that vanished between the two reads.
    pub up: Option<bool>,
    pub addresses: Vec<String>,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_drops: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_drops: u64,
    /// `None` on the first sample: a rate needs two.
    pub rates: Option<InterfaceRates>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InterfaceRates {
    pub rx_bytes_per_sec: f64,
    pub tx_bytes_per_sec: f64,
    pub rx_packets_per_sec: f64,
    pub tx_packets_per_sec: f64,
}

pub(crate) fn interface_rates(
    before: &InterfaceStats,
    now: &InterfaceStats,
    elapsed: Duration,
) -> InterfaceRates {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let per_sec = |a: u64, b: u64| counter_delta(a, b) as f64 / secs;
    InterfaceRates {
        rx_bytes_per_sec: per_sec(before.rx_bytes, now.rx_bytes),
        tx_bytes_per_sec: per_sec(before.tx_bytes, now.tx_bytes),
        rx_packets_per_sec: per_sec(before.rx_packets, now.rx_packets),
        tx_packets_per_sec: per_sec(before.tx_packets, now.tx_packets),
    }
}

/// One wireless link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WifiLink {
    pub interface: String,
    pub ssid: Option<String>,
    pub signal_dbm: Option<f64>,
    /// Link quality as the driver reports it (commonly out of 70).
    pub link_quality: Option<f64>,
    pub bitrate_mbps: Option<f64>,
    pub frequency_mhz: Option<f64>,
}

/// Processes: the top consumers and counts by state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    pub total: usize,
    pub total_threads: u64,
    /// Counts by state name (`running`, `sleeping`, `disk_sleep`, `zombie`, `stopped`, `idle`, …).
    pub by_state: BTreeMap<String, usize>,
    pub top_by_cpu: Vec<ProcessInfo>,
    pub top_by_memory: Vec<ProcessInfo>,
    /// True on the first sample: CPU % is then each process's average over its lifetime.
    pub since_start: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: u32,
    pub name: String,
    pub user: Option<String>,
    /// `None` where the platform has no uids (Windows).
    pub uid: Option<u32>,
    /// Percent of one CPU (a process using two cores fully shows 200).
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub threads: u64,
    pub state: String,
}

/// Who and what this machine is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemInfo {
    pub hostname: String,
    /// `PRETTY_NAME` from os-release.
    pub os: Option<String>,
    pub kernel: String,
    pub arch: String,
    pub uptime_secs: f64,
    pub boot_time: DateTime<Utc>,
    pub process_count: usize,
    pub users: Vec<LoggedInUser>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedInUser {
    pub name: String,
    pub terminal: String,
    pub host: String,
}

/// One temperature sensor, in degrees Celsius.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sensor {
    /// The hwmon chip name (`coretemp`, `k10temp`, `cpu_thermal`, …).
    pub chip: String,
    pub label: String,
    pub current: f64,
    pub high: Option<f64>,
    pub critical: Option<f64>,
}

/// What a Raspberry Pi's firmware reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PiStats {
    pub model: String,
    pub soc_temperature: Option<f64>,
    pub arm_clock_mhz: Option<f64>,
    /// The raw throttle bit field (`vcgencmd get_throttled`), and what it says.
    pub throttled_raw: Option<u32>,
    pub throttle: Option<Throttle>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    pub under_voltage_now: bool,
    pub frequency_capped_now: bool,
    pub throttled_now: bool,
    pub soft_temperature_limit_now: bool,
    pub under_voltage_occurred: bool,
    pub frequency_capped_occurred: bool,
    pub throttled_occurred: bool,
    pub soft_temperature_limit_occurred: bool,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Installed size in bytes, when the package manager records it.
    pub size_bytes: Option<u64>,
    /// `dpkg`, `apk` or `rpm`.
    pub manager: String,
}

/// One systemd unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
    pub description: String,
}

/// One container or guest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// `docker`, `lxc` or `qemu`.
    pub runtime: String,
    pub id: String,
    pub name: String,
    /// The image (Docker) or the Proxmox node that runs the guest.
    pub image: Option<String>,
    pub node: Option<String>,
    pub state: String,
    /// Percent of one CPU; `None` when not running or not reported.
    pub cpu_percent: Option<f64>,
    pub memory_usage: Option<u64>,
    pub memory_limit: Option<u64>,
    pub network_rx_bytes: Option<u64>,
    pub network_tx_bytes: Option<u64>,
}

/// A device whose counters give rates between two samples (a disk, an interface).
pub(crate) trait Rated: Clone {
    fn key(&self) -> &str;
    /// Sets the rates over `elapsed` since `before`, the same device's previous sample.
    fn set_rates(&mut self, before: &Self, elapsed: Duration);
}

impl Rated for DiskIoStats {
    fn key(&self) -> &str {
        &self.device
    }

    fn set_rates(&mut self, before: &Self, elapsed: Duration) {
        self.rates = Some(disk_rates(before, self, elapsed));
    }
}

impl Rated for InterfaceStats {
    fn key(&self) -> &str {
        &self.name
    }

    fn set_rates(&mut self, before: &Self, elapsed: Duration) {
        self.rates = Some(interface_rates(before, self, elapsed));
    }
}

/// A rate collector's previous sample, by device: the first sample has no rates, each later
/// one its rates over the time since the one before (a device new since then has none yet).
#[derive(Debug)]
pub(crate) struct PreviousSample<T>(Option<(Instant, HashMap<String, T>)>);

impl<T> Default for PreviousSample<T> {
    fn default() -> Self {
        PreviousSample(None)
    }
}

impl<T: Rated> PreviousSample<T> {
    /// Rates `devices`, sampled at `now`, against the previous sample, and keeps them as the
    /// next one's previous.
    pub(crate) fn rate(&mut self, now: Instant, devices: &mut [T]) {
        if let Some((then, before)) = &self.0 {
            for device in devices.iter_mut() {
                if let Some(previous) = before.get(device.key()) {
                    device.set_rates(previous, now - *then);
                }
            }
        }
        self.0 = Some((
            now,
            devices
                .iter()
                .map(|d| (d.key().to_owned(), d.clone()))
                .collect(),
        ));
    }
}
