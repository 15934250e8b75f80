//! Logs of the long-running commands (`serve`, `agent`).

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
