//! The Spectra reference server: `spectra serve`.
//!
//! One hub for many agents: enrollment and tokens ([`auth`]), metric and snapshot ingest,
//! history with rollups, governance, alerts, policies, a command queue for diagnostics,
//! Prometheus `/metrics`, all behind one JSON API ([`api::app`]) over a [`store::Store`] —
//! SQLite by default, PostgreSQL for several replicas.
//!
//! Layers: [`api`]'s handlers parse, authorize and convert, nothing else; the domain modules
//! ([`alerts`], [`fleet`], [`governance`], [`maintenance`]) decide, taking the store and their own
//! settings, never the HTTP state; [`store`] persists, its methods split by domain.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use spectra_server::{api, config::ServeConfig, store};
//!
//! let config = ServeConfig::new("spectra.db");
//! let store = store::open(&config.db).await?;
//! let router = api::app(api::AppState::new(store, config));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod config;
pub mod fleet;
pub mod governance;
pub mod maintenance;
pub mod overview;
mod series;
pub mod serve;
pub mod store;

pub use serve::{ServeError, run};
