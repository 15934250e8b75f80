//! On-demand diagnostics: logs, disk usage, mounts, ping, TCP connect, netstat, traceroute.
//!
//! Rules that hold for every one: no shell, ever (external tools get a fixed argument vector);
//! targets are validated first (an IP address or a hostname, so nothing can pass for an
//! option); each is bounded in time and in output size; each returns a typed, serializable
//! result. An agent runs these when the server queues a command, under its own local limits.

#[cfg(spectra_unix)]
mod icmp;
mod net;
#[cfg(spectra_native)]
mod netstat;
mod request;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::sys::Mount;
pub use net::{
    Hop, MAX_HOPS, MAX_PROBES, MAX_TIMEOUT, PingResult, Socket, TcpConnectResult, TracerouteResult,
    validate_target,
};
pub use request::{
    DEFAULT_DISK_USAGE_TOP, DEFAULT_LOG_LINES, DEFAULT_LOG_SEVERITY, DEFAULT_MAX_HOPS,
    DEFAULT_OVERALL_TIMEOUT, DEFAULT_PING_COUNT, DEFAULT_PROBE_TIMEOUT, Diagnostic,
    DiagnosticLimits, DiagnosticOutcome, DiagnosticOutput, KINDS, MAX_DISK_USAGE_TOP,
    MAX_OVERALL_TIMEOUT,
};

use crate::error::{Error, Result};
use crate::scan::{ScanControl, ScanOptions, ScanReport, Scanner};
use crate::sys::run_bounded_until;
use request::{Budget, CANCEL_POLL};

/// Most log lines one call returns.
pub const MAX_LOG_LINES: usize = 10_000;
/// How long `journalctl` may run.
const JOURNAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a syslog file is read from its end.
const SYSLOG_TAIL_BYTES: u64 = 4 << 20;

/// Every mounted filesystem: natively from Linux's mount table, pseudo filesystems included;
/// portably the filesystems `sysinfo` lists (those that hold data), without mount options.
fn mounts() -> Result<Vec<Mount>> {
    match crate::Backend::resolve(None)? {
        #[cfg(spectra_native)]
        crate::Backend::Native => Ok(crate::sys::parse_mountinfo(
            &crate::sys::Host::real().read("proc/self/mountinfo")?,
        )),
        _ => Ok(crate::collect::portable_mounts()),
    }
}

/// Every TCP and UDP socket, with the processes that own them: Linux's `/proc/net` tables.
fn netstat() -> Result<Vec<Socket>> {
    #[cfg(spectra_native)]
    {
        netstat::netstat()
    }
    #[cfg(not(spectra_native))]
    {
        Err(Error::unsupported(
            "netstat",
            "it reads Linux's /proc/net tables; this platform has none",
        ))
    }
}

/// What fills `path`: a scan with the `top` largest files and directories, stopped (and
/// answered with the budget's error) when the budget runs out or is cancelled.
fn disk_usage(path: &Path, top: usize, budget: &Budget<'_>) -> Result<ScanReport> {
    let scanner = Scanner::new(ScanOptions::new(path).with_top(top))?;
    let stop = crate::CancelToken::new();
    let finished = crate::CancelToken::new();
    let report = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !finished.is_cancelled() {
                if budget.check().is_err() {
                    stop.cancel();
                    return;
                }
                std::thread::sleep(CANCEL_POLL / 2);
            }
        });
        let report = scanner.scan_controlled(ScanControl::new().cancel_with(stop.clone()));
        finished.cancel();
        report
    })?;
    if report.cancelled {
        budget.check()?;
    }
    Ok(report)
}

