//! Sockets from `/proc/net/{tcp,tcp6,udp,udp6}`, with the processes that own them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::Socket;
use crate::error::Result;
use crate::sys::Host;

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "ESTABLISHED",
        0x02 => "SYN_SENT",
        0x03 => "SYN_RECV",
        0x04 => "FIN_WAIT1",
        0x05 => "FIN_WAIT2",
        0x06 => "TIME_WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE_WAIT",
        0x09 => "LAST_ACK",
        0x0A => "LISTEN",
        0x0B => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// `0100007F:1F90` → `127.0.0.1:8080`; IPv6 addresses are four little-endian words.
fn parse_endpoint(text: &str) -> Option<String> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Vec<u32> = (0..address.len() / 8)
        .map(|i| {
            u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::from_be)
        })
        .collect::<Option<_>>()?;
    match words.as_slice() {
        [v4] => Some(format!("{}:{port}", Ipv4Addr::from(v4.to_be_bytes()))),
        [a, b, c, d] => {
            let bytes: Vec<u8> = [a, b, c, d].iter().flat_map(|w| w.to_be_bytes()).collect();
            let octets: [u8; 16] = bytes.try_into().ok()?;
            Some(format!("[{}]:{port}", Ipv6Addr::from(octets)))
        }
        _ => None,
    }
}

pub(crate) fn parse_proc_net(protocol: &str, text: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let state = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let state = if protocol.starts_with("udp") {
                if state == 0x01 {
                    "ESTABLISHED"
                } else {
                    "UNCONN"
                }
            } else {
                tcp_state(state)
            };
            Some(Socket {
                protocol: protocol.into(),
                local: parse_endpoint(f.get(1)?)?,
                remote: parse_endpoint(f.get(2)?)?,
                state: state.into(),
                uid: f.get(7)?.parse().ok()?,
                inode: f.get(9)?.parse().ok()?,
                processes: Vec::new(),
            })
        })
        .collect()
}

/// Socket inode → `pid/name` of every process holding it.
fn socket_owners(host: &Host) -> HashMap<u64, Vec<String>> {
    let mut owners: HashMap<u64, Vec<String>> = HashMap::new();
    for pid in host.pids() {
        let Ok(fds) = std::fs::read_dir(host.path(format!("proc/{pid}/fd"))) else {
            continue;
        };
        let name = host
            .read_opt(format!("proc/{pid}/comm"))
            .unwrap_or_default();
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse().ok())
            {
                let owner = format!("{pid}/{name}");
                let list = owners.entry(inode).or_default();
                if !list.contains(&owner) {
                    list.push(owner);
                }
            }
        }
    }
    owners
}

/// Every TCP and UDP socket of this host, IPv4 and IPv6.
pub(crate) fn netstat() -> Result<Vec<Socket>> {
    netstat_on(&Host::real())
}

pub(crate) fn netstat_on(host: &Host) -> Result<Vec<Socket>> {
    let mut sockets = Vec::new();
    for protocol in ["tcp", "tcp6", "udp", "udp6"] {
        // IPv6 may be disabled: its tables are then absent, which is not an error.
        if let Some(text) = host.read_opt(format!("proc/net/{protocol}")) {
            sockets.extend(parse_proc_net(protocol, &text));
        }
    }
    let owners = socket_owners(host);
    for socket in &mut sockets {
        socket.processes = owners.get(&socket.inode).cloned().unwrap_or_default();
    }
    Ok(sockets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_decode_both_families() {
        assert_eq!(
            parse_endpoint("0100007F:1F90").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            parse_endpoint("00000000000000000000000001000000:0016").as_deref(),
            Some("[::1]:22")
        );
        assert_eq!(parse_endpoint("nonsense"), None);
    }

    #[test]
    fn a_listener_of_this_process_is_found_with_its_owner() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let local = listener.local_addr().expect("addr").to_string();
        let sockets = netstat().expect("netstat");
        let mine = sockets
            .iter()
            .find(|s| s.local == local)
            .expect("our listener");
        assert_eq!(
            (mine.protocol.as_str(), mine.state.as_str()),
            ("tcp", "LISTEN")
        );
        let me = format!("{}/", std::process::id());
        assert!(
            mine.processes.iter().any(|p| p.starts_with(&me)),
            "{:?}",
            mine.processes
        );
    }
}
