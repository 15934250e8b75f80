use std::collections::HashMap;
use std::time::Instant;

use super::records::PreviousSample;
use super::{COMMAND_TIMEOUT, MAX_COMMAND_OUTPUT};
use super::{Collector, Metric};
use super::{InterfaceStats, WifiLink};
use crate::error::{Error, Result};
use crate::sys::run_bounded;
use crate::sys::{Host, malformed};

pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<InterfaceStats>> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            return Err(malformed(
                "/proc/net/dev",
                format!("no interface name in {line:?}"),
            ));
        };
        let values: Vec<u64> = counters
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        if values.len() < 16 {
            return Err(malformed("/proc/net/dev", format!("short line {line:?}")));
        }
        out.push(InterfaceStats {
            name: name.trim().to_string(),
            up: None,
            addresses: Vec::new(),
            rx_bytes: values[0],
            rx_packets: values[1],
            rx_errors: values[2],
            rx_drops: values[3],
            tx_bytes: values[8],
            tx_packets: values[9],
            tx_errors: values[10],
            tx_drops: values[11],
            rates: None,
        });
    }
    Ok(out)
}

/// Whether each interface is operational (`IFF_RUNNING`) and its addresses, from one
/// `getifaddrs` call (one netlink dump, cheaper than reading `operstate` per interface).
fn interface_states() -> HashMap<String, (bool, Vec<String>)> {
    use nix::net::if_::InterfaceFlags;
    let mut out: HashMap<String, (bool, Vec<String>)> = HashMap::new();
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in addrs {
        let state = out.entry(ifa.interface_name).or_default();
        state.0 |= ifa.flags.contains(InterfaceFlags::IFF_RUNNING);
        let ip = ifa.address.and_then(|a| {
            a.as_sockaddr_in()
                .map(|a| a.ip().to_string())
                .or_else(|| a.as_sockaddr_in6().map(|a| a.ip().to_string()))
        });
        state.1.extend(ip);
    }
    out
}

#[derive(Debug)]
pub struct NetworkCollector {
    host: Host,
    previous: PreviousSample<InterfaceStats>,
}

impl NetworkCollector {
    pub fn new(host: Host) -> Self {
        NetworkCollector {
            host,
            previous: PreviousSample::default(),
        }
    }
}

impl Collector for NetworkCollector {
    fn name(&self) -> &'static str {
        "network"
    }

    fn collect(&mut self) -> Result<Metric> {
        let now = Instant::now();
        let mut stats = parse_net_dev(&self.host.read("proc/net/dev")?)?;
        let mut states = if self.host.is_real() {
            interface_states()
        } else {
            HashMap::new()
        };
        for s in &mut stats {
            if let Some((running, addresses)) = states.remove(&s.name) {
                s.up = Some(running);
                s.addresses = addresses;
            }
        }
        self.previous.rate(now, &mut stats);
        Ok(Metric::Network(stats))
    }
}

/// `/proc/net/wireless`: interface, link quality and signal level.
pub(crate) fn parse_proc_wireless(text: &str) -> Vec<WifiLink> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let number = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.trim_end_matches('.').parse::<f64>().ok())
            };
            Some(WifiLink {
                interface: name.trim().to_string(),
                ssid: None,
                link_quality: number(1),
                signal_dbm: number(2),
                bitrate_mbps: None,
                frequency_mhz: None,
            })
        })
        .collect()
}

/// Adds what `iw dev IFACE link` prints (SSID, frequency, signal, bitrate) to `link`.
pub(crate) fn apply_iw_link(link: &mut WifiLink, text: &str) {
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || {
            value
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<f64>().ok())
        };
        match key {
            "SSID" => link.ssid = Some(value.trim().to_string()),
            "freq" => link.frequency_mhz = number(),
            "signal" => link.signal_dbm = number().or(link.signal_dbm),
            "tx bitrate" => link.bitrate_mbps = number(),
            _ => {}
        }
    }
}

#[derive(Debug)]
pub struct WifiCollector {
    host: Host,
}

impl WifiCollector {
    pub fn new(host: Host) -> Self {
        WifiCollector { host }
    }
}

impl Collector for WifiCollector {
    fn name(&self) -> &'static str {
        "wifi"
    }

    fn collect(&mut self) -> Result<Metric> {
        let text = self.host.read("proc/net/wireless").map_err(|_| {
            Error::unsupported(
                "wifi",
                "no wireless extensions (/proc/net/wireless is absent)",
            )
        })?;
        let mut links = parse_proc_wireless(&text);
        if links.is_empty() {
            return Err(Error::unsupported("wifi", "no wireless interface"));
        }
        if self.host.is_real() {
            for link in &mut links {
                // A fixed argument vector, no shell; iw is optional.
                if let Ok(out) = run_bounded(
                    "iw",
                    &["dev", &link.interface, "link"],
                    COMMAND_TIMEOUT,
                    MAX_COMMAND_OUTPUT,
                ) {
                    apply_iw_link(link, &out.stdout);
                }
            }
        }
        Ok(Metric::Wifi(links))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::collect::records::interface_rates;

    #[test]
    fn net_dev_parses_the_recorded_sample() {
        let stats = parse_net_dev(include_str!("samples/proc_net_dev")).expect("parse");
        let lo = stats.iter().find(|s| s.name == "lo").expect("loopback");
        assert_eq!(lo.rx_bytes, lo.tx_bytes, "loopback sends what it receives");
        assert!(parse_net_dev("h1\nh2\neth0 1 2 3\n").is_err());
    }

    #[test]
    fn rates_divide_the_counter_change_by_the_interval() {
        let text = |rx: u64| format!("h\nh\n eth0: {rx} 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n");
        let before = parse_net_dev(&text(1000)).expect("parse").remove(0);
        let after = parse_net_dev(&text(5000)).expect("parse").remove(0);
        let r = interface_rates(&before, &after, Duration::from_secs(4));
        assert_eq!(r.rx_bytes_per_sec, 1000.0);
        assert_eq!(r.tx_bytes_per_sec, 0.0);
    }

    #[test]
    fn a_recorded_wireless_interface_parses() {
        let mut links = parse_proc_wireless(include_str!("samples/proc_net_wireless"));
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].interface, "wlan0");
        assert_eq!(links[0].link_quality, Some(58.0));
        assert_eq!(links[0].signal_dbm, Some(-52.0));
        apply_iw_link(&mut links[0], include_str!("samples/iw_link"));
        assert_eq!(links[0].ssid.as_deref(), Some("office net"));
        assert_eq!(links[0].frequency_mhz, Some(5180.0));
        assert_eq!(links[0].bitrate_mbps, Some(866.7));
        assert_eq!(links[0].signal_dbm, Some(-51.0));
    }

    #[test]
    fn no_wireless_is_unsupported_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = WifiCollector::new(Host::at(dir.path()))
            .collect()
            .expect_err("unsupported");
        assert_eq!(err.code(), crate::ErrorCode::Unsupported);
    }
}
