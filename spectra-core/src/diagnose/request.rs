//! One diagnostic as data ([`Diagnostic`]), its bounds ([`DiagnosticLimits`]) and the one entry
//! point every frontend calls ([`Diagnostic::run`]): the CLI, the Python and Node packages,
//! the C ABI and the agent running a server's command all get the same defaults and the same
//! verdict.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Socket;
use super::net::{
    MAX_HOPS, MAX_PROBES, MAX_TIMEOUT, PingResult, TcpConnectResult, TracerouteResult,
    validate_target,
};
use super::{LogLine, MAX_LOG_LINES, Severity};
use crate::CancelToken;
use crate::error::{Error, Result};
use crate::raw_path::check_path;
use crate::scan::ScanReport;
use crate::sys::Mount;

/// A diagnostic the server may ask an agent to run, with its arguments. On the wire:
/// `{"kind": "ping", "args": {"host": "10.0.0.1", "count": 4}}`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// Echo requests a ping sends unless told otherwise.
pub const DEFAULT_PING_COUNT: u32 = 4;
/// Hops a traceroute tries unless told otherwise.
pub const DEFAULT_MAX_HOPS: u8 = 30;
/// The least severe log lines returned unless told otherwise.
pub const DEFAULT_LOG_SEVERITY: Severity = Severity::Warning;
/// Log lines returned unless told otherwise.
pub const DEFAULT_LOG_LINES: usize = 200;
/// Largest files and directories a disk usage lists unless told otherwise.
pub const DEFAULT_DISK_USAGE_TOP: usize = 20;
/// Most entries a `disk_usage` may ask for.
pub const MAX_DISK_USAGE_TOP: usize = 1000;

fn default_count() -> u32 {
    DEFAULT_PING_COUNT
}
fn default_max_hops() -> u8 {
    DEFAULT_MAX_HOPS
}
fn default_severity() -> Severity {
    DEFAULT_LOG_SEVERITY
}
fn default_lines() -> usize {
    DEFAULT_LOG_LINES
}
fn default_top() -> usize {
    DEFAULT_DISK_USAGE_TOP
}

/// Every diagnostic's wire name, in [`Diagnostic::kind`]'s order: what an agent allows unless
/// its configuration narrows it.
pub const KINDS: [&str; 7] = [
    "ping",
    "tcp_connect",
    "traceroute",
    "netstat",
    "mounts",
    "logs",
    "disk_usage",
];

impl Diagnostic {
    /// The wire name (`ping`, `tcp_connect`, …), one of [`KINDS`].
    pub fn kind(&self) -> &'static str {
        // An index into KINDS, so a new variant cannot be added without a place there.
        let index = match self {
            Diagnostic::Ping { .. } => 0,
            Diagnostic::TcpConnect { .. } => 1,
            Diagnostic::Traceroute { .. } => 2,
            Diagnostic::Netstat => 3,
            Diagnostic::Mounts => 4,
            Diagnostic::Logs { .. } => 5,
            Diagnostic::DiskUsage { .. } => 6,
        };
        KINDS[index]
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

/// How long a diagnostic may take: each probe (one echo, one connection attempt, one hop) and
/// the whole run. One set of defaults for every frontend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiagnosticLimits {
    /// How long to wait for each reply, connection or hop [default: 2 s; at most 30 s].
    pub probe_timeout: Duration,
    /// How long the whole diagnostic may run [default: 60 s] — a traceroute of 64 silent hops
    /// stops here rather than after 64 × the probe timeout.
    pub overall_timeout: Duration,
}

/// The default probe timeout.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// The default overall timeout.
pub const DEFAULT_OVERALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest overall timeout a caller may ask for.
pub const MAX_OVERALL_TIMEOUT: Duration = Duration::from_secs(3600);

impl Default for DiagnosticLimits {
    fn default() -> Self {
        DiagnosticLimits {
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            overall_timeout: DEFAULT_OVERALL_TIMEOUT,
        }
    }
}

impl DiagnosticLimits {
    /// The defaults with the probe timeout (in seconds, as frontends take it) when given.
    pub fn with_probe_seconds(seconds: Option<f64>) -> Result<Self> {
        let mut limits = DiagnosticLimits::default();
        if let Some(seconds) = seconds {
            limits.probe_timeout = seconds_in("timeout", seconds, MAX_TIMEOUT)?;
        }
        Ok(limits)
    }

    /// Refuses a zero or over-long timeout, naming it.
    pub fn validate(&self) -> Result<()> {
        in_range("timeout", self.probe_timeout, MAX_TIMEOUT)?;
        in_range("overall timeout", self.overall_timeout, MAX_OVERALL_TIMEOUT)
    }
}

fn seconds_in(what: &str, seconds: f64, max: Duration) -> Result<Duration> {
    let duration = Duration::try_from_secs_f64(seconds)
        .map_err(|_| Error::invalid(what, format!("{seconds} is not a number of seconds")))?;
    in_range(what, duration, max)?;
    Ok(duration)
}

fn in_range(what: &str, duration: Duration, max: Duration) -> Result<()> {
    if duration.is_zero() || duration > max {
        return Err(Error::invalid(
            what,
            format!(
                "{} is not more than 0 s and at most {}",
                crate::format::duration(duration),
                crate::format::duration(max)
            ),
        ));
    }
    Ok(())
}

