//! Where plans and the audit log live on a machine, the same for every frontend.

use std::path::{Path, PathBuf};

use super::{EnforceOptions, PlanStore, invoking_user};
use crate::error::{Error, Result};

/// The state directory: the one given, else `$SPECTRA_STATE_DIR`, else
/// `~/.local/state/spectra`. Plans are kept in `plans/`, the audit log is `audit.jsonl`.
#[derive(Debug, Clone)]
pub struct StateDir(PathBuf);

impl StateDir {
    pub fn resolve(given: Option<PathBuf>) -> StateDir {
        StateDir(
            given
                .or_else(|| std::env::var_os("SPECTRA_STATE_DIR").map(PathBuf::from))
                .unwrap_or_else(|| {
                    let home = std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(std::env::temp_dir);
                    home.join(".local/state/spectra")
                }),
        )
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn plans(&self) -> PlanStore {
        PlanStore::new(self.0.join("plans"))
    }

    pub fn audit_log(&self) -> PathBuf {
        self.0.join("audit.jsonl")
    }

    /// Options for enforcing as the invoking user ([`invoking_user`]), creating the directory
    /// if needed.
    pub fn enforce_options(&self, override_limits: bool) -> Result<EnforceOptions> {
        std::fs::create_dir_all(&self.0).map_err(|e| Error::io(&self.0, e))?;
        Ok(EnforceOptions {
            override_limits,
            ..EnforceOptions::new(invoking_user(), self.audit_log())
        })
    }
}
