//! System plumbing shared by `collect`, `diagnose`, `policy` and `scan`: where `/proc` and
//! `/sys` are ([`Host`]), running an external program without a shell ([`run_bounded`]), the
//! mount table and user/group names. A leaf: it uses nothing else of the crate but errors,
//! and nothing here is public API.

mod command;
#[cfg(spectra_native)]
mod host;
mod mounts;
mod users;

#[cfg(spectra_native)]
pub(crate) use command::run_bounded;
pub(crate) use command::run_bounded_until;
#[cfg(spectra_native)]
pub(crate) use host::{Host, KeptFile, malformed, parse_u64};
pub use mounts::Mount;
#[cfg(spectra_native)]
pub(crate) use mounts::parse_mountinfo;
pub(crate) use users::{group_name, user_name};
