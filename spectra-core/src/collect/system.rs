use chrono::Utc;

use super::{Collector, Metric};
use super::{LoggedInUser, PiStats, Sensor, SystemInfo, Throttle};
use crate::error::{Error, Result};
use crate::sys::{Host, parse_u64};

pub(crate) fn parse_os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// glibc's `struct utmp` on Linux: 384 bytes a record.
const UTMP_RECORD: usize = 384;
const USER_PROCESS: i16 = 7;

/// The logged-in sessions of a utmp file.
pub(crate) fn parse_utmp(bytes: &[u8]) -> Vec<LoggedInUser> {
    let text = |field: &[u8]| {
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        String::from_utf8_lossy(&field[..end]).into_owned()
    };
    bytes
        .chunks_exact(UTMP_RECORD)
        .filter(|r| i16::from_ne_bytes([r[0], r[1]]) == USER_PROCESS)
        .map(|r| LoggedInUser {
            terminal: text(&r[8..40]),
            name: text(&r[44..76]),
            host: text(&r[76..332]),
        })
        .collect()
}

#[derive(Debug)]
pub struct SystemCollector {
    host: Host,
    /// Read once: the OS release does not change under a running agent (an upgrade restarts it).
    os: Option<Option<String>>,
}

impl SystemCollector {
    pub fn new(host: Host) -> Self {
        SystemCollector { host, os: None }
    }
}

impl Collector for SystemCollector {
    fn name(&self) -> &'static str {
        "system"
    }

    fn collect(&mut self) -> Result<Metric> {
        let uname = rustix::system::uname();
        let uptime_secs: f64 = self
            .host
            .read("proc/uptime")?
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| crate::sys::malformed("/proc/uptime", "no uptime"))?;
        let boot_time = Utc::now() - chrono::Duration::milliseconds((uptime_secs * 1000.0) as i64);
        let hostname = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty() && self.host.is_real())
            .unwrap_or_else(|| uname.nodename().to_string_lossy().into_owned());
        let host = &self.host;
        let os = self
            .os
            .get_or_insert_with(|| {
                let text = host
                    .read_opt("etc/os-release")
                    .or_else(|| host.read_opt("usr/lib/os-release"));
                text.as_deref().and_then(parse_os_release)
            })
            .clone();
        let users = ["run/utmp", "var/run/utmp"]
            .iter()
            .find_map(|p| std::fs::read(self.host.path(p)).ok())
            .map(|bytes| parse_utmp(&bytes))
            .unwrap_or_default();
        Ok(Metric::System(SystemInfo {
            hostname,
            os,
            kernel: uname.release().to_string_lossy().into_owned(),
            arch: uname.machine().to_string_lossy().into_owned(),
            uptime_secs,
            boot_time,
            process_count: self.host.pids().len(),
            users,
        }))
    }
}

#[derive(Debug)]
pub struct TemperatureCollector {
    host: Host,
}

impl TemperatureCollector {
    pub fn new(host: Host) -> Self {
        TemperatureCollector { host }
    }
}

fn millidegrees(text: Option<String>) -> Option<f64> {
    text.and_then(|t| t.parse::<f64>().ok()).map(|m| m / 1000.0)
}

impl Collector for TemperatureCollector {
    fn name(&self) -> &'static str {
        "temperature"
    }

    fn collect(&mut self) -> Result<Metric> {
        let mut sensors = Vec::new();
        for chip_dir in self.host.list("sys/class/hwmon") {
            let base = format!("sys/class/hwmon/{chip_dir}");
            let chip = self
                .host
                .read_opt(format!("{base}/name"))
                .unwrap_or_else(|| chip_dir.clone());
            for file in self.host.list(&base) {
                let Some(index) = file
                    .strip_prefix("temp")
                    .and_then(|f| f.strip_suffix("_input"))
                else {
                    continue;
                };
                let Some(current) = millidegrees(self.host.read_opt(format!("{base}/{file}")))
                else {
                    continue;
                };
                sensors.push(Sensor {
                    chip: chip.clone(),
                    label: self
                        .host
                        .read_opt(format!("{base}/temp{index}_label"))
                        .unwrap_or_else(|| format!("temp{index}")),
                    current,
                    high: millidegrees(self.host.read_opt(format!("{base}/temp{index}_max"))),
                    critical: millidegrees(self.host.read_opt(format!("{base}/temp{index}_crit"))),
                });
            }
        }
        if sensors.is_empty() {
            return Err(Error::unsupported(
                "temperature",
                "no hwmon temperature sensors (/sys/class/hwmon)",
            ));
        }
        Ok(Metric::Temperature(sensors))
    }
}

