//! Network diagnostics: TCP connect, ICMP ping and traceroute, each bounded in time.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

#[cfg(spectra_unix)]
pub(crate) use super::icmp::{ping, traceroute};
use super::request::Budget;
use crate::error::{Error, Result};

/// Most probes one diagnostic sends, whatever was asked.
pub const MAX_PROBES: u32 = 100;
pub const MAX_HOPS: u8 = 64;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks that `target` is an IP address or a hostname (RFC 1123 labels) — and so can never
/// be read as an option by any tool, since neither may start with `-`.
pub fn validate_target(target: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid("target", format!("{target:?} {why}")));
    if target.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    if target.is_empty() || target.len() > 253 {
        return bad("must be 1 to 253 characters");
    }
    for label in target.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("has an empty or over-long label");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("has a label that starts or ends with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("is neither an IP address nor a hostname");
        }
    }
    Ok(())
}

fn check_timeout(timeout: Duration) -> Result<()> {
    if timeout.is_zero() || timeout > MAX_TIMEOUT {
        return Err(Error::invalid(
            "timeout",
            format!("{timeout:?} is not between 0 and {MAX_TIMEOUT:?}"),
        ));
    }
    Ok(())
}

fn resolve(target: &str, port: u16) -> Result<Vec<SocketAddr>> {
    validate_target(target)?;
    let addresses: Vec<SocketAddr> = (target, port)
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {target}"), e))?
        .collect();
    if addresses.is_empty() {
        return Err(Error::invalid(
            "target",
            format!("{target:?} has no address"),
        ));
    }
    Ok(addresses)
}

/// The first address the resolver gives for `target` (IPv4 or IPv6, as `ping` would use).
/// The bound a ping (probes) or a traceroute (hops) is given.
pub(super) enum ProbeLimit {
    Count(u32),
    Hops(u8),
}

/// Checks a probe's timeout and its count or hop limit against their maxima.
pub(super) fn check_probe_arguments(timeout: Duration, limit: ProbeLimit) -> Result<()> {
    check_timeout(timeout)?;
    let (what, value, max) = match limit {
        ProbeLimit::Count(count) => ("count", count, MAX_PROBES),
        ProbeLimit::Hops(hops) => ("max_hops", u32::from(hops), u32::from(MAX_HOPS)),
    };
    if value == 0 || value > max {
        return Err(Error::invalid(
            what,
            format!("{value} is not between 1 and {max}"),
        ));
    }
    Ok(())
}

#[cfg(spectra_unix)]
pub(super) fn resolve_ip(target: &str) -> Result<IpAddr> {
    Ok(resolve(target, 0)?[0].ip())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpConnectResult {
    pub target: String,
    pub port: u16,
    /// The address that answered (or the last one tried).
    pub address: Option<String>,
    pub connected: bool,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

/// Tries each address of `target` in turn until one accepts a TCP connection.
pub(crate) fn tcp_connect(
    target: &str,
    port: u16,
    timeout: Duration,
    budget: &Budget<'_>,
) -> Result<TcpConnectResult> {
    check_timeout(timeout)?;
    let mut result = TcpConnectResult {
        target: target.into(),
        port,
        address: None,
        connected: false,
        latency_ms: None,
        error: None,
    };
    for address in resolve(target, port)? {
        let started = Instant::now();
        result.address = Some(address.to_string());
        match TcpStream::connect_timeout(&address, budget.allow(timeout)?) {
            Ok(_) => {
                result.connected = true;
                result.latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
                result.error = None;
                break;
            }
            Err(e) => result.error = Some(e.to_string()),
        }
    }
    Ok(result)
}

/// One socket of `netstat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    /// `tcp`, `tcp6`, `udp` or `udp6`.
    pub protocol: String,
    pub local: String,
    pub remote: String,
    /// TCP state (`LISTEN`, `ESTABLISHED`, …); UDP sockets show `UNCONN` or `ESTABLISHED`.
    pub state: String,
    pub uid: u32,
    pub inode: u64,
    /// The processes holding the socket, as `pid/name` (only those this user may inspect).
    pub processes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingResult {
    pub target: String,
    pub address: String,
    pub transmitted: u32,
    pub received: u32,
    pub loss_percent: f64,
    /// Round-trip times of the replies, in milliseconds.
    pub rtts_ms: Vec<f64>,
    pub min_ms: Option<f64>,
    pub avg_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// `icmp_datagram` (unprivileged ping socket) or `icmp_raw`.
    pub method: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hop {
    pub ttl: u8,
    /// The router that answered, `None` when no answer came in time.
    pub address: Option<String>,
    pub rtt_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TracerouteResult {
    pub target: String,
    pub address: String,
    pub hops: Vec<Hop>,
    pub reached: bool,
}

/// Without Unix sockets (Windows) there is no ICMP socket to send with, and no shell is ever
/// used instead: ping answers `Unsupported` once its arguments are checked.
#[cfg(not(spectra_unix))]
pub(crate) fn ping(
    target: &str,
    count: u32,
    timeout: Duration,
    _budget: &Budget<'_>,
) -> Result<PingResult> {
    validate_target(target)?;
    check_probe_arguments(timeout, ProbeLimit::Count(count))?;
    Err(no_icmp("ping"))
}

/// As [`ping`]: `Unsupported` without Unix sockets, once its arguments are checked.
#[cfg(not(spectra_unix))]
pub(crate) fn traceroute(
    target: &str,
    max_hops: u8,
    timeout: Duration,
    _budget: &Budget<'_>,
) -> Result<TracerouteResult> {
    validate_target(target)?;
    check_probe_arguments(timeout, ProbeLimit::Hops(max_hops))?;
    Err(no_icmp("traceroute"))
}

#[cfg(not(spectra_unix))]
fn no_icmp(what: &str) -> Error {
    Error::unsupported(
        what,
        "it needs ICMP sockets, which this build only has on Unix (and never runs a shell \
         tool instead)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_targets_are_refused() {
        for bad in [
            "-oProxyCommand=x",
            "--help",
            "a b",
            "host;rm",
            "$(id)",
            "",
            "x..y",
            "-1.2.3.4",
            &"a".repeat(254),
        ] {
            let err = validate_target(bad).expect_err(bad);
            assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "{bad}");
        }
        for good in [
            "localhost",
            "127.0.0.1",
            "::1",
            "db-1.example.com",
            "example.com.",
        ] {
            validate_target(good).expect(good);
        }
        assert!(ping("--flood", 1, Duration::from_secs(1), &Budget::generous()).is_err());
        assert!(
            tcp_connect("127.0.0.1", 80, Duration::ZERO, &Budget::generous()).is_err(),
            "a zero timeout is refused"
        );
        assert!(
            ping(
                "127.0.0.1",
                MAX_PROBES + 1,
                Duration::from_secs(1),
                &Budget::generous()
            )
            .is_err()
        );
    }

    #[test]
    fn tcp_connect_sees_a_listener_and_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let open = tcp_connect(
            "127.0.0.1",
            port,
            Duration::from_secs(2),
            &Budget::generous(),
        )
        .expect("connect");
        assert!(open.connected && open.latency_ms.is_some());
        drop(listener);
        let closed = tcp_connect(
            "127.0.0.1",
            port,
            Duration::from_secs(2),
            &Budget::generous(),
        )
        .expect("connect");
        assert!(!closed.connected);
        assert!(closed.error.expect("why").contains("refused"));
    }
}
