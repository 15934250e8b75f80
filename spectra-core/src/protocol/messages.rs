//! The agent ↔ server messages besides metrics: enrollment, scan snapshots and commands.
//!
//! Validation lives here, not in the server, so an agent and a server (and any binding that
//! builds these) refuse the same things with the same words.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{PROTOCOL_VERSION, first_version};
use crate::diagnose::{MAX_HOPS, MAX_LOG_LINES, MAX_PROBES, Severity, validate_target};
use crate::error::{Error, Result};
use crate::scan::ScanReport;

/// Longest hostname, OS or version string an agent may report.
const MAX_LABEL_CHARS: usize = 253;
/// Most capabilities one agent may list.
const MAX_CAPABILITIES: usize = 64;
/// Most entries a `disk_usage` command may ask for.
pub const MAX_DISK_USAGE_TOP: usize = 1000;

/// What an agent says about itself when it enrolls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    pub os: String,
    pub version: String,
    /// Collectors and diagnostics this agent can run (`cpu`, `ping`, …).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// A stable machine identity (`/etc/machine-id`). An agent that enrolls again with the same
    /// one keeps its agent id (and its history) and gets a new token.
    #[serde(default)]
    pub machine_id: Option<String>,
}

impl AgentInfo {
    /// Refuses empty or over-long labels and control characters, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_label("hostname", &self.hostname, false)?;
        check_label("os", &self.os, true)?;
        check_label("version", &self.version, true)?;
        if let Some(id) = &self.machine_id {
            check_label("machine_id", id, false)?;
        }
        if self.capabilities.len() > MAX_CAPABILITIES {
            return Err(Error::invalid(
                "capabilities",
                format!(
                    "{} entries; at most {MAX_CAPABILITIES}",
                    self.capabilities.len()
                ),
            ));
        }
        for capability in &self.capabilities {
            check_label("capability", capability, false)?;
        }
        Ok(())
    }
}

/// Longest path accepted from the wire, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Refuses a path from the wire that is empty, relative, longer than [`MAX_PATH_BYTES`] or
/// holds a NUL byte (which no system call can take), naming the field.
pub fn check_path(what: &str, path: &[u8]) -> Result<()> {
    let problem = if path.is_empty() {
        "is empty".to_owned()
    } else if path.contains(&0) {
        "holds a NUL byte".to_owned()
    } else if path[0] != b'/' {
        format!(
            "{:?} is not an absolute path",
            String::from_utf8_lossy(path)
        )
    } else if path.len() > MAX_PATH_BYTES {
        format!(
            "is {} bytes long; the limit is {MAX_PATH_BYTES}",
            path.len()
        )
    } else {
        return Ok(());
    };
    Err(Error::invalid(what, problem))
}

pub(super) fn check_label(what: &str, value: &str, may_be_empty: bool) -> Result<()> {
    if value.is_empty() && !may_be_empty {
        return Err(Error::invalid(what, "must not be empty"));
    }
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid(
            what,
            format!("longer than {MAX_LABEL_CHARS} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            what,
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(())
}

/// An enrollment request: the admin's enrollment token and the agent's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub enrollment_token: String,
    /// The agent's current token, when it has one: proof that a re-enrollment comes from the
    /// enrolled agent itself, which lets it keep its approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
    #[serde(flatten)]
    pub agent: AgentInfo,
}

/// One scan of one root, as an agent reports it. The server keeps every snapshot, which is
/// what growth over time and "time travel" read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default = "first_version")]
    pub version: u32,
    /// Chosen by the agent, so a retried upload is stored once.
    pub snapshot_id: Uuid,
    pub hostname: String,
    pub report: ScanReport,
}

impl Snapshot {
    pub fn new(hostname: impl Into<String>, report: ScanReport) -> Self {
        Snapshot {
            version: PROTOCOL_VERSION,
            snapshot_id: Uuid::new_v4(),
            hostname: hostname.into(),
            report,
        }
    }

