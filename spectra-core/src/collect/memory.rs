use super::MemoryStats;
use super::{Collector, Metric};
use crate::error::Result;
use crate::sys::{Host, KeptFile, malformed};

/// The fields of `/proc/meminfo` the stats are made of, in bytes; `None` when absent.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MemInfo {
    total: Option<u64>,
    free: Option<u64>,
    available: Option<u64>,
    buffers: Option<u64>,
    cached: Option<u64>,
    reclaimable: Option<u64>,
    swap_total: Option<u64>,
    swap_free: Option<u64>,
}

/// Reads the fields `MemoryStats` needs from `/proc/meminfo`'s text, skipping the other
/// fifty-odd lines without building anything for them.
pub(crate) fn parse_meminfo(text: &str) -> MemInfo {
    let mut info = MemInfo::default();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut info.total,
            "MemFree" => &mut info.free,
            "MemAvailable" => &mut info.available,
            "Buffers" => &mut info.buffers,
            "Cached" => &mut info.cached,
            "SReclaimable" => &mut info.reclaimable,
            "SwapTotal" => &mut info.swap_total,
            "SwapFree" => &mut info.swap_free,
            _ => continue,
        };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let scale = if parts.next() == Some("kB") { 1024 } else { 1 };
        *slot = Some(value.saturating_mul(scale));
    }
    info
}

pub(crate) fn memory_from(info: &MemInfo) -> Result<MemoryStats> {
    let get = |field: Option<u64>| field.unwrap_or(0);
    let total = info
        .total
        .ok_or_else(|| malformed("/proc/meminfo", "no MemTotal"))?;
    let free = get(info.free);
    let cached = get(info.cached).saturating_add(get(info.reclaimable));
    // Kernels before 3.14 lack MemAvailable; estimate it the way `free` did then.
    let available = info
        .available
        .unwrap_or(
            free.saturating_add(get(info.buffers))
                .saturating_add(cached),
        )
        .min(total);
    Ok(MemoryStats {
        total,
        used: total - available,
        available,
        free,
        buffers: get(info.buffers),
        cached,
        swap_total: get(info.swap_total),
        swap_used: get(info.swap_total).saturating_sub(get(info.swap_free)),
        cgroup_limit: None,
    })
}

#[derive(Debug)]
pub struct MemoryCollector {
    host: Host,
    meminfo: KeptFile,
    /// Found on the first sample (a process does not change cgroup while it samples memory),
    /// then kept open like `meminfo`.
    limit_file: Option<Option<KeptFile>>,
}

impl MemoryCollector {
    pub fn new(host: Host) -> Self {
        MemoryCollector {
            meminfo: KeptFile::new(host.path("proc/meminfo")),
            host,
            limit_file: None,
        }
    }

    /// The file holding this process's cgroup memory limit: v2 `memory.max` or v1
    /// `memory.limit_in_bytes`, whichever exists for the group in `/proc/self/cgroup`.
    fn find_limit_file(&self) -> Option<String> {
        let membership = self.host.read_opt("proc/self/cgroup")?;
        membership.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            let file = if controllers.is_empty() {
                format!("sys/fs/cgroup/{rel}/memory.max")
            } else if controllers.split(',').any(|c| c == "memory") {
                format!("sys/fs/cgroup/memory/{rel}/memory.limit_in_bytes")
            } else {
                return None;
            };
            self.host.path(&file).exists().then_some(file)
        })
    }

    /// The limit in bytes; "max" and v1's huge sentinel mean no limit.
    fn cgroup_limit(&mut self) -> Option<u64> {
        if self.limit_file.is_none() {
            let found = self.find_limit_file();
            self.limit_file = Some(found.map(|file| KeptFile::new(self.host.path(file))));
        }
        let file = self.limit_file.as_mut()?.as_mut()?;
        let limit: u64 = file.read().ok()?.trim().parse().ok()?;
        (limit < 1 << 60).then_some(limit)
    }
}

impl Collector for MemoryCollector {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn collect(&mut self) -> Result<Metric> {
        let mut stats = memory_from(&parse_meminfo(self.meminfo.read()?))?;
        stats.cgroup_limit = self.cgroup_limit();
        Ok(Metric::Memory(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_meminfo_adds_up() {
        let text = include_str!("samples/proc_meminfo");
        let info = parse_meminfo(text);
        let stats = memory_from(&info).expect("parse");
        let total_kb: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .expect("MemTotal in the sample");
        assert_eq!(stats.total, total_kb * 1024);
        assert_eq!(stats.total % 1024, 0, "kB are converted to bytes");
        assert_eq!(stats.used + stats.available, stats.total);
        assert!(stats.free <= stats.available);
    }

    #[test]
    fn old_kernels_and_garbage_are_handled() {
        let old =
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\n");
        let stats = memory_from(&old).expect("parse");
        assert_eq!(stats.available, 350 * 1024);
        assert!(memory_from(&parse_meminfo("nonsense\n")).is_err());
        let huge = parse_meminfo("MemTotal: 18446744073709551615 kB\n");
        assert_eq!(memory_from(&huge).expect("saturates").total, u64::MAX);
    }

    /// A kept-open collector sees the file change between samples, as a fresh read would.
    #[test]
    fn a_kept_file_is_read_anew_each_sample() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
        let meminfo = dir.path().join("proc/meminfo");
        std::fs::write(&meminfo, "MemTotal: 1000 kB\nMemAvailable: 600 kB\n").expect("write");
        let mut collector = MemoryCollector::new(Host::at(dir.path()));
        let sample = |c: &mut MemoryCollector| match c.collect().expect("collect") {
            Metric::Memory(stats) => stats.available,
            other => panic!("{other:?}"),
        };
        assert_eq!(sample(&mut collector), 600 * 1024);
        std::fs::write(&meminfo, "MemTotal: 1000 kB\nMemAvailable: 250 kB\n").expect("write");
        assert_eq!(sample(&mut collector), 250 * 1024);
    }

    #[test]
    fn a_cgroup_v2_limit_is_read_and_max_means_none() {
        let dir = tempfile::tempdir().expect("tmp");
        let host = Host::at(dir.path());
        std::fs::create_dir_all(dir.path().join("proc/self")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("sys/fs/cgroup/app.slice")).expect("mkdir");
        std::fs::write(dir.path().join("proc/self/cgroup"), "0::/app.slice\n").expect("write");
        std::fs::write(
            dir.path().join("sys/fs/cgroup/app.slice/memory.max"),
            "536870912\n",
        )
        .expect("write");
        assert_eq!(
            MemoryCollector::new(host.clone()).cgroup_limit(),
            Some(512 << 20)
        );
        std::fs::write(
            dir.path().join("sys/fs/cgroup/app.slice/memory.max"),
            "max\n",
        )
        .expect("write");
        assert_eq!(MemoryCollector::new(host).cgroup_limit(), None);
    }
}
