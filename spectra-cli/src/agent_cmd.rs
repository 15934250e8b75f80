//! `spectra agent`: the agent runtime of `spectra-agent`, with its command-line settings.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use spectra_agent::{AgentConfig, Status};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    /// The server's URL (http://hub:8080).
    #[arg(long, env = "SPECTRA_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The token to enroll with (needed only until the agent has enrolled).
    #[arg(
        long,
        env = "SPECTRA_ENROLLMENT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    enroll_token: Option<String>,
    /// Where the identity, the spool and the status live [default: ~/.local/state/spectra-agent].
    #[arg(
        long,
        env = "SPECTRA_AGENT_STATE_DIR",
        value_name = "DIR",
        global = true
    )]
    state_dir: Option<PathBuf>,
    /// The agent's TOML configuration (collectors, batching, spool, allowed diagnostics and
    /// roots); see agent.toml in the repository.
    #[arg(long, env = "SPECTRA_AGENT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sample every collector once, send everything spooled, and exit (for cron).
    #[arg(long)]
    once: bool,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// What the agent is doing: its id, last send, spool size, batches dropped (from the
    /// state directory; works while the agent runs).
    Status,
}

/// The settings from the configuration file (read again on every call) and the command line.
fn settings(args: &AgentArgs) -> anyhow::Result<spectra_agent::Settings> {
    let config = match &args.config {
        Some(path) => AgentConfig::load(path)?,
        None => AgentConfig::default(),
    };
    Ok(config.resolve(
        args.server.clone(),
        args.enroll_token.clone(),
        args.state_dir.clone(),
    )?)
}

pub fn run(args: &AgentArgs) -> anyhow::Result<ExitCode> {
    if let Some(AgentCommand::Status) = args.command {
        let config = match &args.config {
            Some(path) => AgentConfig::load(path)?,
            None => AgentConfig::default(),
        };
        let state_dir = config
            .resolve(
                Some(args.server.clone().unwrap_or_else(|| "http://unset".into())),
                None,
                args.state_dir.clone(),
            )?
            .state_dir;
        let status = Status::load(&state_dir).context("the agent has not run here yet")?;
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(ExitCode::SUCCESS);
    }
    let settings = settings(args)?;
    crate::logging::init(crate::logging::Format::Text);
    let runtime = crate::admin_cmd::runtime()?;
    if args.once {
        let status =
            runtime.block_on(spectra_agent::run(settings, CancellationToken::new(), true))?;
        tracing::info!(
            sent = status.envelopes_sent,
            spooled = status.spool_batches,
            "done"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let reload =
        || self::settings(args).map_err(|e| spectra_agent::AgentError::Config(format!("{e:#}")));
    let status = runtime.block_on(spectra_agent::run_until_stopped(settings, reload))?;
    tracing::info!(
        sent = status.envelopes_sent,
        spooled = status.spool_batches,
        "agent stopped"
    );
    Ok(ExitCode::SUCCESS)
}
