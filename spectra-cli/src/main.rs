//! `spectra`: the command-line entry point.

#[cfg(feature = "admin")]
mod admin_cmd;
#[cfg(feature = "agent")]
mod agent_cmd;
mod collect_cmd;
mod diag_cmd;
mod exit;
#[cfg(any(feature = "server", feature = "agent"))]
mod logging;
mod policy_cmd;
mod render;
mod scan_cmd;
#[cfg(feature = "server")]
mod server_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Spectra: see what fills the disks of a machine, and act on it safely.
#[derive(Debug, Parser)]
#[command(name = "spectra", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Scan directories and report totals, the largest files and directories, and usage by
    /// extension, owner and age.
    ///
    /// Exit status: 0 when everything was read, 1 when some entries could not be read (the
    /// report is still printed, marked partial), 2 on a usage error, 3 and up when the scan
    /// failed (by the cause: 3 not found, 4 permission denied, 9 I/O; see the README).
    Scan(scan_cmd::ScanArgs),
    /// Print what the host collectors see (cpu, memory, disk, disk_io, network, processes,
    /// services, wifi, containers, system, applications, temperature, raspberry_pi).
    ///
    /// Exit status: 0 when every requested collector worked, 1 when one is unsupported here or
    /// failed (its reason is printed in place of its data), 2 on a usage error.
    Collect(collect_cmd::CollectArgs),
    /// Run a diagnostic: ping, connect, netstat, traceroute, mounts, logs, du.
    ///
    /// No shell is ever involved; targets must be an IP address or a hostname; every
    /// diagnostic is bounded in time and output. Exit status: 0 ok, 1 a negative answer (no
    /// reply, connection refused, target not reached), 2 a usage error, 3 and up when it could not
    /// run (by the cause: 5 unsupported here, 7 timed out, 9 I/O such as a name that does not
    /// resolve; see the README).
    Diag(diag_cmd::DiagArgs),
    /// Policies: check, explain, plan (dry run), enforce, restore, purge, audit.
    Policy(policy_cmd::PolicyArgs),
    #[cfg(feature = "server")]
    /// Run the server: agents enroll and send metrics and snapshots; admins read history,
    /// queue diagnostics and manage policies over a JSON API (see /openapi.json).
    ///
    /// Settings come from flags, then SPECTRA_* environment variables, then the --config TOML
    /// file, then defaults. SQLite (spectra.db) unless --db postgres://…; binds 127.0.0.1:8080
    /// unless --listen. Stops on SIGINT/SIGTERM after finishing in-flight requests.
    Serve(Box<spectra_server::config::ServeArgs>),
    #[cfg(feature = "agent")]
    /// Run the agent: enroll with a server, send every collector's samples (through an
    /// on-disk spool, so nothing is lost while the server is away), a heartbeat, and run the
    /// server's diagnostics that this agent's configuration allows. `--once` for cron;
    /// `spectra agent status` shows what it is doing. Stops on SIGINT/SIGTERM, spooling what
    /// it holds in memory.
    Agent(agent_cmd::AgentArgs),
    #[cfg(feature = "admin")]
    /// Usage from a server's file index, grouped by team, user or backend (GET /api/v1/usage).
    Usage(admin_cmd::UsageArgs),
    #[cfg(feature = "admin")]
    /// Files nobody used for --days, largest first, each with what decided (telemetry, atime,
    /// mtime), from a server's file index (GET /api/v1/stale).
    Stale(admin_cmd::StaleArgs),
    #[cfg(feature = "admin")]
    /// A backend's daily files and bytes over --period, from a server's file index.
    Growth(admin_cmd::GrowthArgs),
    #[cfg(feature = "admin")]
    /// Alerts on a server: `alerts list --state firing`, `alerts rules [list|set|delete]`,
    /// `alerts silence --rule NAME --for 2h --reason '…'`.
    Alerts(admin_cmd::AlertsArgs),
    #[cfg(feature = "admin")]
    /// Quotas on a server: `quota set --team vision --backend s3 --soft 500TB --hard 600TB`,
    /// `quota list`, `quota delete --team vision --backend s3`.
    Quota(admin_cmd::QuotaArgs),
    #[cfg(feature = "admin")]
    /// Teams on a server: `team set USER TEAM`, `team remove USER TEAM`, `team list`.
    Team(admin_cmd::TeamArgs),
    #[cfg(feature = "admin")]
    /// People who sign in to the web app: `user add NAME --role admin` (password on standard
    /// input), `user passwd|role|disable|enable|delete NAME`, `user list`.
    User(admin_cmd::UserArgs),
    #[cfg(feature = "admin")]
    /// A server at a glance: health, agents online/stale/offline, the backends' last crawls,
    /// the quotas over a limit.
    Status(admin_cmd::StatusArgs),
    #[cfg(feature = "server")]
    /// Create, list and revoke API tokens in the server's database.
    Token(server_cmd::TokenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Scan(args) => scan_cmd::run(&args),
        Command::Collect(args) => collect_cmd::run(&args),
        Command::Diag(args) => diag_cmd::run(args),
        Command::Policy(args) => policy_cmd::run(&args),
        #[cfg(feature = "server")]
        Command::Serve(args) => server_cmd::serve(&args),
        #[cfg(feature = "server")]
        Command::Token(args) => server_cmd::token(&args),
        #[cfg(feature = "agent")]
        Command::Agent(args) => agent_cmd::run(&args),
        #[cfg(feature = "admin")]
        Command::Usage(args) => admin_cmd::usage(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Stale(args) => admin_cmd::stale(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Team(args) => admin_cmd::team(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::User(args) => admin_cmd::user(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Growth(args) => admin_cmd::growth(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Alerts(args) => admin_cmd::alerts(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Quota(args) => admin_cmd::quota(&args).map(|()| ExitCode::SUCCESS),
        #[cfg(feature = "admin")]
        Command::Status(args) => admin_cmd::status(&args).map(|()| ExitCode::SUCCESS),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("spectra: error: {}", error_text(&error));
            ExitCode::from(exit::for_error(&error))
        }
    }
}

/// An error and its causes on one line, each cause once: a message that already ends with its
/// cause's text (as `spectra_core::Error::Io` shows its OS error) does not repeat it.
fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
