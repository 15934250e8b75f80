//! Ping and traceroute over ICMP sockets (Unix: an unprivileged datagram socket where the
//! system allows one, else a raw socket).

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType, ipproto, sockopt};

use super::net::{
    Hop, PingResult, ProbeLimit, TracerouteResult, check_probe_arguments, resolve_ip,
};
use super::request::{Budget, CANCEL_POLL};
use crate::error::{Error, Result};

/// ICMP for one address family: the protocol, and the echo and answer message types.
#[derive(Debug, Clone, Copy)]
struct Icmp {
    family: AddressFamily,
    protocol: rustix::net::Protocol,
    echo_request: u8,
    echo_reply: u8,
    time_exceeded: u8,
    unreachable: u8,
    /// A raw IPv4 socket hands over the IP header too; IPv6 raw sockets never do.
    raw_includes_ip_header: bool,
}

impl Icmp {
    fn for_address(address: IpAddr) -> Icmp {
        match address {
            IpAddr::V4(_) => Icmp {
                family: AddressFamily::INET,
                protocol: ipproto::ICMP,
                echo_request: 8,
                echo_reply: 0,
                time_exceeded: 11,
                unreachable: 3,
                raw_includes_ip_header: true,
            },
            IpAddr::V6(_) => Icmp {
                family: AddressFamily::INET6,
                protocol: ipproto::ICMPV6,
                echo_request: 128,
                echo_reply: 129,
                time_exceeded: 3,
                unreachable: 1,
                raw_includes_ip_header: false,
            },
        }
    }

    /// The unprivileged datagram kind where the system allows it
    /// (`net.ipv4.ping_group_range`), else a raw one (needs CAP_NET_RAW). The flag says raw.
    fn socket(&self, what: &str) -> Result<(OwnedFd, bool)> {
        if let Ok(fd) = rustix::net::socket(self.family, SocketType::DGRAM, Some(self.protocol)) {
            return Ok((fd, false));
        }
        self.raw_socket(what).map(|fd| (fd, true))
    }

    fn raw_socket(&self, what: &str) -> Result<OwnedFd> {
        rustix::net::socket(self.family, SocketType::RAW, Some(self.protocol)).map_err(|_| {
            Error::unsupported(
                what.to_string(),
                "neither an unprivileged ICMP socket (net.ipv4.ping_group_range) nor a raw one (CAP_NET_RAW) is allowed",
            )
        })
    }

    fn echo_request(&self, id: u16, seq: u16) -> [u8; 24] {
        let mut packet = [0u8; 24];
        packet[0] = self.echo_request;
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        packet[6..8].copy_from_slice(&seq.to_be_bytes());
        packet[8..].copy_from_slice(b"spectra-diagnose");
        // The kernel computes ICMPv6 checksums itself (they cover a pseudo-header).
        if self.family == AddressFamily::INET {
            let sum = checksum(&packet);
            packet[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        packet
    }

    /// The ICMP message of a received packet.
    fn payload<'p>(&self, packet: &'p [u8], raw: bool) -> Option<&'p [u8]> {
        if !(raw && self.raw_includes_ip_header) {
            return Some(packet);
        }
        packet.get(ip_header_len(packet)?..)
    }
}