/// Syslog severities, most severe first (journald's `PRIORITY`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Emergency = 0,
    Alert = 1,
    Critical = 2,
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Severity {
    /// The name `FromStr` reads and serde writes (`warning`, `err` is `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "emergency",
            Severity::Alert => "alert",
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Ok(match text {
            "emerg" | "emergency" | "0" => Severity::Emergency,
            "alert" | "1" => Severity::Alert,
            "crit" | "critical" | "2" => Severity::Critical,
            "err" | "error" | "3" => Severity::Error,
            "warning" | "warn" | "4" => Severity::Warning,
            "notice" | "5" => Severity::Notice,
            "info" | "6" => Severity::Info,
            "debug" | "7" => Severity::Debug,
            other => {
                return Err(Error::invalid(
                    "severity",
                    format!(
                        "{other:?} is not emerg, alert, crit, err, warning, notice, info or debug"
                    ),
                ));
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub timestamp: Option<DateTime<Utc>>,
    /// `None` for plain syslog files, which do not record it.
    pub severity: Option<u8>,
    pub source: Option<String>,
    pub message: String,
}

/// Parses `journalctl -o json` output, one JSON object per line.
pub(crate) fn parse_journal_json(text: &str) -> Vec<LogLine> {
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| LogLine {
            timestamp: v["__REALTIME_TIMESTAMP"]
                .as_str()
                .and_then(|us| us.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_micros),
            severity: v["PRIORITY"].as_str().and_then(|p| p.parse().ok()),
            source: v["SYSLOG_IDENTIFIER"]
                .as_str()
                .or(v["_SYSTEMD_UNIT"].as_str())
                .map(str::to_string),
            // journald stores non-UTF-8 messages as arrays of bytes.
            message: match &v["MESSAGE"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(bytes) => String::from_utf8_lossy(
                    &bytes
                        .iter()
                        .filter_map(|b| b.as_u64().map(|b| b as u8))
                        .collect::<Vec<_>>(),
                )
                .into_owned(),
                _ => String::new(),
            },
        })
        .collect()
}

/// The last `lines` log entries at `severity` or worse: from journald when it keeps a journal,
/// else from the end of `/var/log/syslog` or `/var/log/messages` (where severity is unknown,
/// so no line is filtered out).
fn logs(severity: Severity, lines: usize, budget: &Budget<'_>) -> Result<Vec<LogLine>> {
    if lines == 0 || lines > MAX_LOG_LINES {
        return Err(Error::invalid(
            "lines",
            format!("{lines} is not between 1 and {MAX_LOG_LINES}"),
        ));
    }
    let root = Path::new("/");
    if root.join("var/log/journal").is_dir() || root.join("run/log/journal").is_dir() {
        let count = lines.to_string();
        let priority = (severity as u8).to_string();
        let out = run_bounded_until(
            "journalctl",
            &["-o", "json", "--no-pager", "-n", &count, "-p", &priority],
            budget.allow(JOURNAL_TIMEOUT)?,
            64 << 20,
            budget.cancel_token(),
        );
        budget.check()?;
        if let Some(out) = out.ok().filter(|o| o.success) {
            return Ok(parse_journal_json(&out.stdout));
        }
    }
    for file in ["var/log/syslog", "var/log/messages"] {
        if let Ok(text) = read_tail(&root.join(file), SYSLOG_TAIL_BYTES) {
            let all: Vec<&str> = text.lines().collect();
            return Ok(all[all.len().saturating_sub(lines)..]
                .iter()
                .map(|l| LogLine {
                    timestamp: None,
                    severity: None,
                    source: None,
                    message: (*l).to_string(),
                })
                .collect());
        }
    }
    Err(Error::unsupported(
        "logs",
        "no journald journal and no /var/log/syslog or /var/log/messages",
    ))
}

fn read_tail(path: &Path, bytes: u64) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(bytes)))
        .map_err(|e| Error::io(path, e))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)
        .map_err(|e| Error::io(path, e))?;
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_json_parses_text_and_byte_messages() {
        let text = concat!(
            r#"{"__REALTIME_TIMESTAMP":"1732269600000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"error: bad key"}"#,
            "\n",
            r#"{"PRIORITY":"6","_SYSTEMD_UNIT":"app.service","MESSAGE":[104,105,255]}"#,
            "\nnot json\n"
        );
        let lines = parse_journal_json(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].severity, Some(3));
        assert_eq!(lines[0].source.as_deref(), Some("sshd"));
        assert_eq!(
            lines[0].timestamp.map(|t| t.timestamp()),
            Some(1_732_269_600)
        );
        assert_eq!(lines[1].message, "hi\u{fffd}");
        assert_eq!(lines[1].source.as_deref(), Some("app.service"));
    }

    #[test]
    fn severities_parse_and_bad_arguments_are_refused() {
        assert_eq!("err".parse::<Severity>().expect("err"), Severity::Error);
        assert_eq!("7".parse::<Severity>().expect("7"), Severity::Debug);
        assert!("loud".parse::<Severity>().is_err());
        for severity in [Severity::Emergency, Severity::Warning, Severity::Debug] {
            assert_eq!(severity.as_str().parse::<Severity>().ok(), Some(severity));
            let json = serde_json::to_value(severity).expect("json");
            assert_eq!(json, severity.as_str());
        }
        let cancel = crate::CancelToken::new();
        let budget = Budget::new("logs".into(), Duration::from_secs(10), &cancel);
        assert!(logs(Severity::Info, 0, &budget).is_err());
        assert!(logs(Severity::Info, MAX_LOG_LINES + 1, &budget).is_err());
    }

    #[test]
    fn mounts_include_root() {
        let all = mounts().expect("mounts");
        assert!(all.iter().any(|m| m.mount_point == "/"), "{all:?}");
        if cfg!(spectra_native)
            && crate::Backend::resolve(None).ok() == Some(crate::Backend::Native)
        {
            assert!(
                all.iter()
                    .any(|m| m.mount_point == "/proc" && m.fs_type == "proc")
            );
        }
    }

    #[test]
    fn disk_usage_reuses_the_scanner() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("big"), vec![1u8; 10_000]).expect("write");
        let cancel = crate::CancelToken::new();
        let budget = Budget::new("du".into(), Duration::from_secs(60), &cancel);
        let report = disk_usage(dir.path(), 1, &budget).expect("du");
        assert_eq!(report.largest_files.len(), 1);
        assert_eq!(report.largest_files[0].apparent_bytes, 10_000);
    }
}