/// Decodes the firmware's throttle bits (documented by the Raspberry Pi foundation).
pub(crate) fn decode_throttle(bits: u32) -> Throttle {
    let bit = |n: u32| bits & (1 << n) != 0;
    Throttle {
        under_voltage_now: bit(0),
        frequency_capped_now: bit(1),
        throttled_now: bit(2),
        soft_temperature_limit_now: bit(3),
        under_voltage_occurred: bit(16),
        frequency_capped_occurred: bit(17),
        throttled_occurred: bit(18),
        soft_temperature_limit_occurred: bit(19),
    }
}

#[derive(Debug)]
pub struct RaspberryPiCollector {
    host: Host,
}

impl RaspberryPiCollector {
    pub fn new(host: Host) -> Self {
        RaspberryPiCollector { host }
    }
}

impl Collector for RaspberryPiCollector {
    fn name(&self) -> &'static str {
        "raspberry_pi"
    }

    fn collect(&mut self) -> Result<Metric> {
        let model = self
            .host
            .read_opt("proc/device-tree/model")
            .or_else(|| self.host.read_opt("sys/firmware/devicetree/base/model"))
            .map(|m| m.trim_end_matches('\0').to_string())
            .filter(|m| m.contains("Raspberry Pi"))
            .ok_or_else(|| {
                Error::unsupported(
                    "raspberry_pi",
                    "this machine is not a Raspberry Pi (device-tree model)",
                )
            })?;
        // The firmware driver exposes the throttle bits in sysfs on Raspberry Pi OS kernels.
        let throttled_raw = self
            .host
            .read_opt("sys/devices/platform/soc/soc:firmware/get_throttled")
            .and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok());
        Ok(Metric::RaspberryPi(PiStats {
            model,
            soc_temperature: millidegrees(
                self.host.read_opt("sys/class/thermal/thermal_zone0/temp"),
            ),
            arm_clock_mhz: self
                .host
                .read_opt("sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
                .as_deref()
                .and_then(parse_u64)
                .map(|khz| khz as f64 / 1000.0),
            throttled_raw,
            throttle: throttled_raw.map(decode_throttle),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample_host(name: &str) -> Host {
        Host::at(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/collect/samples")
                .join(name),
        )
    }

    #[test]
    fn a_recorded_raspberry_pi_reports_clock_temperature_and_throttling() {
        let Metric::RaspberryPi(pi) = RaspberryPiCollector::new(sample_host("pi4"))
            .collect()
            .expect("a Pi")
        else {
            panic!("wrong metric kind");
        };
        assert_eq!(pi.model, "Raspberry Pi 4 Model B Rev 1.4");
        assert_eq!(pi.soc_temperature, Some(54.017));
        assert_eq!(pi.arm_clock_mhz, Some(1500.0));
        assert_eq!(pi.throttled_raw, Some(0x50005));
        let t = pi.throttle.expect("decoded");
        assert!(t.under_voltage_now && t.throttled_now && !t.frequency_capped_now);
        assert!(
            t.under_voltage_occurred && t.throttled_occurred && !t.soft_temperature_limit_occurred
        );
    }

    #[test]
    fn a_recorded_pi_has_hwmon_sensors() {
        let Metric::Temperature(sensors) = TemperatureCollector::new(sample_host("pi4"))
            .collect()
            .expect("sensors")
        else {
            panic!("wrong metric kind");
        };
        assert_eq!(sensors.len(), 1);
        assert_eq!(
            (
                sensors[0].chip.as_str(),
                sensors[0].label.as_str(),
                sensors[0].current
            ),
            ("cpu_thermal", "temp1", 54.017)
        );
        assert_eq!(sensors[0].critical, Some(110.0));
    }

    #[test]
    fn off_a_pi_it_is_unsupported() {
        let err = RaspberryPiCollector::new(Host::at("/nonexistent"))
            .collect()
            .expect_err("unsupported");
        assert_eq!(err.code(), crate::ErrorCode::Unsupported);
        assert!(err.to_string().contains("not a Raspberry Pi"), "{err}");
    }

    #[test]
    fn utmp_records_and_os_release_parse() {
        let mut record = vec![0u8; UTMP_RECORD];
        record[0..2].copy_from_slice(&USER_PROCESS.to_ne_bytes());
        record[8..13].copy_from_slice(b"pts/0");
        record[44..49].copy_from_slice(b"alice");
        record[76..85].copy_from_slice(b"10.0.0.9\0");
        let mut dead = vec![0u8; UTMP_RECORD];
        dead[0..2].copy_from_slice(&8i16.to_ne_bytes());
        let bytes = [record, dead, vec![1, 2, 3]].concat();
        assert_eq!(
            parse_utmp(&bytes),
            vec![LoggedInUser {
                name: "alice".into(),
                terminal: "pts/0".into(),
                host: "10.0.0.9".into()
            }]
        );
        assert_eq!(
            parse_os_release("NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }
}