/// What a diagnostic found, and whether the answer is positive (a reply came, the connection
/// opened, the target was reached; always for the listings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagnosticOutcome {
    pub positive: bool,
    pub output: DiagnosticOutput,
}

/// The typed result of each diagnostic; serializes as the result itself (no tag).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum DiagnosticOutput {
    Ping(PingResult),
    TcpConnect(TcpConnectResult),
    Traceroute(TracerouteResult),
    Netstat(Vec<Socket>),
    Mounts(Vec<Mount>),
    Logs(Vec<LogLine>),
    DiskUsage(Box<ScanReport>),
}

impl Diagnostic {
    /// Runs the diagnostic within `limits`, stopping early with [`Error::Cancelled`] when
    /// `cancel` is cancelled and with [`Error::Timeout`] when the overall time runs out.
    /// Arguments are validated first, as [`Diagnostic::validate`] does.
    pub fn run(
        &self,
        limits: &DiagnosticLimits,
        cancel: &CancelToken,
    ) -> Result<DiagnosticOutcome> {
        self.validate()?;
        limits.validate()?;
        let budget = Budget::new(self.describe(), limits.overall_timeout, cancel);
        let probe = limits.probe_timeout;
        let (positive, output) = match self {
            Diagnostic::Ping { host, count } => {
                let result = super::net::ping(host, *count, probe, &budget)?;
                (result.received > 0, DiagnosticOutput::Ping(result))
            }
            Diagnostic::TcpConnect { host, port } => {
                let result = super::net::tcp_connect(host, *port, probe, &budget)?;
                (result.connected, DiagnosticOutput::TcpConnect(result))
            }
            Diagnostic::Traceroute { host, max_hops } => {
                let result = super::net::traceroute(host, *max_hops, probe, &budget)?;
                (result.reached, DiagnosticOutput::Traceroute(result))
            }
            Diagnostic::Netstat => (true, DiagnosticOutput::Netstat(super::netstat()?)),
            Diagnostic::Mounts => (true, DiagnosticOutput::Mounts(super::mounts()?)),
            Diagnostic::Logs { severity, lines } => (
                true,
                DiagnosticOutput::Logs(super::logs(*severity, *lines, &budget)?),
            ),
            Diagnostic::DiskUsage { path, top } => (
                true,
                DiagnosticOutput::DiskUsage(Box::new(super::disk_usage(path, *top, &budget)?)),
            ),
        };
        budget.check()?;
        Ok(DiagnosticOutcome { positive, output })
    }

    /// `ping 10.0.0.1`, `disk_usage /var`: how errors name this diagnostic.
    fn describe(&self) -> String {
        match self {
            Diagnostic::Ping { host, .. } | Diagnostic::Traceroute { host, .. } => {
                format!("{} {host}", self.kind())
            }
            Diagnostic::TcpConnect { host, port } => format!("tcp_connect {host}:{port}"),
            Diagnostic::DiskUsage { path, .. } => format!("disk_usage {}", path.display()),
            _ => self.kind().to_owned(),
        }
    }
}

/// The time a running diagnostic has left, and its caller's cancel switch.
#[derive(Debug)]
pub(crate) struct Budget<'a> {
    what: String,
    started: Instant,
    overall: Duration,
    cancel: &'a CancelToken,
}

/// Longest a diagnostic waits without looking at its cancel switch.
pub(crate) const CANCEL_POLL: Duration = Duration::from_millis(100);

#[cfg(test)]
impl Budget<'static> {
    /// A generous budget nobody cancels, for tests.
    pub(crate) fn generous() -> Self {
        let never: &'static CancelToken = Box::leak(Box::default());
        Budget::new("test".into(), Duration::from_secs(60), never)
    }
}

impl<'a> Budget<'a> {
    pub(crate) fn new(what: String, overall: Duration, cancel: &'a CancelToken) -> Self {
        Budget {
            what,
            started: Instant::now(),
            overall,
            cancel,
        }
    }

    /// `Cancelled` or `Timeout` once either has happened.
    pub(crate) fn check(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(Error::cancelled(&self.what))
        } else if self.started.elapsed() >= self.overall {
            Err(Error::timeout(&self.what, self.overall))
        } else {
            Ok(())
        }
    }

    /// How long the next wait may last: `wanted`, or less when the budget ends sooner.
    pub(crate) fn allow(&self, wanted: Duration) -> Result<Duration> {
        self.check()?;
        Ok(wanted.min(self.overall.saturating_sub(self.started.elapsed())))
    }

    pub(crate) fn cancel_token(&self) -> &CancelToken {
        self.cancel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_is_the_wire_name_serde_reads() {
        let examples = [
            json!({"host": "h"}),
            json!({"host": "h", "port": 22}),
            json!({"host": "h"}),
            json!(null),
            json!(null),
            json!({}),
            json!({"path": "/srv"}),
        ];
        for (kind, args) in KINDS.iter().zip(examples) {
            let wire = if args.is_null() {
                json!({"kind": kind})
            } else {
                json!({"kind": kind, "args": args})
            };
            let read: Diagnostic = serde_json::from_value(wire).expect(kind);
            assert_eq!(read.kind(), *kind);
        }
    }

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
}
