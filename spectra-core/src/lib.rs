//! `spectra-core`: everything Spectra does, as a plain Rust library.
//!
//! Spectra sees what is on a machine — what fills the disks, who owns it, what nobody has
//! touched in months. Every frontend (the `spectra` CLI and server, Python, Node, the C ABI)
//! is a thin layer over this crate, which has no async runtime, no HTTP and no database.
//!
//! - [`scan`]: the parallel disk scanner, its [`scan::ScanReport`], and [`scan::FileStream`]
//!   for every entry as it is found.
//! - [`collect`]: host collectors (cpu, memory, disks, network, …) returning typed metrics,
//!   kept between samples by a [`collect::Sampler`].
//! - [`diagnose`]: bounded on-demand diagnostics (ping, tcp connect, netstat, traceroute, logs,
//!   …), each run through [`diagnose::Diagnostic::run`] with one set of defaults.
//! - [`policy`]: the typed rule language, dry-run plans, safe enforcement and its audit log;
//!   the workflow every frontend calls is on [`policy::StateDir`].
//! - [`protocol`]: the wire types (envelopes, metric batches, snapshots, commands, access
//!   events) and their size-limited codec.
//! - [`index`]: the file index of a root as upload batches, full or against what the server
//!   already holds.
//! - [`telemetry`]: a non-blocking recorder of file accesses for embedders.
//! - [`Error`]: the one error type, with a stable [`ErrorCode`] each frontend maps once, and
//!   [`ErrorBody`], the serialisable form every frontend shows.
//! - [`CancelToken`]: stops a scan, a diagnostic, an enforcement, a restore or a purge.
//! - [`RawPath`]: a path kept byte for byte (Unix names need not be UTF-8).
//! - [`format`](mod@format): human-readable sizes, shared by every frontend that prints.
//!
//! ```no_run
//! let report = spectra_core::scan::scan("/var/log")?;
//! println!("{}", spectra_core::format::bytes(report.totals.disk_bytes));
//! # Ok::<(), spectra_core::Error>(())
//! ```
//!
//! On Linux the scanner and collectors use Linux's fast paths (`statx`, `getdents64`,
//! `/proc`); every platform (macOS, Windows, and Linux on request) has the portable ones:
//! see [`Backend`].
#![forbid(unsafe_code)]

pub mod alert;
mod backend;
mod cancel;
pub mod collect;
pub mod diagnose;
mod error;
pub mod format;
mod glob;
pub mod index;
mod lex;
pub mod metrics;
pub mod policy;
pub mod protocol;
mod raw_path;
pub mod roots;
pub mod scan;
mod sys;
pub mod telemetry;
pub mod units;

pub use backend::{BACKEND_ENV, Backend};
pub use cancel::CancelToken;
pub use error::{Error, ErrorBody, ErrorCode, Result};
pub use raw_path::RawPath;
pub(crate) use raw_path::{os_str_from_bytes, os_string_from_bytes};
