//! The portable collectors, over the `sysinfo` crate: cpu, memory, disk, disk I/O, network,
//! processes and system, on every platform `sysinfo` supports (macOS, Windows, the BSDs,
//! Linux). The other collectors read Linux-only sources (systemd, `/proc/net/wireless`,
//! dpkg/rpm, hwmon, the Pi's firmware, the Docker socket's Linux paths) and answer
//! [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported) here.
//!
//! The records are the native ones, in the same units. What `sysinfo` does not report is
//! left at zero, never guessed: the CPU split beyond total usage (user, system, iowait and
//! steal), memory's buffers and cache, inode counts, disk operation counts and times, network
//! drops and link state (`up` is `None`), logged-in users, and threads outside Linux. Disk
//! `used` is `total - available`, so it includes the blocks reserved for root that `df` leaves
//! out. The first `processes` sample has no CPU figure to give (0 % with `since_start`).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use chrono::DateTime;
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, Networks, ProcessRefreshKind, ProcessStatus,
    ProcessesToUpdate, System, ThreadKind, UpdateKind,
};

use super::records::PreviousSample;
use super::{
    Collector, CpuStats, CpuUsage, DiskIoStats, InterfaceStats, MemoryStats, Metric, Mount,
    MountUsage, ProcessInfo, ProcessStats, SystemInfo,
};
use crate::error::{Error, Result};

/// The collector `name` (a registered name) of the portable backend.
pub(super) fn make(name: &'static str, top: usize) -> Box<dyn Collector> {
    match name {
        "cpu" => Box::new(Cpu {
            system: System::new(),
            sampled: false,
        }),
        "memory" => Box::new(Memory(System::new())),
        "disk" => Box::new(Disk),
        "disk_io" => Box::new(DiskIo {
            disks: Disks::new(),
            previous: PreviousSample::default(),
        }),
        "network" => Box::new(Network {
            networks: Networks::new(),
            previous: PreviousSample::default(),
        }),
        "processes" => Box::new(Processes {
            system: System::new(),
            top,
            sampled: false,
        }),
        "system" => Box::new(SystemCollector(System::new())),
        other => Box::new(Unsupported(other)),
    }
}

/// The filesystems `sysinfo` lists, as the `mounts` diagnostic shows them.
pub(crate) fn portable_mounts() -> Vec<Mount> {
    Disks::new_with_refreshed_list()
        .list()
        .iter()
        .map(|disk| Mount {
            device: disk.name().to_string_lossy().into_owned(),
            mount_point: disk.mount_point().to_string_lossy().into_owned(),
            fs_type: disk.file_system().to_string_lossy().into_owned(),
            dev: device_of(disk.mount_point()),
            options: String::new(),
        })
        .collect()
}

/// The device number files under `path` report, where there are device numbers.
fn device_of(path: &std::path::Path) -> Option<u64> {
    #[cfg(spectra_unix)]
    {
        std::fs::metadata(path)
            .ok()
            .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
    }
    #[cfg(not(spectra_unix))]
    {
        let _ = path;
        None
    }
}

#[derive(Debug)]
struct Unsupported(&'static str);

impl Collector for Unsupported {
    fn name(&self) -> &'static str {
        self.0
    }

    fn collect(&mut self) -> Result<Metric> {
        Err(Error::unsupported(
            format!("the {} collector", self.0),
            "the portable backend has no source for it (it reads Linux-only interfaces)",
        ))
    }
}

struct Cpu {
    system: System,
    sampled: bool,
}

impl Collector for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self) -> Result<Metric> {
        self.system
            .refresh_cpu_specifics(CpuRefreshKind::nothing().with_cpu_usage().with_frequency());
        let cpus = self.system.cpus();
        if cpus.is_empty() {
            return Err(Error::unsupported(
                "the cpu collector",
                "sysinfo lists no CPU on this platform",
            ));
        }
        let usage = |percent: f32| {
            let percent = f64::from(percent).clamp(0.0, 100.0);
            CpuUsage {
                usage_percent: percent,
                user_percent: 0.0,
                system_percent: 0.0,
                idle_percent: 100.0 - percent,
                iowait_percent: 0.0,
                steal_percent: 0.0,
            }
        };
        let frequencies: Vec<f64> = cpus
            .iter()
            .map(|c| c.frequency() as f64)
            .filter(|&mhz| mhz > 0.0)
            .collect();
        let load = System::load_average();
        let since_boot = !self.sampled;
        self.sampled = true;
        Ok(Metric::Cpu(CpuStats {
            total: usage(self.system.global_cpu_usage()),
            per_core: cpus.iter().map(|c| usage(c.cpu_usage())).collect(),
            load_1: load.one,
            load_5: load.five,
            load_15: load.fifteen,
            core_count: cpus.len(),
            frequency_mhz: (!frequencies.is_empty())
                .then(|| frequencies.iter().sum::<f64>() / frequencies.len() as f64),
            since_boot,
        }))
    }
}

