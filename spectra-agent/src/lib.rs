//! The Spectra agent runtime (`spectra agent`): what runs on every monitored host.
//!
//! It enrolls once ([`identity`]: id and token kept in the state directory, mode 0600), then
//! runs every collector of `spectra-core` at its interval through one [`Sampler`], batches
//! the envelopes, and writes each batch to an on-disk [`spool`] before sending it gzip'd to
//! `POST /api/v1/metrics` — so a server outage, a slow or failing server, or a restart of the
//! agent loses nothing (bounded in bytes: when full, the oldest batches are dropped and
//! counted). It sends a heartbeat, and long-polls the server's commands, running each through
//! `Diagnostic::run` only if its own configuration allows it ([`config`]): the server cannot
//! widen what the agent does.
//!
//! It depends on `spectra-core`, `reqwest` and `tokio`, never on the server's crates (sqlx,
//! axum), so an agent stays small. Without its `runtime` feature (on by default) the crate is
//! only [`http_client`] and [`AgentError`]: what the CLI's admin commands need.
//!
//! [`Sampler`]: spectra_core::collect::Sampler

#[cfg(feature = "runtime")]
mod client;
#[cfg(feature = "runtime")]
pub mod config;
mod http;
#[cfg(feature = "runtime")]
pub mod identity;
#[cfg(feature = "runtime")]
mod index;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(feature = "runtime")]
mod signals;
#[cfg(feature = "runtime")]
pub mod spool;
#[cfg(feature = "runtime")]
mod telemetry;

#[cfg(feature = "runtime")]
pub use client::{Client, Delivery, IndexAnswer};
#[cfg(feature = "runtime")]
pub use config::{AgentConfig, Settings};
pub use http::http_client;
#[cfg(feature = "runtime")]
pub use index::{IndexUpload, baseline_path, crawl_and_upload};
#[cfg(feature = "runtime")]
pub use runtime::{Status, admit, agent_info, enroll, index_once, run, scan_once};
#[cfg(feature = "runtime")]
pub use signals::run_until_stopped;

/// What can stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration or the command line is wrong; the message names the setting.
    #[error("configuration: {0}")]
    Config(String),
    /// The state directory could not be read or written.
    #[error("state: {0}")]
    State(String),
    /// The server refused or could not be reached where the agent cannot go on without it
    /// (enrollment, `--once`).
    #[error("server: {0}")]
    Server(String),
    /// The server does not know the agent's token any more: it was deleted, or another
    /// enrollment replaced it. A long-running agent with an enrollment token enrolls again
    /// (see [`run_until_stopped`]).
    #[error("token revoked: {0}")]
    TokenRevoked(String),
    /// What core answered (a scan that failed, a root that is gone): its code decides, as for
    /// any frontend (the CLI's exit status, say).
    #[error("{0}")]
    Core(#[source] spectra_core::Error),
}

impl From<spectra_core::Error> for AgentError {
    fn from(error: spectra_core::Error) -> Self {
        AgentError::Core(error)
    }
}

impl AgentError {
    /// Core's code behind the failure, when core answered it.
    pub fn code(&self) -> Option<spectra_core::ErrorCode> {
        match self {
            AgentError::Core(error) => Some(error.code()),
            AgentError::Config(_)
            | AgentError::State(_)
            | AgentError::Server(_)
            | AgentError::TokenRevoked(_) => None,
        }
    }
}
