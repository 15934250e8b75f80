use super::{Collector, Metric};
use super::{CpuStats, CpuUsage};
use crate::error::Result;
use crate::sys::{Host, malformed};

/// Jiffies from one `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    user: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    steal: u64,
}

impl CpuTimes {
    fn total(&self) -> u64 {
        self.user + self.system + self.idle + self.iowait + self.steal
    }

    fn usage_since(&self, earlier: &CpuTimes) -> CpuUsage {
        let d = |now: u64, then: u64| super::counter_delta(then, now) as f64;
        let total = d(self.total(), earlier.total());
        if total <= 0.0 {
            return CpuUsage {
                idle_percent: 100.0,
                ..CpuUsage::default()
            };
        }
        let pct = |part: f64| (part / total * 100.0).clamp(0.0, 100.0);
        let idle = pct(d(self.idle, earlier.idle));
        let iowait = pct(d(self.iowait, earlier.iowait));
        CpuUsage {
            usage_percent: (100.0 - idle - iowait).clamp(0.0, 100.0),
            user_percent: pct(d(self.user, earlier.user)),
            system_percent: pct(d(self.system, earlier.system)),
            idle_percent: idle,
            iowait_percent: iowait,
            steal_percent: pct(d(self.steal, earlier.steal)),
        }
    }
}

/// The aggregate line and one line per core of `/proc/stat`.
pub(crate) fn parse_proc_stat(text: &str) -> Result<(CpuTimes, Vec<CpuTimes>)> {
    let mut total = None;
    let mut cores = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("cpu")) {
        let mut fields = line.split_whitespace();
        let label = fields.next().unwrap_or_default();
        let values: Vec<u64> = fields.map(|f| f.parse().unwrap_or(0)).collect();
        if values.len() < 4 {
            return Err(malformed("/proc/stat", format!("short line {line:?}")));
        }
        let at = |i: usize| values.get(i).copied().unwrap_or(0);
        let times = CpuTimes {
            user: at(0) + at(1),
            system: at(2) + at(5) + at(6),
            idle: at(3),
            iowait: at(4),
            steal: at(7),
        };
        if label == "cpu" {
            total = Some(times);
        } else {
            cores.push(times);
        }
    }
    let total = total.ok_or_else(|| malformed("/proc/stat", "no aggregate cpu line"))?;
    Ok((total, cores))
}

pub(crate) fn parse_loadavg(text: &str) -> Result<[f64; 3]> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    let mut next = || {
        fields
            .next()
            .and_then(|v| v.ok())
            .ok_or_else(|| malformed("/proc/loadavg", format!("{text:?}")))
    };
    Ok([next()?, next()?, next()?])
}

/// Mean of the `cpu MHz` lines of `/proc/cpuinfo`.
pub(crate) fn parse_cpuinfo_mhz(text: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("cpu MHz"))
        .filter_map(|l| l.split(':').nth(1)?.trim().parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[derive(Debug)]
pub struct CpuCollector {
    host: Host,
    previous: Option<(CpuTimes, Vec<CpuTimes>)>,
    /// The cpufreq files of the cores, found on the first sample (the set of cores does not
    /// change between samples; an empty list means: use `/proc/cpuinfo`).
    frequency_files: Option<Vec<String>>,
    /// Without cpufreq (most virtual machines) `/proc/cpuinfo` shows the nominal clock, which
    /// does not change: it is read once, since generating that file is the costliest read here.
    nominal_mhz: Option<Option<f64>>,
}

impl CpuCollector {
    pub fn new(host: Host) -> Self {
        CpuCollector {
            host,
            previous: None,
            frequency_files: None,
            nominal_mhz: None,
        }
    }

    fn frequency_mhz(&mut self) -> Option<f64> {
        let host = &self.host;
        let files = self.frequency_files.get_or_insert_with(|| {
            host.list("sys/devices/system/cpu")
                .iter()
                .filter(|n| {
                    n.len() > 3
                        && n.starts_with("cpu")
                        && n[3..].bytes().all(|c| c.is_ascii_digit())
                })
                .map(|n| format!("sys/devices/system/cpu/{n}/cpufreq/scaling_cur_freq"))
                .filter(|f| host.path(f).exists())
                .collect()
        });
        let khz: Vec<f64> = files
            .iter()
            .filter_map(|f| host.read_opt(f)?.parse().ok())
            .collect();
        if khz.is_empty() {
            return *self.nominal_mhz.get_or_insert_with(|| {
                host.read_opt("proc/cpuinfo")
                    .as_deref()
                    .and_then(parse_cpuinfo_mhz)
            });
        }
        Some(khz.iter().sum::<f64>() / khz.len() as f64 / 1000.0)
    }
}

impl Collector for CpuCollector {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn collect(&mut self) -> Result<Metric> {
        let (total, cores) = parse_proc_stat(&self.host.read("proc/stat")?)?;
        let [load_1, load_5, load_15] = parse_loadavg(&self.host.read("proc/loadavg")?)?;
        let since_boot = self.previous.is_none();
        let (prev_total, prev_cores) = self.previous.take().unwrap_or_default();
        let zero = CpuTimes::default();
        let stats = CpuStats {
            total: total.usage_since(&prev_total),
            per_core: cores
                .iter()
                .enumerate()
                .map(|(i, c)| c.usage_since(prev_cores.get(i).unwrap_or(&zero)))
                .collect(),
            load_1,
            load_5,
            load_15,
            core_count: cores.len(),
            frequency_mhz: self.frequency_mhz(),
            since_boot,
        };
        self.previous = Some((total, cores));
        Ok(Metric::Cpu(stats))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = include_str!("samples/proc_stat");

    #[test]
    fn proc_stat_parses_the_recorded_sample() {
        let (total, cores) = parse_proc_stat(STAT).expect("parse");
        assert_eq!(cores.len(), 2);
        assert_eq!(total.user, 58414 + 43397);
        assert_eq!(total.idle, 842280);
        assert_eq!(total.steal, 301);
    }

    #[test]
    fn usage_is_the_share_of_the_interval() {
        let before = CpuTimes {
            user: 100,
            system: 50,
            idle: 800,
            iowait: 50,
            steal: 0,
        };
        let after = CpuTimes {
            user: 160,
            system: 70,
            idle: 900,
            iowait: 70,
            steal: 0,
        };
        let u = after.usage_since(&before);
        assert!((u.usage_percent - 40.0).abs() < 1e-9, "{u:?}");
        assert!((u.user_percent - 30.0).abs() < 1e-9);
        assert!((u.iowait_percent - 10.0).abs() < 1e-9);
        let idle = after.usage_since(&after);
        assert_eq!(idle.idle_percent, 100.0, "no time passed: idle, not NaN");
    }

    #[test]
    fn malformed_files_are_errors_not_panics() {
        assert!(parse_proc_stat("").is_err());
        assert!(parse_proc_stat("cpu 1 2\n").is_err());
        assert!(parse_loadavg("x y z").is_err());
        assert_eq!(
            parse_loadavg("0.35 0.65 0.36 1/134 30500").expect("parse"),
            [0.35, 0.65, 0.36]
        );
        assert_eq!(
            parse_cpuinfo_mhz("cpu MHz\t\t: 2000.0\ncpu MHz : 3000.0\n"),
            Some(2500.0)
        );
    }
}
