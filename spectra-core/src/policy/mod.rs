//! Policies: named lists of rules (joined by AND) with an action.
//!
//! The seed's form keeps working as it was written:
//!
//! ```
//! use spectra_core::policy::{Action, Policy};
//!
//! let policy: Policy = serde_json::from_str(r#"{"name": "Cleanup Old Logs",
//!     "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"}"#)?;
//! assert_eq!(policy.action, Action::Delete);
//! let compiled = policy.compile()?;
//! assert_eq!(compiled.rules().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This module holds the rule language, the policy types, planning (a dry run during a scan,
//! [`plan`]), enforcement ([`enforce`]: delete into a quarantine, archive, move; [`restore`]),
//! the hash-chained [`audit`] log, and [`purge`] of old quarantines. Frontends use the workflow
//! on [`StateDir`] (plan and save, enforce a saved plan, restore, purge), which keeps plans
//! and the audit log in one place with one set of defaults.

pub mod audit;
mod enforce;
mod plan;
mod rule;
mod scope;
mod state;

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

pub use enforce::{
    ActionHooks, ActionProgress, EnforceOptions, EnforceOutcome, ProgressHook, QUARANTINE_DIR,
    Quarantine, QuarantinedFile, Skipped, enforce, invoking_user, purge, quarantines, restore,
};
pub use plan::{Plan, PlanListing, PlanStore, PlanSummary, PlannedFile, UnreadablePlan, plan};
pub use rule::{CompareOp, Facts, Field, MAX_RULE_LEN, MAX_RULE_NESTING, Rule, RuleError, Type};
pub use scope::{may_enforce, policy_targets};

/// Most rules one policy may have (they are joined by AND; real policies have a handful).
pub const MAX_POLICY_RULES: usize = 256;
pub use state::{SavedPlan, StateDir};

use crate::error::{Error, Result};

/// What a policy does with the files its rules select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Action {
    /// List them; change nothing.
    Report,
    /// Move them to the quarantine (recoverable until purged).
    Delete,
    /// Move them under `destination`, keeping their relative paths.
    Archive {
        destination: Option<PathBuf>,
    },
    Move {
        destination: Option<PathBuf>,
    },
}

impl Action {
    /// Every action's name, as [`Action::name`] gives it.
    pub const NAMES: [&'static str; 4] = ["report", "delete", "archive", "move"];

    /// True for the actions that change files (delete, archive, move).
    pub fn is_destructive(&self) -> bool {
        !matches!(self, Action::Report)
    }

    /// `report`, `delete`, `archive` or `move`.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Report => "report",
            Action::Delete => "delete",
            Action::Archive { .. } => "archive",
            Action::Move { .. } => "move",
        }
    }

    /// The action `name` (any case), with `destination` for archive and move. A destination
    /// given to report or delete is refused rather than ignored.
    pub fn named(name: &str, destination: Option<PathBuf>) -> Result<Action> {
        let action = match (name.parse::<Action>()?, destination) {
            (Action::Archive { .. }, destination) => Action::Archive { destination },
            (Action::Move { .. }, destination) => Action::Move { destination },
            (action, None) => action,
            (action, Some(_)) => {
                return Err(Error::invalid(
                    "destination",
                    format!("{} takes no destination", action.name()),
                ));
            }
        };
        Ok(action)
    }
}

/// The bare name (`delete`, `DELETE`); archive and move then still need their destination.
impl std::str::FromStr for Action {
    type Err = Error;

    fn from_str(name: &str) -> Result<Action> {
        match name.to_ascii_lowercase().as_str() {
            "report" => Ok(Action::Report),
            "delete" => Ok(Action::Delete),
            "archive" => Ok(Action::Archive { destination: None }),
            "move" => Ok(Action::Move { destination: None }),
            other => Err(Error::invalid(
                "action",
                format!(
                    "unknown action '{other}': expected {}",
                    Action::NAMES.join(", ")
                ),
            )),
        }
    }
}

