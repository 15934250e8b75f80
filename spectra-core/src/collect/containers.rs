//! Containers and guests: Docker over its Unix socket, Proxmox LXC and VM guests via `pvesh`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::Container;
use super::{COMMAND_TIMEOUT, MAX_COMMAND_OUTPUT};
use super::{Collector, Metric};
use crate::error::{Error, Result};
use crate::sys::Host;
use crate::sys::run_bounded;

/// The largest Docker API response read; a longer one is an error, not an allocation.
const MAX_RESPONSE: u64 = 16 << 20;
const DOCKER_TIMEOUT: Duration = Duration::from_secs(5);

/// One HTTP/1.1 GET over a Unix socket, the way the Docker API is spoken. Returns the status
/// and the body, with chunked transfer decoded.
pub(crate) fn unix_http_get(socket: &Path, path: &str) -> Result<(u16, Vec<u8>)> {
    let io = |e: std::io::Error| Error::io(socket, e);
    let mut stream = UnixStream::connect(socket).map_err(io)?;
    stream.set_read_timeout(Some(DOCKER_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(DOCKER_TIMEOUT)).map_err(io)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .map_err(io)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_RESPONSE + 1)
        .read_to_end(&mut raw)
        .map_err(io)?;
    if raw.len() as u64 > MAX_RESPONSE {
        return Err(Error::TooLarge {
            what: format!("response to {path}"),
            limit: MAX_RESPONSE,
            unit: "bytes",
        });
    }
    parse_http_response(&raw).ok_or_else(|| Error::InvalidData {
        what: format!("HTTP response from {}", socket.display()),
        message: format!("malformed response to GET {path}"),
    })
}

pub(crate) fn parse_http_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    Some((
        status,
        if chunked {
            decode_chunked(body)?
        } else {
            body.to_vec()
        },
    ))
}

fn decode_chunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// Containers from `GET /containers/json?all=1`.
pub(crate) fn parse_docker_list(list: &Value) -> Vec<Container> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|c| Container {
            runtime: "docker".into(),
            id: c["Id"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .take(12)
                .collect(),
            name: c["Names"][0]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            image: c["Image"].as_str().map(str::to_string),
            node: None,
            state: c["State"].as_str().unwrap_or("unknown").to_string(),
            cpu_percent: None,
            memory_usage: None,
            memory_limit: None,
            network_rx_bytes: None,
            network_tx_bytes: None,
        })
        .collect()
}

/// Adds `GET /containers/{id}/stats?stream=false` figures, computed as `docker stats` does.
pub(crate) fn apply_docker_stats(container: &mut Container, stats: &Value) {
    let n = |v: &Value| v.as_u64();
    let cpu = &stats["cpu_stats"];
    let pre = &stats["precpu_stats"];
    let cpu_delta = n(&cpu["cpu_usage"]["total_usage"])
        .zip(n(&pre["cpu_usage"]["total_usage"]))
        .map(|(a, b)| a.saturating_sub(b));
    let system_delta = n(&cpu["system_cpu_usage"])
        .zip(n(&pre["system_cpu_usage"]))
        .map(|(a, b)| a.saturating_sub(b));
    let cpus = n(&cpu["online_cpus"]).unwrap_or(1) as f64;
    container.cpu_percent = match (cpu_delta, system_delta) {
        (Some(c), Some(s)) if s > 0 => Some(c as f64 / s as f64 * cpus * 100.0),
        _ => None,
    };
    container.memory_usage = n(&stats["memory_stats"]["usage"]);
    container.memory_limit = n(&stats["memory_stats"]["limit"]);
    if let Some(networks) = stats["networks"].as_object() {
        container.network_rx_bytes =
            Some(networks.values().filter_map(|v| n(&v["rx_bytes"])).sum());
        container.network_tx_bytes =
            Some(networks.values().filter_map(|v| n(&v["tx_bytes"])).sum());
    }
}

/// Guests from `pvesh get /cluster/resources --type vm --output-format json`.
pub(crate) fn parse_pvesh_resources(resources: &Value) -> Vec<Container> {
    resources
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["type"].as_str(), Some("lxc" | "qemu")))
        .map(|r| {
            let running = r["status"].as_str() == Some("running");
            Container {
                runtime: r["type"].as_str().unwrap_or_default().to_string(),
                id: r["vmid"]
                    .as_u64()
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                name: r["name"].as_str().unwrap_or_default().to_string(),
                image: None,
                node: r["node"].as_str().map(str::to_string),
                state: r["status"].as_str().unwrap_or("unknown").to_string(),
                // pvesh reports CPU as a fraction of the guest's cores.
                cpu_percent: running
                    .then(|| {
                        r["cpu"]
                            .as_f64()
                            .map(|f| f * r["maxcpu"].as_f64().unwrap_or(1.0) * 100.0)
                    })
                    .flatten(),
                memory_usage: r["mem"].as_u64(),
                memory_limit: r["maxmem"].as_u64(),
                network_rx_bytes: r["netin"].as_u64(),
                network_tx_bytes: r["netout"].as_u64(),
            }
        })
        .collect()
}

#[derive(Debug)]
pub struct ContainersCollector {
    host: Host,
}

impl ContainersCollector {
    pub fn new(host: Host) -> Self {
        ContainersCollector { host }
    }

