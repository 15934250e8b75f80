use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::{Collector, Metric};
use super::{ProcessInfo, ProcessStats};
use crate::error::Result;
use crate::sys::Host;

/// The fields of `/proc/PID/stat` this collector uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PidStat {
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) state: char,
    /// utime + stime, in clock ticks.
    pub(crate) cpu_ticks: u64,
    pub(crate) threads: u64,
    /// Start time after boot, in clock ticks.
    pub(crate) start_ticks: u64,
    pub(crate) rss_pages: u64,
}

/// Parses `/proc/PID/stat`. The name sits in parentheses and may itself hold spaces and
/// parentheses, so the fields are counted from the *last* `)`.
pub(crate) fn parse_pid_stat(text: &str) -> Option<PidStat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text[..open].trim().parse().ok()?;
    let name = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(PidStat {
        pid,
        name,
        state: rest.first()?.chars().next()?,
        cpu_ticks: field(14)? + field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        rss_pages: field(24)?,
    })
}

pub(crate) fn state_name(state: char) -> &'static str {
    match state {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk_sleep",
        'Z' => "zombie",
        'T' | 't' => "stopped",
        'I' => "idle",
        'X' | 'x' => "dead",
        'W' => "paging",
        'P' => "parked",
        _ => "unknown",
    }
}

#[derive(Debug)]
pub struct ProcessCollector {
    host: Host,
    top: usize,
    previous: Option<(Instant, HashMap<u32, u64>)>,
    users: HashMap<u32, Option<String>>,
}

impl ProcessCollector {
    /// Reports the `top` largest consumers of CPU and of memory (10 is the agent's default).
    pub fn new(host: Host, top: usize) -> Self {
        ProcessCollector {
            host,
            top,
            previous: None,
            users: HashMap::new(),
        }
    }

    fn user(&mut self, uid: u32) -> Option<String> {
        self.users
            .entry(uid)
            .or_insert_with(|| crate::sys::user_name(uid))
            .clone()
    }
}

impl Collector for ProcessCollector {
    fn name(&self) -> &'static str {
        "processes"
    }

    fn collect(&mut self) -> Result<Metric> {
        let now = Instant::now();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let page_size = rustix::param::page_size() as u64;
        let uptime: f64 = self
            .host
            .read("proc/uptime")?
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let mut processes = Vec::new();
        let mut by_state = BTreeMap::new();
        let mut total_threads = 0;
        let mut cpu_now = HashMap::new();
        for entry in self.host.pids() {
            // A process may exit between the listing and these reads: skip it.
            let Some(stat) = self
                .host
                .read_opt(format!("proc/{entry}/stat"))
                .as_deref()
                .and_then(parse_pid_stat)
            else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(self.host.path(format!("proc/{entry}"))) else {
                continue;
            };
            let uid = std::os::unix::fs::MetadataExt::uid(&meta);
            *by_state
                .entry(state_name(stat.state).to_string())
                .or_insert(0) += 1;
            total_threads += stat.threads;
            cpu_now.insert(stat.pid, stat.cpu_ticks);
            let cpu_percent = match &self.previous {
                Some((then, before)) => {
                    let elapsed = (now - *then).as_secs_f64().max(1e-6);
                    let used = stat
                        .cpu_ticks
                        .saturating_sub(before.get(&stat.pid).copied().unwrap_or(0));
                    used as f64 / ticks / elapsed * 100.0
                }
                None => {
                    let alive = (uptime - stat.start_ticks as f64 / ticks).max(1e-6);
                    stat.cpu_ticks as f64 / ticks / alive * 100.0
                }
            };
            processes.push((stat, uid, cpu_percent));
        }
        let since_start = self.previous.is_none();
        self.previous = Some((now, cpu_now));
        let total = processes.len();
        let top = self.top;
        let mut info = |(stat, uid, cpu_percent): &(PidStat, u32, f64)| ProcessInfo {
            pid: stat.pid,
            name: stat.name.clone(),
            user: self.user(*uid),
            uid: Some(*uid),
            cpu_percent: *cpu_percent,
            rss_bytes: stat.rss_pages * page_size,
            threads: stat.threads,
            state: state_name(stat.state).to_string(),
        };
        processes.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.pid.cmp(&b.0.pid)));
        let top_by_cpu: Vec<ProcessInfo> = processes.iter().take(top).map(&mut info).collect();
        processes.sort_by(|a, b| {
            b.0.rss_pages
                .cmp(&a.0.rss_pages)
                .then(a.0.pid.cmp(&b.0.pid))
        });
        let top_by_memory: Vec<ProcessInfo> = processes.iter().take(top).map(&mut info).collect();
        Ok(Metric::Processes(ProcessStats {
            total,
            total_threads,
            by_state,
            top_by_cpu,
            top_by_memory,
            since_start,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_spaces_and_parentheses_parse() {
        let text = "4242 (my (weird) name) S 1 4242 4242 0 -1 4194560 500 0 0 0 120 30 0 0 20 0 7 0 9000 100000 2500 18446744073709551615";
        let stat = parse_pid_stat(text).expect("parse");
        assert_eq!(stat.name, "my (weird) name");
        assert_eq!(
            (
                stat.pid,
                stat.state,
                stat.cpu_ticks,
                stat.threads,
                stat.start_ticks,
                stat.rss_pages
            ),
            (4242, 'S', 150, 7, 9000, 2500)
        );
        assert_eq!(parse_pid_stat("12 (cut"), None);
        assert_eq!(parse_pid_stat(""), None);
    }

    #[test]
    fn this_process_is_found_with_its_threads() {
        let mut collector = ProcessCollector::new(Host::real(), 100_000);
        let Metric::Processes(stats) = collector.collect().expect("procfs") else {
            panic!("kind")
        };
        let me = std::process::id();
        let found = stats
            .top_by_memory
            .iter()
            .find(|p| p.pid == me)
            .expect("this test process");
        assert!(found.threads >= 1 && found.rss_bytes > 0);
        assert_eq!(stats.by_state.values().sum::<usize>(), stats.total);
        assert!(stats.since_start);
        let Metric::Processes(again) = collector.collect().expect("procfs") else {
            panic!("kind")
        };
        assert!(!again.since_start);
    }
}
