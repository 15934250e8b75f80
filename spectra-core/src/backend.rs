//! [`Backend`]: which implementation reads the machine.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The environment variable that picks the backend for every frontend when a call does not:
/// `native` or `portable`.
pub const BACKEND_ENV: &str = "SPECTRA_BACKEND";

/// Which implementation reads the machine: Linux's fast paths or the portable ones.
///
/// - **`native`** (Linux only): the scan lists directories with `getdents64` and stats
///   entries with `statx` relative to their directory's descriptor; the collectors parse
///   `/proc` and `/sys`.
/// - **`portable`** (every platform): the scan walks with `std::fs` (owners, inodes, devices
///   and blocks through `MetadataExt` on Unix; unknown on Windows, where disk usage falls back
///   to the apparent size); cpu, memory, disk, disk I/O, network, processes and system come
///   from the `sysinfo` crate, and the other collectors answer
///   [`ErrorCode::Unsupported`](crate::ErrorCode::Unsupported).
///
/// Unless a call chooses, [`Backend::resolve`] takes [`BACKEND_ENV`] when it is set, else
/// native where it exists (Linux) and portable elsewhere. Every scan report and collector
/// capability says which backend produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Native,
    Portable,
}

impl Backend {
    /// Both backends, native first.
    pub const ALL: [Backend; 2] = [Backend::Native, Backend::Portable];

    /// The one name of the backend (`native`, `portable`), as in JSON and [`BACKEND_ENV`].
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Portable => "portable",
        }
    }

    /// Whether this build has the backend: portable always, native on Linux builds.
    pub fn is_available(self) -> bool {
        match self {
            Backend::Native => cfg!(spectra_native),
            Backend::Portable => true,
        }
    }

    /// The backend a call uses: `choice` when given, else [`BACKEND_ENV`] when set, else the
    /// platform's best. An unknown name in the environment or a backend this build lacks is
    /// an error that says which.
    pub fn resolve(choice: Option<Backend>) -> Result<Backend> {
        let backend = match choice {
            Some(backend) => backend,
            None => match std::env::var(BACKEND_ENV) {
                Ok(name) if !name.is_empty() => name
                    .parse()
                    .map_err(|e: Error| Error::invalid(BACKEND_ENV, e.to_string()))?,
                _ if Backend::Native.is_available() => Backend::Native,
                _ => Backend::Portable,
            },
        };
        if !backend.is_available() {
            return Err(Error::unsupported(
                format!("the {backend} backend"),
                "it reads Linux's /proc and uses Linux-only system calls; this build has only \
                 the portable backend",
            ));
        }
        Ok(backend)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Backend> {
        Backend::ALL
            .into_iter()
            .find(|b| b.as_str() == name)
            .ok_or_else(|| {
                Error::invalid(
                    "backend",
                    format!("unknown backend {name:?}; known: native, portable"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for backend in Backend::ALL {
            assert_eq!(backend.as_str().parse::<Backend>().expect("known"), backend);
            assert_eq!(
                serde_json::to_value(backend).expect("json"),
                backend.as_str()
            );
        }
        let err = "fast".parse::<Backend>().expect_err("unknown");
        assert!(err.to_string().contains("native, portable"), "{err}");
    }

    #[test]
    fn a_chosen_backend_wins_and_must_exist_in_this_build() {
        assert_eq!(
            Backend::resolve(Some(Backend::Portable)).expect("portable"),
            Backend::Portable
        );
        match Backend::resolve(Some(Backend::Native)) {
            Ok(backend) => {
                assert!(Backend::Native.is_available());
                assert_eq!(backend, Backend::Native);
            }
            Err(e) => {
                assert!(!Backend::Native.is_available());
                assert_eq!(e.code(), crate::ErrorCode::Unsupported);
            }
        }
    }
}
