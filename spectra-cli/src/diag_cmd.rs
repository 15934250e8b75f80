//! `spectra diag`: the on-demand diagnostics of `spectra_core::diagnose`, through
//! [`Diagnostic::run`] with core's defaults.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use spectra_core::CancelToken;
use spectra_core::diagnose::{
    DEFAULT_DISK_USAGE_TOP, DEFAULT_LOG_LINES, DEFAULT_LOG_SEVERITY, DEFAULT_MAX_HOPS,
    DEFAULT_PING_COUNT, Diagnostic, DiagnosticLimits, Severity,
};

use crate::exit;

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
    /// Seconds to wait for each reply, connection or hop [default: 2; at most 30]. The whole
    /// diagnostic stops after 60 s.
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        allow_negative_numbers = true
    )]
    timeout: Option<f64>,
}

#[derive(Debug, Subcommand)]
enum DiagCommand {
    /// ICMP echo to a host (IPv4 or IPv6). Exit 1 when no reply came back.
    Ping {
        host: String,
        #[arg(long, default_value_t = DEFAULT_PING_COUNT)]
        count: u32,
    },
    /// Open a TCP connection to HOST:PORT. Exit 1 when it is refused or times out.
    Connect { host: String, port: u16 },
    /// TCP and UDP sockets with the processes that own them.
    Netstat,
    /// The routers on the way to a host (needs CAP_NET_RAW). Exit 1 when it was not reached.
    Traceroute {
        host: String,
        #[arg(long, default_value_t = DEFAULT_MAX_HOPS)]
        max_hops: u8,
    },
    /// Every mounted filesystem.
    Mounts,
    /// Recent log lines at a severity or worse (journald, else /var/log/syslog).
    Logs {
        /// emerg, alert, crit, err, warning, notice, info or debug.
        #[arg(long, default_value_t = DEFAULT_LOG_SEVERITY)]
        severity: Severity,
        #[arg(long, default_value_t = DEFAULT_LOG_LINES)]
        lines: usize,
    },
    /// What fills a directory (the scanner's report).
    Du {
        path: PathBuf,
        #[arg(long, default_value_t = DEFAULT_DISK_USAGE_TOP)]
        top: usize,
    },
}

impl DiagCommand {
    fn into_diagnostic(self) -> Diagnostic {
        match self {
            DiagCommand::Ping { host, count } => Diagnostic::Ping { host, count },
            DiagCommand::Connect { host, port } => Diagnostic::TcpConnect { host, port },
            DiagCommand::Netstat => Diagnostic::Netstat,
            DiagCommand::Traceroute { host, max_hops } => Diagnostic::Traceroute { host, max_hops },
            DiagCommand::Mounts => Diagnostic::Mounts,
            DiagCommand::Logs { severity, lines } => Diagnostic::Logs { severity, lines },
            DiagCommand::Du { path, top } => Diagnostic::DiskUsage { path, top },
        }
    }
}

pub fn run(args: DiagArgs) -> anyhow::Result<ExitCode> {
    let limits = DiagnosticLimits::with_probe_seconds(args.timeout)?;
    let outcome = args
        .command
        .into_diagnostic()
        .run(&limits, &CancelToken::new())?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&outcome.output)? + "\n",
        Format::Table => crate::render::table(&serde_json::to_value(&outcome.output)?),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing the result")?;
    Ok(if outcome.positive {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::NEGATIVE)
    })
}
