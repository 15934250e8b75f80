use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Collector, Metric};
use crate::error::Result;
use crate::sys::{Host, malformed};

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

/// `/proc/meminfo` as a map of field to bytes.
pub(crate) fn parse_meminfo(text: &str) -> HashMap<&str, u64> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut parts = rest.split_whitespace();
            let value: u64 = parts.next()?.parse().ok()?;
            let scale = if parts.next() == Some("kB") { 1024 } else { 1 };
            Some((key, value * scale))
        })
        .collect()
}

pub(crate) fn memory_from(info: &HashMap<&str, u64>) -> Result<MemoryStats> {
    let get = |k: &str| info.get(k).copied().unwrap_or(0);
    let total = info
        .get("MemTotal")
        .copied()
        .ok_or_else(|| malformed("/proc/meminfo", "no MemTotal"))?;
    let free = get("MemFree");
    let cached = get("Cached") + get("SReclaimable");
    // Kernels before 3.14 lack MemAvailable; estimate it the way `free` did then.
    let available = info
        .get("MemAvailable")
        .copied()
        .unwrap_or(free + get("Buffers") + cached)
        .min(total);
    Ok(MemoryStats {
        total,
        used: total - available,
        available,
        free,
        buffers: get("Buffers"),
        cached,
        swap_total: get("SwapTotal"),
        swap_used: get("SwapTotal").saturating_sub(get("SwapFree")),
        cgroup_limit: None,
    })
}

#[derive(Debug)]
pub struct MemoryCollector {
    host: Host,
    /// Found on the first sample: a process does not change cgroup while it samples memory.
    limit_file: Option<Option<String>>,
}

impl MemoryCollector {
    pub fn new(host: Host) -> Self {
        MemoryCollector {
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
            self.limit_file = Some(self.find_limit_file());
        }
        let file = self.limit_file.as_ref()?.as_ref()?;
        let limit: u64 = self.host.read_opt(file)?.parse().ok()?;
        (limit < 1 << 60).then_some(limit)
    }
}

impl Collector for MemoryCollector {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn default_interval(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn collect(&mut self) -> Result<Metric> {
        let text = self.host.read("proc/meminfo")?;
        let mut stats = memory_from(&parse_meminfo(&text))?;
        stats.cgroup_limit = self.cgroup_limit();
        Ok(Metric::Memory(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_meminfo_adds_up() {
        let info = parse_meminfo(include_str!("samples/proc_meminfo"));
        let stats = memory_from(&info).expect("parse");
        assert_eq!(stats.total, info["MemTotal"]);
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
