use std::time::Instant;

use super::records::PreviousSample;
use super::{Collector, Metric};
use super::{DiskIoStats, MountUsage};
use crate::error::{Error, Result};
use crate::sys::{Host, Mount, malformed, parse_mountinfo};

/// Filesystems that hold data (not /proc, cgroups and the like): those backed by a device,
/// plus the network and memory filesystems people store files on.
pub(crate) fn holds_data(mount: &Mount) -> bool {
    mount.device.starts_with('/')
        || matches!(
            mount.fs_type.as_str(),
            "tmpfs"
                | "nfs"
                | "nfs4"
                | "cifs"
                | "smb3"
                | "zfs"
                | "btrfs"
                | "fuse.sshfs"
                | "9p"
                | "virtiofs"
        )
}

#[derive(Debug)]
pub struct DiskCollector {
    host: Host,
    table: Option<MountTable>,
}

/// The mounts that hold data, kept between samples with the open `mountinfo` that says when
/// they change: the kernel flags it `POLLPRI` after any mount or unmount in the namespace.
#[derive(Debug)]
struct MountTable {
    file: std::fs::File,
    mounts: Vec<Mount>,
}

impl MountTable {
    fn load(file: &mut std::fs::File) -> std::io::Result<Vec<Mount>> {
        use std::io::{Read, Seek};
        let mut text = String::with_capacity(8192);
        file.rewind()?;
        file.read_to_string(&mut text)?;
        // Later lines mount over earlier ones: keep the last mount of each mount point.
        let mut seen = std::collections::HashSet::new();
        let mut mounts: Vec<Mount> = parse_mountinfo(&text)
            .into_iter()
            .rev()
            .filter(|m| holds_data(m) && seen.insert(m.mount_point.clone()))
            .collect();
        mounts.reverse();
        Ok(mounts)
    }

    fn changed(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, Timespec, poll};
        let mut fds = [PollFd::new(&self.file, PollFlags::PRI)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // If polling fails, re-reading is the safe answer.
        poll(&mut fds, Some(&now)).map_or(true, |ready| ready > 0)
    }
}

impl DiskCollector {
    pub fn new(host: Host) -> Self {
        DiskCollector { host, table: None }
    }

    fn mounts(&mut self) -> Result<&[Mount]> {
        let path = self.host.path("proc/self/mountinfo");
        let io = |e| Error::io(&path, e);
        match &mut self.table {
            Some(table) if !table.changed() => {}
            Some(table) => table.mounts = MountTable::load(&mut table.file).map_err(io)?,
            None => {
                let mut file = std::fs::File::open(&path).map_err(io)?;
                let mounts = MountTable::load(&mut file).map_err(io)?;
                self.table = Some(MountTable { file, mounts });
            }
        }
        Ok(self
            .table
            .as_ref()
            .map(|t| t.mounts.as_slice())
            .unwrap_or_default())
    }
}

impl Collector for DiskCollector {
    fn name(&self) -> &'static str {
        "disk"
    }

    fn collect(&mut self) -> Result<Metric> {
        let host = self.host.clone();
        let mut usage = Vec::new();
        for mount in self.mounts()? {
            let Ok(vfs) = rustix::fs::statvfs(host.path(mount.mount_point.trim_start_matches('/')))
            else {
                continue; // unmounted meanwhile, or not ours to read
            };
            let total = vfs.f_blocks * vfs.f_frsize;
            let used = (vfs.f_blocks - vfs.f_bfree.min(vfs.f_blocks)) * vfs.f_frsize;
            let free = vfs.f_bavail * vfs.f_frsize;
            usage.push(MountUsage {
                device: mount.device.clone(),
                mount_point: mount.mount_point.clone(),
                fs_type: mount.fs_type.clone(),
                total,
                used,
                free,
                usage_percent: if used + free == 0 {
                    0.0
                } else {
                    used as f64 * 100.0 / (used + free) as f64
                },
                inodes_total: vfs.f_files,
                inodes_used: vfs.f_files.saturating_sub(vfs.f_ffree),
                inodes_free: vfs.f_ffree,
            });
        }
        Ok(Metric::Disk(usage))
    }
}

