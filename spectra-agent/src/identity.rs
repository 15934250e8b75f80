//! The agent's identity: its id and token from enrollment, kept in the state directory with
//! mode 0600 (the token is a credential).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::AgentError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub server: String,
    pub agent_id: String,
    pub agent_token: String,
}

impl Identity {
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("identity.json")
    }

    /// The saved identity, if the agent has enrolled.
    pub fn load(state_dir: &Path) -> Result<Option<Identity>, AgentError> {
        let path = Identity::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| AgentError::State(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AgentError::State(format!("{}: {e}", path.display()))),
        }
    }

    /// Writes the identity atomically (a new file renamed over the old), readable by the
    /// agent's user only.
    pub fn save(&self, state_dir: &Path) -> Result<(), AgentError> {
        write_private(
            &Identity::path(state_dir),
            &serde_json::to_vec_pretty(self).unwrap_or_default(),
        )
    }
}

/// Writes `bytes` to `path` through a synced temporary file with mode 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AgentError> {
    let state = |e: std::io::Error| AgentError::State(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(state)?;
    }
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(state)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(state)?;
    std::fs::rename(&temporary, path).map_err(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn identities_round_trip_readable_by_the_owner_only() {
        let dir = tempfile::tempdir().expect("tmp");
        assert_eq!(Identity::load(dir.path()).expect("none"), None);
        let identity = Identity {
            server: "http://hub".into(),
            agent_id: "a1".into(),
            agent_token: "secret".into(),
        };
        identity.save(dir.path()).expect("save");
        assert_eq!(Identity::load(dir.path()).expect("load"), Some(identity));
        let mode = std::fs::metadata(Identity::path(dir.path()))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
