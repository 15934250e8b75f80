//! Logs of the long-running commands (`serve`, `agent`) and their stop signals.

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    #[cfg(feature = "server")]
    Json,
}

/// Logs to stderr at `RUST_LOG`'s level (default info), in colour only when stderr is a
/// terminal (a log file or journald gets plain text).
pub fn init(format: Format) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        #[cfg(feature = "server")]
        Format::Json => builder.json().init(),
        Format::Text => builder.init(),
    }
}

/// What a long-running command was told to do.
#[cfg(feature = "agent")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP: read the configuration again.
    Reload,
}

/// Resolves on SIGTERM, SIGINT (stop) or SIGHUP (reload).
#[cfg(feature = "agent")]
pub async fn stop_or_reload() -> Signal {
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