    /// `DOCKER_HOST=unix://…` on the real host, else the standard socket.
    fn docker_socket(&self) -> PathBuf {
        let from_env = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|_| self.host.is_real());
        match from_env.as_deref().and_then(|h| h.strip_prefix("unix://")) {
            Some(path) => PathBuf::from(path),
            None => self.host.path("var/run/docker.sock"),
        }
    }

    fn docker(&self, socket: &Path) -> Result<Vec<Container>> {
        let get_json = |path: &str| -> Result<Value> {
            let (status, body) = unix_http_get(socket, path)?;
            if status != 200 {
                return Err(Error::InvalidData {
                    what: "Docker API".into(),
                    message: format!("GET {path} answered {status}"),
                });
            }
            serde_json::from_slice(&body).map_err(|e| Error::InvalidData {
                what: "Docker API".into(),
                message: e.to_string(),
            })
        };
        let mut containers = parse_docker_list(&get_json("/containers/json?all=1")?);
        for container in containers.iter_mut().filter(|c| c.state == "running") {
            // A container that stops meanwhile keeps its listing without stats.
            if let Ok(stats) = get_json(&format!("/containers/{}/stats?stream=false", container.id))
            {
                apply_docker_stats(container, &stats);
            }
        }
        Ok(containers)
    }
}

impl Collector for ContainersCollector {
    fn name(&self) -> &'static str {
        "containers"
    }

    fn collect(&mut self) -> Result<Metric> {
        let socket = self.docker_socket();
        let has_docker = socket.exists();
        let has_pvesh = self.host.is_real() && Path::new("/usr/bin/pvesh").exists();
        if !has_docker && !has_pvesh {
            return Err(Error::unsupported(
                "containers",
                format!("no Docker socket at {} and no pvesh", socket.display()),
            ));
        }
        let mut all = Vec::new();
        if has_docker {
            all.extend(self.docker(&socket)?);
        }
        if has_pvesh {
            let out = run_bounded(
                "/usr/bin/pvesh",
                &[
                    "get",
                    "/cluster/resources",
                    "--type",
                    "vm",
                    "--output-format",
                    "json",
                ],
                COMMAND_TIMEOUT,
                MAX_COMMAND_OUTPUT,
            )?;
            let resources: Value =
                serde_json::from_str(&out.stdout).map_err(|e| Error::InvalidData {
                    what: "pvesh output".into(),
                    message: e.to_string(),
                })?;
            all.extend(parse_pvesh_resources(&resources));
        }
        Ok(Metric::Containers(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;

    /// A fake Docker engine: answers the two endpoints the collector uses, as the real API
    /// does (the listing chunked, stats with a length), and counts requests.
    fn fake_docker(socket: &Path, requests: usize) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(socket).expect("bind");
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.expect("accept");
                let mut request_line = String::new();
                std::io::BufReader::new(&stream)
                    .read_line(&mut request_line)
                    .expect("read");
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string();
                let response = if path.starts_with("/containers/json") {
                    let body = include_str!("samples/docker_containers.json");
                    let (a, b) = body.split_at(body.len() / 2);
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                        a.len(),
                        b.len()
                    )
                } else if path.starts_with("/containers/4f66ad9a0b2e/stats") {
                    let body = include_str!("samples/docker_stats.json");
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string()
                };
                stream.write_all(response.as_bytes()).expect("write");
                seen.push(path);
            }
            seen
        })
    }

    #[test]
    fn docker_containers_and_stats_come_over_the_socket() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("var/run")).expect("mkdir");
        let server = fake_docker(&dir.path().join("var/run/docker.sock"), 2);
        let Metric::Containers(containers) = ContainersCollector::new(Host::at(dir.path()))
            .collect()
            .expect("collect")
        else {
            panic!("kind")
        };
        let paths = server.join().expect("server");
        assert_eq!(
            paths,
            [
                "/containers/json?all=1",
                "/containers/4f66ad9a0b2e/stats?stream=false"
            ]
        );
        assert_eq!(containers.len(), 2);
        let web = &containers[0];
        assert_eq!(
            (web.name.as_str(), web.image.as_deref(), web.state.as_str()),
            ("web", Some("nginx:1.27"), "running")
        );
        let cpu = web.cpu_percent.expect("cpu");
        assert!((cpu - 50.0).abs() < 1e-9, "{cpu}");
        assert_eq!(
            (web.memory_usage, web.memory_limit),
            (Some(52_428_800), Some(2_147_483_648))
        );
        assert_eq!(
            (web.network_rx_bytes, web.network_tx_bytes),
            (Some(1500), Some(700))
        );
        let stopped = &containers[1];
        assert_eq!(
            (stopped.state.as_str(), stopped.cpu_percent),
            ("exited", None)
        );
    }

    #[test]
    fn http_framing_is_checked() {
        assert_eq!(
            parse_http_response(b"HTTP/1.1 200 OK\r\n\r\nbody"),
            Some((200, b"body".to_vec()))
        );
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_http_response(chunked), Some((200, b"abcde".to_vec())));
        assert_eq!(
            parse_http_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            None
        );
        assert_eq!(parse_http_response(b"garbage"), None);
    }

    #[test]
    fn a_recorded_proxmox_node_lists_its_guests() {
        let resources: Value =
            serde_json::from_str(include_str!("samples/pvesh_cluster_resources.json"))
                .expect("json");
        let guests = parse_pvesh_resources(&resources);
        assert_eq!(guests.len(), 2, "the storage entry is not a guest");
        let vm = &guests[0];
        assert_eq!(
            (
                vm.runtime.as_str(),
                vm.id.as_str(),
                vm.name.as_str(),
                vm.node.as_deref()
            ),
            ("qemu", "100", "db", Some("pve1"))
        );
        assert!((vm.cpu_percent.expect("running") - 50.0).abs() < 1e-9);
        assert_eq!(
            guests[1].cpu_percent, None,
            "a stopped guest has no CPU figure"
        );
    }

    #[test]
    fn no_docker_and_no_proxmox_is_unsupported() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = ContainersCollector::new(Host::at(dir.path()))
            .collect()
            .expect_err("unsupported");
        assert_eq!(err.code(), crate::ErrorCode::Unsupported);
    }
}
