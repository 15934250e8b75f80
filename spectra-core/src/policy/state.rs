//! Where plans and the audit log live on a machine, the same for every frontend.

use std::path::{Path, PathBuf};

use super::{EnforceOptions, PlanStore};
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

    /// Options for enforcing as the invoking user (`$SUDO_USER`, else `$USER`), creating the
    /// directory if needed.
    pub fn enforce_options(&self, override_limits: bool) -> Result<EnforceOptions> {
        std::fs::create_dir_all(&self.0).map_err(|e| Error::io(&self.0, e))?;
        let who = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .unwrap_or_else(|_| "unknown".into());
        Ok(EnforceOptions {
            override_limits,
            ..EnforceOptions::new(who, self.audit_log())
        })
    }
}