    /// The scanned root as text (roots joined by `:` when a scan had several); growth series
    /// are kept per root.
    pub fn root(&self) -> String {
        self.report
            .roots
            .iter()
            .map(|root| root.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn validate(&self) -> Result<()> {
        if self.version > PROTOCOL_VERSION {
            return Err(Error::InvalidData {
                what: "snapshot".into(),
                message: format!(
                    "protocol version {} is newer than the supported {PROTOCOL_VERSION}",
                    self.version
                ),
            });
        }
        check_label("hostname", &self.hostname, false)?;
        if self.report.roots.is_empty() {
            return Err(Error::invalid("snapshot", "report has no roots"));
        }
        for (index, root) in self.report.roots.iter().enumerate() {
            check_path(&format!("report.roots[{index}]"), root.as_bytes())?;
        }
        Ok(())
    }
}

/// A diagnostic the server may ask an agent to run, with its arguments. On the wire:
/// `{"kind": "ping", "args": {"host": "10.0.0.1", "count": 4}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "args", rename_all = "snake_case")]
pub enum Diagnostic {
    Ping {
        host: String,
        #[serde(default = "default_count")]
        count: u32,
    },
    TcpConnect {
        host: String,
        port: u16,
    },
    Traceroute {
        host: String,
        #[serde(default = "default_max_hops")]
        max_hops: u8,
    },
    Netstat,
    Mounts,
    Logs {
        #[serde(default = "default_severity")]
        severity: Severity,
        #[serde(default = "default_lines")]
        lines: usize,
    },
    DiskUsage {
        path: PathBuf,
        #[serde(default = "default_top")]
        top: usize,
    },
}

fn default_count() -> u32 {
    4
}
fn default_max_hops() -> u8 {
    30
}
fn default_severity() -> Severity {
    Severity::Warning
}
fn default_lines() -> usize {
    200
}
fn default_top() -> usize {
    20
}

impl Diagnostic {
    /// The wire name (`ping`, `tcp_connect`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Diagnostic::Ping { .. } => "ping",
            Diagnostic::TcpConnect { .. } => "tcp_connect",
            Diagnostic::Traceroute { .. } => "traceroute",
            Diagnostic::Netstat => "netstat",
            Diagnostic::Mounts => "mounts",
            Diagnostic::Logs { .. } => "logs",
            Diagnostic::DiskUsage { .. } => "disk_usage",
        }
    }

    /// Checks targets and bounds the way the diagnostics themselves would, so a command is
    /// refused when it is queued rather than when the agent runs it.
    pub fn validate(&self) -> Result<()> {
        match self {
            Diagnostic::Ping { host, count } => {
                validate_target(host)?;
                check_range("count", u64::from(*count), 1, u64::from(MAX_PROBES))
            }
            Diagnostic::TcpConnect { host, port } => {
                validate_target(host)?;
                check_range("port", u64::from(*port), 1, u64::from(u16::MAX))
            }
            Diagnostic::Traceroute { host, max_hops } => {
                validate_target(host)?;
                check_range("max_hops", u64::from(*max_hops), 1, u64::from(MAX_HOPS))
            }
            Diagnostic::Netstat | Diagnostic::Mounts => Ok(()),
            Diagnostic::Logs { lines, .. } => {
                check_range("lines", *lines as u64, 1, MAX_LOG_LINES as u64)
            }
            Diagnostic::DiskUsage { path, top } => {
                check_path("path", path.as_os_str().as_encoded_bytes())?;
                check_range("top", *top as u64, 1, MAX_DISK_USAGE_TOP as u64)
            }
        }
    }
}

fn check_range(what: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            what,
            format!("{value} is outside {min}..={max}"),
        ))
    }
}

/// A queued diagnostic as an agent receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub command_id: Uuid,
    pub diagnostic: Diagnostic,
    pub issued_at: DateTime<Utc>,
}

/// What an agent reports after running a [`Command`]: its output, or why it did not run
/// (an agent may refuse what its local configuration does not allow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: Uuid,
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CommandOutcome {
    Succeeded { output: serde_json::Value },
    Failed { code: String, message: String },
}

/// What was done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessOp {
    Open,
    Read,
    Write,
    Create,
    Delete,
    Rename,
    /// Metadata only (sampled by recorders).
    Stat,
    /// A directory listing (metadata; sampled).
    List,
}

impl AccessOp {
    /// Metadata operations are frequent and cheap, so recorders sample them.
    pub fn is_metadata(self) -> bool {
        matches!(self, AccessOp::Stat | AccessOp::List)
    }
}

impl std::str::FromStr for AccessOp {
    type Err = Error;

    fn from_str(text: &str) -> Result<AccessOp> {
        serde_json::from_value(serde_json::Value::from(text)).map_err(|_| {
            Error::invalid(
                "access op",
                format!(
                    "{text:?}: expected open, read, write, create, delete, rename, stat or list"
                ),
            )
        })
    }
}

