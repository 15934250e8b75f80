//! The agent as a long-running process: SIGTERM or SIGINT stop it (what is in memory is
//! spooled first), SIGHUP reads its configuration again — a bad one is refused and the old one
//! kept.

use tokio_util::sync::CancellationToken;

use crate::{AgentError, Settings, Status};

/// What a long-running agent was told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: read the configuration again.
    Reload,
}

/// Resolves on SIGTERM, SIGINT (stop) or SIGHUP (reload).
async fn stop_or_reload() -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(mut term), Ok(mut int), Ok(mut hup)) => {
            tokio::select! {
                _ = term.recv() => Signal::Stop,
                _ = int.recv() => Signal::Stop,
                _ = hup.recv() => Signal::Reload,
            }
        }
        _ => std::future::pending().await,
    }
}

/// Runs the agent with `settings` until SIGTERM or SIGINT; on SIGHUP it stops the run,
/// calls `reload` for new settings (keeping the old ones, with an error logged, when that
/// fails) and starts again. When the server no longer knows the agent's token and the
/// settings hold an enrollment token, the identity is dropped (the spool is kept) and the
/// agent enrolls again — as a pending request, where the server requires approval. Answers
/// the last run's status.
pub async fn run_until_stopped(
    mut settings: Settings,
    reload: impl Fn() -> Result<Settings, AgentError>,
) -> Result<Status, AgentError> {
    loop {
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let signal = tokio::spawn(async move {
            let signal = stop_or_reload().await;
            stop.cancel();
            signal
        });
        let status = match crate::run(settings.clone(), shutdown, false).await {
            Err(AgentError::TokenRevoked(why)) if settings.enrollment_token.is_some() => {
                signal.abort();
                tracing::warn!(why, "enrolling again with the enrollment token");
                let identity = crate::identity::Identity::path(&settings.state_dir);
                std::fs::remove_file(&identity)
                    .map_err(|e| AgentError::State(format!("{}: {e}", identity.display())))?;
                continue;
            }
            outcome => {
                if outcome.is_err() {
                    signal.abort();
                }
                outcome?
            }
        };
        match signal.await {
            Ok(Signal::Reload) => match reload() {
                Ok(reloaded) => {
                    tracing::info!("configuration reloaded");
                    settings = reloaded;
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload refused; the old configuration stays")
                }
            },
            Ok(Signal::Stop) | Err(_) => return Ok(status),
        }
    }
}