/// `/proc/diskstats`, skipping loop and RAM devices.
pub(crate) fn parse_diskstats(text: &str) -> Result<Vec<DiskIoStats>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 14 {
            if fields.is_empty() {
                continue;
            }
            return Err(malformed("/proc/diskstats", format!("short line {line:?}")));
        }
        let name = fields[2];
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let n = |i: usize| fields[i].parse::<u64>().unwrap_or(0);
        out.push(DiskIoStats {
            device: name.to_string(),
            read_ops: n(3),
            read_bytes: n(5) * 512,
            read_time_ms: n(6),
            write_ops: n(7),
            write_bytes: n(9) * 512,
            write_time_ms: n(10),
            in_flight: n(11),
            io_time_ms: n(12),
            rates: None,
        });
    }
    Ok(out)
}

#[derive(Debug)]
pub struct DiskIoCollector {
    host: Host,
    previous: PreviousSample<DiskIoStats>,
}

impl DiskIoCollector {
    pub fn new(host: Host) -> Self {
        DiskIoCollector {
            host,
            previous: PreviousSample::default(),
        }
    }
}

impl Collector for DiskIoCollector {
    fn name(&self) -> &'static str {
        "disk_io"
    }

    fn collect(&mut self) -> Result<Metric> {
        let text = self.host.read("proc/diskstats").map_err(|e| match e {
            Error::Io { .. } => Error::unsupported("disk_io", "no /proc/diskstats"),
            other => other,
        })?;
        let now = Instant::now();
        let mut stats = parse_diskstats(&text)?;
        self.previous.rate(now, &mut stats);
        Ok(Metric::DiskIo(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::collect::records::disk_rates;

    #[test]
    fn mountinfo_parses_the_recorded_sample_and_unescapes() {
        let mounts = parse_mountinfo(include_str!("samples/proc_mountinfo"));
        assert!(
            mounts.iter().any(|m| m.mount_point == "/" && holds_data(m)),
            "{mounts:?}"
        );
        assert!(
            mounts
                .iter()
                .any(|m| m.mount_point == "/proc" && !holds_data(m))
        );
        let escaped = "36 35 98:0 / /mnt/my\\040disk rw,noatime master:1 - ext4 /dev/sdb1 rw";
        let m = &parse_mountinfo(escaped)[0];
        assert_eq!(
            (
                m.mount_point.as_str(),
                m.device.as_str(),
                m.fs_type.as_str()
            ),
            ("/mnt/my disk", "/dev/sdb1", "ext4")
        );
        assert_eq!(
            (m.dev, m.options.as_str()),
            (Some(rustix::fs::makedev(98, 0)), "rw,noatime")
        );
        assert!(parse_mountinfo("garbage without separator\n").is_empty());
    }

    #[test]
    fn diskstats_parse_and_rates_follow_the_counters() {
        let stats = parse_diskstats(include_str!("samples/proc_diskstats")).expect("parse");
        assert!(stats.iter().all(|s| !s.device.starts_with("loop")));
        assert!(!stats.is_empty());
        let line = "   8       0 sda 100 0 2000 50 10 0 80 30 1 500 80";
        let before = parse_diskstats(line).expect("parse").remove(0);
        let after = parse_diskstats("   8       0 sda 110 0 2400 70 10 0 80 30 0 1000 80")
            .expect("parse")
            .remove(0);
        let r = disk_rates(&before, &after, Duration::from_secs(2));
        assert_eq!(r.read_bytes_per_sec, 400.0 * 512.0 / 2.0);
        assert_eq!(r.read_ops_per_sec, 5.0);
        assert_eq!(r.read_latency_ms, Some(2.0));
        assert_eq!(r.write_latency_ms, None, "no writes, no latency");
        assert_eq!(r.utilization_percent, 25.0);
        assert!(parse_diskstats("8 0 sda 1 2\n").is_err());
    }
}