/// Accepts the seed's bare strings (`"DELETE"`, any case) as well as tagged objects
/// (`{"type": "archive", "destination": "/archive"}`).
impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Name(String),
            Tagged {
                #[serde(rename = "type")]
                kind: String,
                destination: Option<PathBuf>,
            },
        }
        let (kind, destination) = match Wire::deserialize(deserializer)? {
            Wire::Name(name) => (name, None),
            Wire::Tagged { kind, destination } => (kind, destination),
        };
        let action = kind.parse::<Action>().map_err(|e| match e {
            Error::InvalidInput { message, .. } => serde::de::Error::custom(message),
            other => serde::de::Error::custom(other),
        })?;
        Ok(match action {
            Action::Archive { .. } => Action::Archive { destination },
            Action::Move { .. } => Action::Move { destination },
            other => other,
        })
    }
}

/// Safety limits of one enforcement run; on by default (see DESIGN.md's safety rules).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub max_files: u64,
    pub max_bytes: u64,
    /// Largest share of the scanned bytes one run may act on, 0–1.
    pub max_fraction: f64,
    /// Act on files with several hard links (off: deleting one name frees nothing and
    /// surprises whoever uses the others).
    pub allow_hard_links: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 10_000,
            max_bytes: 100 << 30,
            max_fraction: 0.25,
            allow_hard_links: false,
        }
    }
}

/// A policy as written (JSON on the wire, TOML on disk).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Joined by AND.
    pub rules: Vec<String>,
    pub action: Action,
    /// Roots the policy may act under; empty means the scanned roots.
    #[serde(default)]
    pub scope: Vec<PathBuf>,
    #[serde(default)]
    pub limits: Limits,
}

impl Policy {
    pub fn from_json(text: &str) -> Result<Policy> {
        serde_json::from_str(text).map_err(|e| Error::InvalidData {
            what: "policy JSON".into(),
            message: e.to_string(),
        })
    }

    /// Reads a policy file: TOML when the name ends in `.toml`, JSON otherwise.
    pub fn load(path: &std::path::Path) -> Result<Policy> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let parsed = if path.extension().is_some_and(|e| e == "toml") {
            Policy::from_toml(&text)
        } else {
            Policy::from_json(&text)
        };
        parsed.map_err(|e| match e {
            Error::InvalidData { what, message } => Error::InvalidData {
                what: format!("{what} in {}", path.display()),
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Policy> {
        toml::from_str(text).map_err(|e| Error::InvalidData {
            what: "policy TOML".into(),
            message: e.to_string(),
        })
    }

    /// Parses and type-checks every rule; the first bad one is reported with its number and
    /// a caret under the column.
    pub fn compile(&self) -> Result<CompiledPolicy> {
        if self.rules.is_empty() {
            return Err(Error::invalid(
                "policy",
                format!("'{}' has no rules: it would select every file", self.name),
            ));
        }
        if self.rules.len() > MAX_POLICY_RULES {
            return Err(Error::TooLarge {
                what: format!("policy '{}'", self.name),
                limit: MAX_POLICY_RULES as u64,
                unit: "rules",
            });
        }
        if !(0.0..=1.0).contains(&self.limits.max_fraction) {
            return Err(Error::invalid(
                "limits.max_fraction",
                format!("{} is not between 0 and 1", self.limits.max_fraction),
            ));
        }
        if let Action::Archive { destination } | Action::Move { destination } = &self.action {
            check_destination(destination.as_deref())?;
        }
        for root in &self.scope {
            if root.as_os_str().is_empty() || root.as_os_str().as_encoded_bytes().contains(&0) {
                return Err(Error::invalid(
                    "scope",
                    format!("{root:?} is not a path (empty, or it holds a NUL byte)"),
                ));
            }
        }
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(index, text)| {
                Rule::parse(text).map_err(|error| Error::InvalidRule {
                    policy: self.name.clone(),
                    index: index + 1,
                    error,
                })
            })
            .collect::<Result<_>>()?;
        Ok(CompiledPolicy {
            policy: self.clone(),
            rules,
        })
    }
}

/// An archive or move destination must be an absolute path with no `..` and no NUL byte:
/// files are moved there relative to their root, so a relative or climbing destination would
/// put them wherever the process happens to run.
fn check_destination(destination: Option<&std::path::Path>) -> Result<()> {
    use std::path::Component;
    let Some(destination) = destination else {
        return Err(Error::invalid(
            "action.destination",
            "archive and move need a destination directory",
        ));
    };
    let problem = if destination.as_os_str().is_empty() {
        Some("is empty")
    } else if destination.as_os_str().as_encoded_bytes().contains(&0) {
        Some("holds a NUL byte")
    } else if !destination.is_absolute() {
        Some("is not an absolute path")
    } else if destination
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        Some("contains '..'")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::invalid(
            "action.destination",
            format!("{destination:?} {problem}"),
        )),
        None => Ok(()),
    }
}