struct Memory(System);

impl Collector for Memory {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn collect(&mut self) -> Result<Metric> {
        let system = &mut self.0;
        system.refresh_memory_specifics(MemoryRefreshKind::everything());
        let total = system.total_memory();
        let available = system.available_memory();
        Ok(Metric::Memory(MemoryStats {
            total,
            used: total.saturating_sub(available),
            available,
            free: system.free_memory(),
            buffers: 0,
            cached: 0,
            swap_total: system.total_swap(),
            swap_used: system.used_swap(),
            cgroup_limit: system
                .cgroup_limits()
                .map(|limits| limits.total_memory)
                .filter(|&limit| limit < total),
        }))
    }
}

struct Disk;

impl Collector for Disk {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn collect(&mut self) -> Result<Metric> {
        let disks = Disks::new_with_refreshed_list();
        Ok(Metric::Disk(
            disks
                .list()
                .iter()
                .map(|disk| {
                    let total = disk.total_space();
                    let free = disk.available_space();
                    let used = total.saturating_sub(free);
                    MountUsage {
                        device: disk.name().to_string_lossy().into_owned(),
                        mount_point: disk.mount_point().to_string_lossy().into_owned(),
                        fs_type: disk.file_system().to_string_lossy().into_owned(),
                        total,
                        used,
                        free,
                        usage_percent: if total == 0 {
                            0.0
                        } else {
                            used as f64 * 100.0 / total as f64
                        },
                        inodes_total: 0,
                        inodes_used: 0,
                        inodes_free: 0,
                    }
                })
                .collect(),
        ))
    }
}

struct DiskIo {
    disks: Disks,
    previous: PreviousSample<DiskIoStats>,
}

impl Collector for DiskIo {
    fn name(&self) -> &'static str {
        "disk_io"
    }

    fn collect(&mut self) -> Result<Metric> {
        let now = Instant::now();
        self.disks.refresh(true);
        let mut stats: Vec<DiskIoStats> = Vec::new();
        for disk in self.disks.list() {
            let device = disk.name().to_string_lossy().into_owned();
            // One device mounted at several places is one device.
            if stats.iter().any(|s| s.device == device) {
                continue;
            }
            let usage = disk.usage();
            stats.push(DiskIoStats {
                device,
                read_bytes: usage.total_read_bytes,
                write_bytes: usage.total_written_bytes,
                read_ops: 0,
                write_ops: 0,
                read_time_ms: 0,
                write_time_ms: 0,
                in_flight: 0,
                io_time_ms: 0,
                rates: None,
            });
        }
        self.previous.rate(now, &mut stats);
        Ok(Metric::DiskIo(stats))
    }
}

struct Network {
    networks: Networks,
    previous: PreviousSample<InterfaceStats>,
}

impl Collector for Network {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&mut self) -> Result<Metric> {
        let now = Instant::now();
        self.networks.refresh(true);
        let mut stats: Vec<InterfaceStats> = self
            .networks
            .list()
            .iter()
            .map(|(name, data)| InterfaceStats {
                name: name.clone(),
                up: None,
                addresses: data
                    .ip_networks()
                    .iter()
                    .map(|net| net.addr.to_string())
                    .collect(),
                rx_bytes: data.total_received(),
                rx_packets: data.total_packets_received(),
                rx_errors: data.total_errors_on_received(),
                rx_drops: 0,
                tx_bytes: data.total_transmitted(),
                tx_packets: data.total_packets_transmitted(),
                tx_errors: data.total_errors_on_transmitted(),
                tx_drops: 0,
                rates: None,
            })
            .collect();
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        self.previous.rate(now, &mut stats);
        Ok(Metric::Network(stats))
    }
}

