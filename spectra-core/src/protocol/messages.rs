//! The agent ↔ server messages besides metrics: enrollment, scan snapshots and commands.
//!
//! Validation lives here, not in the server, so an agent and a server (and any binding that
//! builds these) refuse the same things with the same words.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{PROTOCOL_VERSION, first_version};
pub use crate::diagnose::{Diagnostic, MAX_DISK_USAGE_TOP};
use crate::error::{Error, Result};
use crate::raw_path::check_path;
use crate::scan::ScanReport;

/// Longest hostname, OS or version string an agent may report.
const MAX_LABEL_CHARS: usize = 253;
/// Most capabilities one agent may list.
const MAX_CAPABILITIES: usize = 64;

/// What an agent says about itself when it enrolls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub hostname: String,
    pub os: String,
    pub version: String,
    /// Collectors and diagnostics this agent can run (`cpu`, `ping`, …).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// A stable machine identity (`/etc/machine-id`). An agent that enrolls again with the same
    /// one keeps its agent id (and its history) and gets a new token.
    #[serde(default)]
    pub machine_id: Option<String>,
    /// Labels to list and filter agents by: the agent's automatic ones (`os`, `arch`,
    /// `kernel`, `hardware`, `agent_version`) and its configuration's (`env = "prod"`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Most labels one agent may carry.
pub const MAX_LABELS: usize = 64;

impl AgentInfo {
    /// Refuses empty or over-long labels and control characters, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_label("hostname", &self.hostname, false)?;
        check_label("os", &self.os, true)?;
        check_label("version", &self.version, true)?;
        if let Some(id) = &self.machine_id {
            check_label("machine_id", id, false)?;
        }
        if self.capabilities.len() > MAX_CAPABILITIES {
            return Err(Error::invalid(
                "capabilities",
                format!(
                    "{} entries; at most {MAX_CAPABILITIES}",
                    self.capabilities.len()
                ),
            ));
        }
        for capability in &self.capabilities {
            check_label("capability", capability, false)?;
        }
        if self.labels.len() > MAX_LABELS {
            return Err(Error::invalid(
                "labels",
                format!("{} labels; at most {MAX_LABELS}", self.labels.len()),
            ));
        }
        for (key, value) in &self.labels {
            check_label_key(key)?;
            check_label(&format!("labels.{key}"), value, true)?;
        }
        Ok(())
    }
}

/// A label's key: 1 to 63 of `a-z`, `0-9`, `_`, `-`, `.` (so `key=value` filters parse).
pub fn check_label_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 63
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "label key",
            format!("{key:?} is not 1 to 63 of a-z, 0-9, '_', '-', '.'"),
        ))
    }
}

