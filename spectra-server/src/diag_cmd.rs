//! `spectra diag`: the on-demand diagnostics of `spectra_core::diagnose`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use spectra_core::diagnose::{self, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct DiagArgs {
    #[command(subcommand)]
    command: DiagCommand,
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
}

#[derive(Debug, Subcommand)]
enum DiagCommand {
    /// ICMP echo to a host (IPv4 or IPv6). Exit 1 when no reply came back.
    Ping {
        host: String,
        #[arg(long, default_value_t = 4)]
        count: u32,
        /// Seconds to wait for each reply.
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
    /// Open a TCP connection to HOST:PORT. Exit 1 when it is refused or times out.
    Connect {
        host: String,
        port: u16,
        #[arg(long, default_value_t = 3.0)]
        timeout: f64,
    },
    /// TCP and UDP sockets with the processes that own them.
    Netstat,
    /// The routers on the way to a host (needs CAP_NET_RAW). Exit 1 when it was not reached.
    Traceroute {
        host: String,
        #[arg(long, default_value_t = 30)]
        max_hops: u8,
        #[arg(long, default_value_t = 2.0)]
        timeout: f64,
    },
    /// Every mounted filesystem.
    Mounts,
    /// Recent log lines at a severity or worse (journald, else /var/log/syslog).
    Logs {
        /// emerg, alert, crit, err, warning, notice, info or debug.
        #[arg(long, default_value = "warning")]
        severity: String,
        #[arg(long, default_value_t = 100)]
        lines: usize,
    },
    /// What fills a directory (the scanner's report).
    Du {
        path: PathBuf,
        #[arg(long, default_value_t = 10)]
        top: usize,
    },
}

/// Exit status when the diagnostic ran but the answer is negative (no reply, refused).
const EXIT_NEGATIVE: u8 = 1;

fn seconds(value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--timeout needs a number of seconds, not {value}"))
}

pub fn run(args: &DiagArgs) -> anyhow::Result<ExitCode> {
    let (value, positive) = match &args.command {
        DiagCommand::Ping {
            host,
            count,
            timeout,
        } => {
            let result = diagnose::ping(host, *count, seconds(*timeout)?)?;
            let positive = result.received > 0;
            (serde_json::to_value(result)?, positive)
        }
        DiagCommand::Connect {
            host,
            port,
            timeout,
        } => {
            let result = diagnose::tcp_connect(host, *port, seconds(*timeout)?)?;
            let positive = result.connected;
            (serde_json::to_value(result)?, positive)
        }
        DiagCommand::Netstat => (serde_json::to_value(diagnose::netstat()?)?, true),
        DiagCommand::Traceroute {
            host,
            max_hops,
            timeout,
        } => {
            let result = diagnose::traceroute(host, *max_hops, seconds(*timeout)?)?;
            let positive = result.reached;
            (serde_json::to_value(result)?, positive)
        }
        DiagCommand::Mounts => (serde_json::to_value(diagnose::mounts()?)?, true),
        DiagCommand::Logs { severity, lines } => {
            let severity: Severity = severity.parse()?;
            (
                serde_json::to_value(diagnose::logs(severity, *lines)?)?,
                true,
            )
        }
        DiagCommand::Du { path, top } => (
            serde_json::to_value(diagnose::disk_usage(path, *top)?)?,
            true,
        ),
    };
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&value)? + "\n",
        Format::Table => {
            let mut out = String::new();
            crate::render::flatten(&mut out, "", &value);
            out
        }
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the result")?;
    Ok(if positive {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_NEGATIVE)
    })
}