#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    policy: Policy,
    rules: Vec<Rule>,
}

impl CompiledPolicy {
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether any rule reads `field`.
    pub fn uses(&self, field: Field) -> bool {
        self.rules.iter().any(|rule| rule.uses(field))
    }

    /// True only when every rule is definitely true (three-valued AND: unknown is no match).
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        self.rules.iter().all(|rule| rule.matches(facts))
    }

    /// Each rule with its three-valued outcome, for `explain`.
    pub fn explain(&self, facts: &Facts<'_>) -> Vec<(String, Option<bool>)> {
        self.rules
            .iter()
            .map(|rule| (rule.source().to_string(), rule.evaluate(facts)))
            .collect()
    }
}

/// Devices mounted `noatime`: their access times are stale, so rules must see them as
/// unknown (an access time that never moves would make every file look abandoned). Read from
/// Linux's mount table; other platforms give no mount options to the portable backend, so
/// there every access time is trusted.
pub(crate) fn noatime_devices() -> std::collections::HashSet<u64> {
    #[cfg(spectra_native)]
    {
        let text = crate::sys::Host::real()
            .read("proc/self/mountinfo")
            .unwrap_or_default();
        crate::sys::parse_mountinfo(&text)
            .into_iter()
            .filter(|m| m.options.split(',').any(|o| o == "noatime"))
            .filter_map(|m| m.dev)
            .collect()
    }
    #[cfg(not(spectra_native))]
    {
        std::collections::HashSet::new()
    }
}

/// `meta` as rules may see it: without its atime on a `noatime` mount.
pub(crate) fn trusted(
    meta: &crate::scan::FileMeta,
    noatime: &std::collections::HashSet<u64>,
) -> crate::scan::FileMeta {
    let mut meta = *meta;
    if meta.dev.is_some_and(|dev| noatime.contains(&dev)) {
        meta.atime = None;
    }
    meta
}

/// Everything a rule may ask about one file, owned (for `explain` and one-off checks; the
/// planner builds [`Facts`] straight from the scanner's entries instead).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileFacts {
    pub path: crate::RawPath,
    pub extension: String,
    pub meta: crate::scan::FileMeta,
    pub depth: usize,
    pub owner: Option<String>,
    pub group: Option<String>,
    pub now: i64,
}

impl FileFacts {
    /// Stats `path` (without following a final symlink) and resolves its owner and group.
    pub fn of_path(path: &std::path::Path, now: i64) -> Result<FileFacts> {
        let meta = trusted(&crate::scan::stat_path(path)?, &noatime_devices());
        let name = path
            .file_name()
            .map(|n| n.as_encoded_bytes())
            .unwrap_or_default();
        Ok(FileFacts {
            path: path.into(),
            extension: String::from_utf8_lossy(crate::scan::extension_of(name).unwrap_or_default())
                .to_ascii_lowercase(),
            meta,
            depth: path.components().count().saturating_sub(1),
            owner: meta.uid.and_then(crate::sys::user_name),
            group: meta.gid.and_then(crate::sys::group_name),
            now,
        })
    }

    pub fn facts(&self) -> Facts<'_> {
        let path = self.path.as_bytes();
        Facts {
            path,
            name: self
                .path
                .as_path()
                .file_name()
                .map(|n| n.as_encoded_bytes())
                .unwrap_or(path),
            extension: self.extension.as_bytes(),
            meta: &self.meta,
            depth: self.depth,
            owner: self.owner.as_deref(),
            group: self.group.as_deref(),
            now: self.now,
        }
    }
}

#[cfg(test)]
mod tests;