pub(super) fn check_label(what: &str, value: &str, may_be_empty: bool) -> Result<()> {
    if value.is_empty() && !may_be_empty {
        return Err(Error::invalid(what, "must not be empty"));
    }
    if value.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::invalid(
            what,
            format!("longer than {MAX_LABEL_CHARS} characters"),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(Error::invalid(
            what,
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(())
}

/// An enrollment request: the admin's enrollment token and the agent's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub enrollment_token: String,
    /// The agent's current token, when it has one: proof that a re-enrollment comes from the
    /// enrolled agent itself, which lets it keep its approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
    #[serde(flatten)]
    pub agent: AgentInfo,
}

/// One scan of one root, as an agent reports it. The server keeps every snapshot, which is
/// what growth over time and "time travel" read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(default = "first_version")]
    pub version: u32,
    /// Chosen by the agent, so a retried upload is stored once.
    pub snapshot_id: Uuid,
    pub hostname: String,
    pub report: ScanReport,
}

impl Snapshot {
    pub fn new(hostname: impl Into<String>, report: ScanReport) -> Self {
        Snapshot {
            version: PROTOCOL_VERSION,
            snapshot_id: Uuid::new_v4(),
            hostname: hostname.into(),
            report,
        }
    }

    /// The scanned root as text (roots joined by `:` when a scan had several); growth series
    /// are kept per root.
    pub fn root(&self) -> String {
        self.report
            .roots
            .iter()
            .map(|root| root.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(":")
    }

    pub fn validate(&self) -> Result<()> {
        if self.version > PROTOCOL_VERSION {
            return Err(Error::InvalidData {
                what: "snapshot".into(),
                message: format!(
                    "protocol version {} is newer than the supported {PROTOCOL_VERSION}",
                    self.version
                ),
            });
        }
        check_label("hostname", &self.hostname, false)?;
        if self.report.roots.is_empty() {
            return Err(Error::invalid("snapshot", "report has no roots"));
        }
        for (index, root) in self.report.roots.iter().enumerate() {
            check_path(&format!("report.roots[{index}]"), root.as_bytes())?;
        }
        Ok(())
    }
}

/// What an agent's policy loop did with one policy on one root: the plan it made (a dry run)
/// and, when its own configuration allowed it to act, what enforcing that plan did.
/// Identified by the plan id, so a replayed report changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    pub plan_id: String,
    pub policy: String,
    /// `report`, `delete`, `archive` or `move`.
    pub action: String,
    pub root: String,
    pub files: u64,
    pub bytes: u64,
    pub scan_partial: bool,
    pub created_at: DateTime<Utc>,
    /// What enforcing did, file by file (the agent's audit log holds the same, hash-chained).
    #[serde(default)]
    pub enforcement: Option<crate::policy::EnforceOutcome>,
}

/// Most files one enforcement report may list (quarantined plus skipped).
pub const MAX_REPORTED_FILES: usize = 100_000;

impl PlanReport {
    /// The report of `plan`, made on `root`, with `enforcement` when it was enforced.
    pub fn new(
        plan: &crate::policy::Plan,
        root: &std::path::Path,
        enforcement: Option<crate::policy::EnforceOutcome>,
    ) -> Self {
        PlanReport {
            plan_id: plan.id.clone(),
            policy: plan.policy.name.clone(),
            action: plan.policy.action.name().to_owned(),
            root: root.display().to_string(),
            files: plan.files.len() as u64,
            bytes: plan.total_bytes,
            scan_partial: plan.scan_partial,
            created_at: plan.created_at,
            enforcement,
        }
    }

    /// Refuses a report that is not one: a plan id that is not a SHA-256, labels with control
    /// characters, a root that is not an absolute path, too many files.
    pub fn validate(&self) -> Result<()> {
        if self.plan_id.len() != 64 || !self.plan_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid("plan_id", "not a SHA-256 in hex"));
        }
        check_label("policy", &self.policy, false)?;
        self.action.parse::<crate::policy::Action>()?;
        check_path("root", self.root.as_bytes())?;
        if let Some(outcome) = &self.enforcement {
            let listed = outcome.quarantined.len() + outcome.skipped.len();
            if listed > MAX_REPORTED_FILES {
                return Err(Error::TooLarge {
                    what: "enforcement report".into(),
                    limit: MAX_REPORTED_FILES as u64,
                    unit: "files",
                });
            }
        }
        Ok(())
    }
}

/// A queued diagnostic as an agent receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub command_id: Uuid,
    pub diagnostic: Diagnostic,
    pub issued_at: DateTime<Utc>,
}

/// What an agent reports after running a [`Command`]: its output, or why it did not run
/// (an agent may refuse what its local configuration does not allow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub command_id: Uuid,
    #[serde(flatten)]
    pub outcome: CommandOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CommandOutcome {
    Succeeded {
        output: serde_json::Value,
    },
    /// Why it did not run or failed: core's error body (`code`, `message`, and `number`,
    /// `path`, `line`, `column` when known), flattened beside `status`.
    Failed(crate::ErrorBody),
}

/// What was done to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessOp {
    Open,
    Read,
    Write,
    Create,
    Delete,
    Rename,
    /// Metadata only (sampled by recorders).
    Stat,
    /// A directory listing (metadata; sampled).
    List,
}

impl AccessOp {
    /// Metadata operations are frequent and cheap, so recorders sample them.
    pub fn is_metadata(self) -> bool {
        matches!(self, AccessOp::Stat | AccessOp::List)
    }
}

impl std::str::FromStr for AccessOp {
    type Err = Error;

    fn from_str(text: &str) -> Result<AccessOp> {
        serde_json::from_value(serde_json::Value::from(text)).map_err(|_| {
            Error::invalid(
                "access op",
                format!(
                    "{text:?}: expected open, read, write, create, delete, rename, stat or list"
                ),
            )
        })
    }
}