struct Processes {
    system: System,
    top: usize,
    sampled: bool,
}

/// sysinfo's process states under the native collector's names.
fn state_name(status: ProcessStatus) -> &'static str {
    match status {
        ProcessStatus::Run => "running",
        ProcessStatus::Sleep => "sleeping",
        ProcessStatus::UninterruptibleDiskSleep => "disk_sleep",
        ProcessStatus::Zombie => "zombie",
        ProcessStatus::Stop | ProcessStatus::Tracing => "stopped",
        ProcessStatus::Idle => "idle",
        ProcessStatus::Dead => "dead",
        ProcessStatus::Parked => "parked",
        ProcessStatus::Waking => "waking",
        ProcessStatus::Wakekill => "wakekill",
        ProcessStatus::LockBlocked => "lock_blocked",
        ProcessStatus::Unknown(_) => "unknown",
    }
}

/// On Linux sysinfo lists each thread of a process as a process too (kernel threads are
/// processes, as in `/proc`): count each process once.
fn is_thread(process: &sysinfo::Process) -> bool {
    process.thread_kind() == Some(ThreadKind::Userland)
}

/// The numeric uid of a process, where the platform has uids.
fn uid_of(process: &sysinfo::Process) -> Option<u32> {
    #[cfg(spectra_unix)]
    {
        process.user_id().map(|uid| **uid)
    }
    #[cfg(not(spectra_unix))]
    {
        let _ = process;
        None
    }
}

impl Collector for Processes {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn collect(&mut self) -> Result<Metric> {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_tasks()
                .with_user(UpdateKind::OnlyIfNotSet),
        );
        let since_start = !self.sampled;
        self.sampled = true;
        let processes: Vec<&sysinfo::Process> = self
            .system
            .processes()
            .values()
            .filter(|p| !is_thread(p))
            .collect();
        let mut by_state = BTreeMap::new();
        let mut total_threads = 0;
        for process in &processes {
            *by_state
                .entry(state_name(process.status()).to_owned())
                .or_insert(0) += 1;
            total_threads += process.tasks().map_or(0, |tasks| tasks.len().max(1) as u64);
        }
        let mut users: HashMap<u32, Option<String>> = HashMap::new();
        let mut info = |process: &&sysinfo::Process| {
            let uid = uid_of(process);
            ProcessInfo {
                pid: process.pid().as_u32(),
                name: process.name().to_string_lossy().into_owned(),
                user: uid.and_then(|uid| {
                    users
                        .entry(uid)
                        .or_insert_with(|| crate::sys::user_name(uid))
                        .clone()
                }),
                uid,
                cpu_percent: f64::from(process.cpu_usage()),
                rss_bytes: process.memory(),
                threads: process.tasks().map_or(0, |tasks| tasks.len() as u64),
                state: state_name(process.status()).to_owned(),
            }
        };
        let mut ranked = processes.clone();
        ranked.sort_by(|a, b| {
            b.cpu_usage()
                .total_cmp(&a.cpu_usage())
                .then(a.pid().cmp(&b.pid()))
        });
        let top_by_cpu = ranked.iter().take(self.top).map(&mut info).collect();
        ranked.sort_by(|a, b| b.memory().cmp(&a.memory()).then(a.pid().cmp(&b.pid())));
        let top_by_memory = ranked.iter().take(self.top).map(&mut info).collect();
        Ok(Metric::Processes(ProcessStats {
            total: processes.len(),
            total_threads,
            by_state,
            top_by_cpu,
            top_by_memory,
            since_start,
        }))
    }
}

struct SystemCollector(System);

impl Collector for SystemCollector {
    fn name(&self) -> &'static str {
        "system"
    }

    fn collect(&mut self) -> Result<Metric> {
        self.0.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing(),
        );
        let boot = i64::try_from(System::boot_time()).unwrap_or(0);
        Ok(Metric::System(SystemInfo {
            hostname: System::host_name().unwrap_or_default(),
            os: System::long_os_version(),
            kernel: System::kernel_version().unwrap_or_default(),
            arch: System::cpu_arch(),
            uptime_secs: System::uptime() as f64,
            boot_time: DateTime::from_timestamp(boot, 0).unwrap_or_default(),
            process_count: self
                .0
                .processes()
                .values()
                .filter(|p| !is_thread(p))
                .count(),
            users: Vec::new(),
        }))
    }
}
