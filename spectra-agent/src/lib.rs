//! The Spectra agent runtime (`spectra agent`): what runs on every monitored host.
//!
//! It will run `spectra-core`'s collectors on a schedule and send their envelopes to a
//! `spectra serve`, spool what the server could not take yet, and run the server's commands
//! under the host's own limits. It depends on `spectra-core`, `reqwest` and `tokio`, never on
//! the server's crates (sqlx, axum), so an agent stays small.
//!
//! This crate is deliberately empty until the agent lands: the crate boundary is fixed first,
//! so that nothing the agent needs is written into the server or the CLI meanwhile.