/// One access to a file, as an embedder reports it. Only metadata: never file contents.
///
/// `backend` names the storage location (as the file index does); an event without one is
/// attributed by the agent that forwards it to the backend whose root holds the path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEvent {
    pub timestamp: DateTime<Utc>,
    pub op: AccessOp,
    pub path: crate::RawPath,
    #[serde(default)]
    pub uid: Option<u32>,
    /// Who accessed the file, by name (else the uid stands for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Bytes read or written (0 when not applicable).
    #[serde(default)]
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<bool>,
    /// The host or process that served the access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// How long the access took, in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Why the access failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl AccessEvent {
    /// An event stamped now.
    pub fn new(op: AccessOp, path: impl Into<PathBuf>) -> Self {
        AccessEvent {
            timestamp: Utc::now(),
            op,
            path: crate::RawPath::from(path.into()),
            uid: None,
            user: None,
            backend: None,
            bytes: 0,
            cache_hit: None,
            node: None,
            latency_us: None,
            error: None,
        }
    }

    pub fn with_bytes(mut self, bytes: u64) -> Self {
        self.bytes = bytes;
        self
    }

    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = Some(backend.into());
        self
    }

    /// The event with `user` filled in from `uid` where this host resolves it (the agent
    /// does this for the events it forwards, so that they group with the index's owners).
    pub fn with_resolved_user(mut self) -> Self {
        if self.user.is_none() {
            self.user = self.uid.and_then(crate::sys::user_name);
        }
        self
    }

    /// Who accessed the file, as usage is grouped: the user name, else the uid, else
    /// `unknown`.
    pub fn user_key(&self) -> String {
        super::index::owner_key(self.user.as_deref(), self.uid)
    }

    /// Checks the event's fields; `what` names it in errors (`events[3]`).
    pub fn validate(&self, what: &str) -> Result<()> {
        check_path(&format!("{what}.path"), self.path.as_bytes())?;
        if let Some(user) = &self.user {
            check_label(&format!("{what}.user"), user, false)?;
        }
        if let Some(backend) = &self.backend {
            super::index::check_backend_at(&format!("{what}.backend"), backend)?;
        }
        if let Some(node) = &self.node {
            check_label(&format!("{what}.node"), node, false)?;
        }
        if let Some(error) = &self.error {
            check_label(&format!("{what}.error"), error, true)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn agent_info_names_the_bad_field() {
        let mut info = AgentInfo {
            hostname: "web-1".into(),
            os: "linux".into(),
            version: "0.1.0".into(),
            capabilities: vec!["cpu".into()],
            machine_id: None,
            labels: Default::default(),
        };
        info.validate().expect("valid");
        info.hostname = "web\n1".into();
        let err = info.validate().expect_err("control character");
        assert!(err.to_string().contains("hostname"), "{err}");
        info.hostname = String::new();
        assert!(info.validate().is_err());
        info.hostname = "web-1".into();
        info.labels.insert("env".into(), "prod".into());
        info.validate().expect("a label");
        info.labels.insert("Env Name".into(), "x".into());
        let err = info.validate().expect_err("a bad key");
        assert!(err.to_string().contains("Env Name"), "{err}");
    }

    #[test]
    fn command_results_carry_their_status() {
        let ok: CommandResult = serde_json::from_value(json!({
            "command_id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "status": "succeeded", "output": {"received": 4}
        }))
        .expect("succeeded");
        assert!(matches!(ok.outcome, CommandOutcome::Succeeded { .. }));
        let failed: CommandResult = serde_json::from_value(json!({
            "command_id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "status": "failed", "code": "unsupported", "message": "no journal"
        }))
        .expect("failed");
        let CommandOutcome::Failed(body) = &failed.outcome else {
            panic!("failed: {failed:?}");
        };
        assert_eq!((body.code.as_str(), body.number), ("unsupported", None));
        let from_error = CommandOutcome::Failed(
            crate::Error::Unsupported {
                what: "logs".into(),
                reason: "no journal".into(),
            }
            .body(),
        );
        let wire = serde_json::to_value(&from_error).expect("json");
        assert_eq!(wire["status"], "failed");
        assert_eq!(wire["code"], "unsupported");
        assert_eq!(wire["number"], 8);
        assert_eq!(wire["message"], "logs is not supported here: no journal");
    }
}