/// The length of the IP header at the start of `packet` (IPv4 has options; IPv6 is 40 bytes).
fn ip_header_len(packet: &[u8]) -> Option<usize> {
    let first = *packet.first()?;
    match first >> 4 {
        4 => Some(usize::from(first & 0x0f) * 4),
        6 => Some(40),
        _ => None,
    }
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn set_receive_timeout(fd: &OwnedFd, timeout: Duration) -> Result<()> {
    sockopt::set_socket_timeout(fd, sockopt::Timeout::Recv, Some(timeout))
        .map_err(|e| Error::io("socket", e.into()))
}

/// Sends `count` ICMP echo requests (IPv4 or IPv6), one per `timeout` at most, and reports
/// the replies.
pub(crate) fn ping(
    target: &str,
    count: u32,
    timeout: Duration,
    budget: &Budget<'_>,
) -> Result<PingResult> {
    check_probe_arguments(timeout, ProbeLimit::Count(count))?;
    let address = resolve_ip(target)?;
    let icmp = Icmp::for_address(address);
    let (fd, raw) = icmp.socket("ping")?;
    let id = (std::process::id() & 0xffff) as u16;
    let destination = SocketAddr::new(address, 0);
    let mut rtts = Vec::new();
    let mut buffer = [0u8; 1500];
    for seq in 1..=count as u16 {
        let timeout = budget.allow(timeout)?;
        let started = Instant::now();
        rustix::net::sendto(
            &fd,
            &icmp.echo_request(id, seq),
            SendFlags::empty(),
            &destination,
        )
        .map_err(|e| Error::io(format!("ping {target}"), e.into()))?;
        // Wait for this probe's reply, ignoring other ICMP traffic a raw socket also sees.
        while let Some(left) = timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        {
            budget.check()?;
            set_receive_timeout(&fd, left.min(CANCEL_POLL))?;
            let Ok((n, _, _)) = rustix::net::recvfrom(&fd, &mut buffer, RecvFlags::empty()) else {
                continue;
            };
            let Some(message) = icmp.payload(&buffer[..n], raw) else {
                continue;
            };
            let is_reply = message.len() >= 8
                && message[0] == icmp.echo_reply
                && u16::from_be_bytes([message[6], message[7]]) == seq;
            // The kernel picks the id of a datagram ping socket; a raw socket must match ours.
            if is_reply && (!raw || u16::from_be_bytes([message[4], message[5]]) == id) {
                rtts.push(started.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
    }
    let received = rtts.len() as u32;
    let avg = (!rtts.is_empty()).then(|| rtts.iter().sum::<f64>() / rtts.len() as f64);
    Ok(PingResult {
        target: target.into(),
        address: address.to_string(),
        transmitted: count,
        received,
        loss_percent: f64::from(count - received) * 100.0 / f64::from(count),
        min_ms: rtts.iter().copied().reduce(f64::min),
        max_ms: rtts.iter().copied().reduce(f64::max),
        avg_ms: avg,
        rtts_ms: rtts,
        method: if raw { "icmp_raw" } else { "icmp_datagram" }.into(),
    })
}

const TRACE_BASE_PORT: u16 = 33434;

/// UDP probes with a rising TTL (hop limit); routers answer "time exceeded", the target "port
/// unreachable". Answers are read on a raw ICMP socket, so this needs CAP_NET_RAW (else
/// `Unsupported`). IPv4 and IPv6.
pub(crate) fn traceroute(
    target: &str,
    max_hops: u8,
    timeout: Duration,
    budget: &Budget<'_>,
) -> Result<TracerouteResult> {
    check_probe_arguments(timeout, ProbeLimit::Hops(max_hops))?;
    let address = resolve_ip(target)?;
    let icmp = Icmp::for_address(address);
    let listener = icmp.raw_socket("traceroute")?;
    let sender = rustix::net::socket(icmp.family, SocketType::DGRAM, None)
        .map_err(|e| Error::io("udp socket", e.into()))?;
    let mut hops = Vec::new();
    let mut reached = false;
    let mut buffer = [0u8; 1500];
    for ttl in 1..=max_hops {
        let port = TRACE_BASE_PORT + u16::from(ttl);
        let set_ttl = match address {
            IpAddr::V4(_) => sockopt::set_ip_ttl(&sender, u32::from(ttl)),
            IpAddr::V6(_) => sockopt::set_ipv6_unicast_hops(&sender, Some(ttl)),
        };
        set_ttl.map_err(|e| Error::io("udp socket", e.into()))?;
        let timeout = budget.allow(timeout)?;
        let started = Instant::now();
        rustix::net::sendto(
            &sender,
            b"spectra-trace",
            SendFlags::empty(),
            &SocketAddr::new(address, port),
        )
        .map_err(|e| Error::io(format!("traceroute {target}"), e.into()))?;
        let mut hop = Hop {
            ttl,
            address: None,
            rtt_ms: None,
        };
        while let Some(left) = timeout
            .checked_sub(started.elapsed())
            .filter(|d| !d.is_zero())
        {
            budget.check()?;
            set_receive_timeout(&listener, left.min(CANCEL_POLL))?;
            let Ok((n, _, from)) =
                rustix::net::recvfrom(&listener, &mut buffer, RecvFlags::empty())
            else {
                continue;
            };
            let Some(message) = icmp.payload(&buffer[..n], true) else {
                continue;
            };
            let kind = message.first().copied();
            if kind != Some(icmp.time_exceeded) && kind != Some(icmp.unreachable) {
                continue;
            }
            // The answer quotes our IP header and the first 8 bytes of our UDP header.
            let Some(quoted_ip) = message.get(8..) else {
                continue;
            };
            let Some(udp_at) = ip_header_len(quoted_ip) else {
                continue;
            };
            let Some(udp) = quoted_ip.get(udp_at..udp_at + 4) else {
                continue;
            };
            if u16::from_be_bytes([udp[2], udp[3]]) != port {
                continue;
            }
            hop.address = from
                .and_then(|a| SocketAddr::try_from(a).ok())
                .map(|a| a.ip().to_string());
            hop.rtt_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
            reached = kind == Some(icmp.unreachable);
            break;
        }
        hops.push(hop);
        if reached {
            break;
        }
    }
    Ok(TracerouteResult {
        target: target.into(),
        address: address.to_string(),
        hops,
        reached,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_the_rfc_1071_example() {
        // RFC 1071's worked example: these words sum to 0xddf2 (one's complement 0x220d).
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        let packet =
            Icmp::for_address(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)).echo_request(7, 1);
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
    }
    /// ICMP needs either a ping group or CAP_NET_RAW; where neither is allowed, say so.
    #[test]
    fn ping_and_traceroute_reach_loopback_over_both_families() {
        for (target, literal) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1")] {
            let icmp = Icmp::for_address(literal.parse().expect("ip"));
            if icmp.socket("ping").is_err() {
                let err = ping(target, 1, Duration::from_secs(1), &Budget::generous())
                    .expect_err("unsupported");
                assert_eq!(err.code(), crate::ErrorCode::Unsupported);
                continue;
            }
            let result =
                ping(target, 3, Duration::from_secs(2), &Budget::generous()).expect("ping");
            assert_eq!(
                (result.transmitted, result.received, result.loss_percent),
                (3, 3, 0.0),
                "{result:?}"
            );
            assert!(result.min_ms <= result.avg_ms && result.avg_ms <= result.max_ms);
            let trace = traceroute(target, 5, Duration::from_secs(2), &Budget::generous());
            if icmp.raw_socket("traceroute").is_err() {
                assert_eq!(
                    trace.expect_err("needs a raw socket").code(),
                    crate::ErrorCode::Unsupported
                );
                continue;
            }
            let trace = trace.expect("traceroute");
            assert!(trace.reached, "{trace:?}");
            assert_eq!(trace.hops.len(), 1);
            assert_eq!(trace.hops[0].address.as_deref(), Some(literal));
        }
    }
}