/// One access to a file, as an embedder reports it. Only metadata: never file contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEvent {
    pub timestamp: DateTime<Utc>,
    pub op: AccessOp,
    pub path: crate::RawPath,
    #[serde(default)]
    pub uid: Option<u32>,
    /// Bytes read or written (0 when not applicable).
    #[serde(default)]
    pub bytes: u64,
}

impl AccessEvent {
    /// An event stamped now.
    pub fn new(op: AccessOp, path: impl Into<PathBuf>) -> Self {
        AccessEvent {
            timestamp: Utc::now(),
            op,
            path: crate::RawPath::from(path.into()),
            uid: None,
            bytes: 0,
        }
    }

    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = bytes;
        self
    }

    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diagnostics_read_their_wire_form_with_defaults() {
        let ping: Diagnostic =
            serde_json::from_value(json!({"kind": "ping", "args": {"host": "10.0.0.1"}}))
                .expect("ping");
        assert_eq!(
            ping,
            Diagnostic::Ping {
                host: "10.0.0.1".into(),
                count: 4
            }
        );
        let netstat: Diagnostic =
            serde_json::from_value(json!({"kind": "netstat"})).expect("netstat without args");
        assert_eq!(netstat.kind(), "netstat");
        let logs: Diagnostic =
            serde_json::from_value(json!({"kind": "logs", "args": {}})).expect("logs");
        assert_eq!(
            logs,
            Diagnostic::Logs {
                severity: Severity::Warning,
                lines: 200
            }
        );
        let err = serde_json::from_value::<Diagnostic>(json!({"kind": "rm", "args": {}}))
            .expect_err("unknown kind");
        assert!(err.to_string().contains("unknown variant `rm`"), "{err}");
    }

    #[test]
    fn validation_refuses_hostile_targets_and_out_of_range_arguments() {
        let cases = [
            (
                json!({"kind": "ping", "args": {"host": "-oProxyCommand=x"}}),
                "target",
            ),
            (
                json!({"kind": "ping", "args": {"host": "h", "count": 0}}),
                "count",
            ),
            (
                json!({"kind": "tcp_connect", "args": {"host": "h", "port": 0}}),
                "port",
            ),
            (
                json!({"kind": "traceroute", "args": {"host": "h", "max_hops": 200}}),
                "max_hops",
            ),
            (
                json!({"kind": "logs", "args": {"lines": 1_000_000}}),
                "lines",
            ),
            (
                json!({"kind": "disk_usage", "args": {"path": "var"}}),
                "not an absolute path",
            ),
            (
                json!({"kind": "disk_usage", "args": {"path": "/var\u{0}/x"}}),
                "invalid path: holds a NUL byte",
            ),
        ];
        for (wire, expected) in cases {
            let diagnostic: Diagnostic = serde_json::from_value(wire.clone()).expect("parses");
            let err = diagnostic.validate().expect_err("refused");
            assert!(err.to_string().contains(expected), "{wire}: {err}");
        }
        let fine: Diagnostic =
            serde_json::from_value(json!({"kind": "disk_usage", "args": {"path": "/var"}}))
                .expect("parses");
        fine.validate().expect("valid");
    }

    #[test]
    fn agent_info_names_the_bad_field() {
        let mut info = AgentInfo {
            hostname: "web-1".into(),
            os: "linux".into(),
            version: "0.1.0".into(),
            capabilities: vec!["cpu".into()],
            machine_id: None,
        };
        info.validate().expect("valid");
        info.hostname = "web\n1".into();
        let err = info.validate().expect_err("control character");
        assert!(err.to_string().contains("hostname"), "{err}");
        info.hostname = String::new();
        assert!(info.validate().is_err());
    }

    #[test]
    fn command_results_carry_their_status() {
        let ok: CommandResult = serde_json::from_value(json!({
            "command_id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "status": "succeeded", "output": {"received": 4}
        }))
        .expect("succeeded");
        assert!(matches!(ok.outcome, CommandOutcome::Succeeded { .. }));
        let failed: CommandResult = serde_json::from_value(json!({
            "command_id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "status": "failed", "code": "unsupported", "message": "no journal"
        }))
        .expect("failed");
        assert!(matches!(failed.outcome, CommandOutcome::Failed { .. }));
    }
}
