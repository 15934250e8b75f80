//! `agent.toml`: what the agent does and what it allows, resolved into [`Settings`].
//!
//! Every setting has a default, so an empty file (or none) is a working agent: every collector
//! at its default interval (core's), metrics batched every 10 s, a heartbeat every 30 s, a
//! 64 MiB spool, every diagnostic accepted but `disk_usage` only under the listed roots (none
//! by default). What the server sends can never widen this: the agent refuses what its own
//! configuration does not allow.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use spectra_core::units::parse_duration;

use crate::AgentError;

/// The file as written. Durations are text (`5s`, `10m`); a collector's interval may be `off`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The server's base URL (`http://hub:8080`); `SPECTRA_SERVER` and `--server` win.
    pub server: Option<String>,
    /// The token agents enroll with; needed only until the agent has enrolled.
    pub enrollment_token: Option<String>,
    /// Where the identity, the spool and the status live [default: ~/.local/state/spectra-agent].
    pub state_dir: Option<PathBuf>,
    /// The name to report [default: `HOSTNAME`, else the kernel's].
    pub hostname: Option<String>,
    /// The machine identity [default: /etc/machine-id]: an agent that enrolls again with the
    /// same one keeps its id.
    pub machine_id: Option<String>,
    /// A PEM file of the certificate authorities an `https://` server is checked against.
    pub ca_file: Option<PathBuf>,
    /// Collector name → interval (`5s`) or `off`; unlisted collectors run at core's default.
    pub collectors: BTreeMap<String, String>,
    /// A batch is sent when it holds this many envelopes [default: 500] …
    pub batch_max_envelopes: Option<usize>,
    /// … or is this old [default: 10s].
    pub batch_max_age: Option<String>,
    /// How often the agent says it is alive [default: 30s].
    pub heartbeat: Option<String>,
    /// Most bytes the on-disk spool keeps; past it the oldest batches are dropped and counted
    /// [default: 67108864].
    pub spool_max_bytes: Option<u64>,
    /// Diagnostics the agent runs for the server (`ping`, `tcp_connect`, `traceroute`,
    /// `netstat`, `mounts`, `logs`, `disk_usage`) [default: all of them].
    pub diagnostics: Option<Vec<String>>,
    /// Directories the agent may read (`disk_usage`) and plan policies on: a path, or
    /// `{ path = "/srv", enforce = true }` to let it also enforce destructive policies there.
    /// Nothing the server sends can turn enforcement on.
    pub roots: Vec<RootConfig>,
    /// How often the policy loop fetches the server's policies and plans them [default: 1h].
    pub policy_interval: Option<String>,
    /// Commands run at once at most [default: 4].
    pub max_commands: Option<usize>,
    /// Roots scanned on a schedule, each scan sent as a snapshot (`[[scan]]` tables).
    #[serde(rename = "scan")]
    pub scans: Vec<ScanConfig>,
    /// The Unix socket embedders hand access events to (core's `telemetry::AgentSink`), or
    /// `off` [default: STATE_DIR/telemetry.sock, mode 0600].
    pub telemetry_socket: Option<String>,
    /// Labels sent with the agent's description (`env = "prod"`), beside the automatic ones
    /// (`os`, `arch`, `kernel`, `hardware`, `agent_version`), which these override.
    pub labels: BTreeMap<String, String>,
}

/// One of the agent's roots.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RootConfig {
    Path(PathBuf),
    Table(RootTable),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootTable {
    pub path: PathBuf,
    #[serde(default)]
    pub enforce: bool,
}

impl RootConfig {
    fn parts(self) -> (PathBuf, bool) {
        match self {
            RootConfig::Path(path) => (path, false),
            RootConfig::Table(table) => (table.path, table.enforce),
        }
    }
}

/// `[[scan]] root = "/srv"  every = "6h"`, and `index = true` (with `backend = "name"`) to
/// upload the root's file index from the same walk.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanConfig {
    pub root: PathBuf,
    /// How often [default: 6h]; the first scan runs at start.
    pub every: Option<String>,
    /// Upload the per-file index (metadata only) of this root [default: false].
    #[serde(default)]
    pub index: bool,
    /// The storage location the index is filed under [default: HOSTNAME:ROOT].
    pub backend: Option<String>,
}

/// A root scanned on a schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledScan {
    pub root: PathBuf,
    pub every: Duration,
    /// The backend its index is uploaded as, when the configuration opts in.
    pub index_as: Option<String>,
}

/// The backend a root's index is filed under when the configuration names none.
pub fn default_backend(hostname: &str, root: &Path) -> String {
    format!("{hostname}:{}", root.display())
}

/// Every setting resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: String,
    pub enrollment_token: Option<String>,
    pub state_dir: PathBuf,
    pub hostname: String,
    pub machine_id: Option<String>,
    pub ca_file: Option<PathBuf>,
    /// Enabled collectors with their intervals, in core's registry order.
    pub collectors: Vec<(&'static str, Duration)>,
    pub batch_max_envelopes: usize,
    pub batch_max_age: Duration,
    pub heartbeat: Duration,
    pub spool_max_bytes: u64,
    pub diagnostics: Vec<String>,
    pub roots: Vec<PathBuf>,
    /// The roots where destructive policies may be enforced (a subset of `roots`).
    pub enforce_roots: Vec<PathBuf>,
    pub policy_interval: Duration,
    pub max_commands: usize,
    /// Roots scanned on a schedule.
    pub scans: Vec<ScheduledScan>,
    /// The automatic labels with the configuration's over them.
    pub labels: BTreeMap<String, String>,
    /// Where embedders send access events (`None`: off).
    pub telemetry_socket: Option<PathBuf>,
}

/// The diagnostics an agent can run, by wire name: every one core has.
pub use spectra_core::diagnose::KINDS as DIAGNOSTICS;

impl AgentConfig {
    /// Reads `path` (TOML); errors name the file.
    pub fn load(path: &Path) -> Result<AgentConfig, AgentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))
    }

    /// Resolves the file's settings, with `server`, `enrollment_token` and `state_dir` from
    /// the command line (or environment) winning over it.
    pub fn resolve(
        self,
        server: Option<String>,
        enrollment_token: Option<String>,
        state_dir: Option<PathBuf>,
    ) -> Result<Settings, AgentError> {
        let server = server.or(self.server).ok_or_else(|| {
            AgentError::Config("no server: give --server URL (or SPECTRA_SERVER)".into())
        })?;
        if !(server.starts_with("http://") || server.starts_with("https://")) {
            return Err(AgentError::Config(format!(
                "server {server:?} is not an http:// or https:// URL"
            )));
        }
        let duration = |name: &str, text: Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => parse_duration(&text)
                .map_err(|e| AgentError::Config(format!("{name}: {e}")))
                .and_then(|d| {
                    if d.is_zero() {
                        Err(AgentError::Config(format!("{name}: must be more than 0")))
                    } else {
                        Ok(d)
                    }
                }),
        };
        let known = spectra_core::collect::names();
        if let Some(unknown) = self
            .collectors
            .keys()
            .find(|n| !known.contains(&n.as_str()))
        {
            return Err(AgentError::Config(format!(
                "collectors.{unknown}: no such collector; known: {}",
                known.join(", ")
            )));
        }
        let mut collectors = Vec::new();
        for name in known {
            let default = spectra_core::collect::by_name(name)
                .map_err(|e| AgentError::Config(e.to_string()))?
                .default_interval();
            match self.collectors.get(name).map(String::as_str) {
                Some("off") => {}
                Some(text) => collectors.push((
                    name,
                    duration(
                        &format!("collectors.{name}"),
                        Some(text.to_owned()),
                        default,
                    )?,
                )),
                None => collectors.push((name, default)),
            }
        }
        let diagnostics = self
            .diagnostics
            .unwrap_or_else(|| DIAGNOSTICS.map(str::to_owned).to_vec());
        if let Some(unknown) = diagnostics
            .iter()
            .find(|d| !DIAGNOSTICS.contains(&d.as_str()))
        {
            return Err(AgentError::Config(format!(
                "diagnostics: {unknown:?} is not one of {}",
                DIAGNOSTICS.join(", ")
            )));
        }
        let mut roots = Vec::with_capacity(self.roots.len());
        let mut enforce_roots = Vec::new();
        for (root, enforce) in self.roots.into_iter().map(RootConfig::parts) {
            if !root.is_absolute() {
                return Err(AgentError::Config(format!(
                    "roots: {} is not an absolute path",
                    root.display()
                )));
            }
            if enforce {
                enforce_roots.push(root.clone());
            }
            roots.push(root);
        }
        let state_dir = state_dir
            .or(self.state_dir)
            .unwrap_or_else(spectra_core::telemetry::default_agent_state_dir);
        let hostname = self
            .hostname
            .unwrap_or_else(spectra_core::collect::hostname);
        let mut scans = Vec::with_capacity(self.scans.len());
        for scan in self.scans {
            if !scan.root.is_absolute() {
                return Err(AgentError::Config(format!(
                    "scan.root: {} is not an absolute path",
                    scan.root.display()
                )));
            }
            let every = duration("scan.every", scan.every, Duration::from_secs(6 * 3600))?;
            if scan.backend.is_some() && !scan.index {
                return Err(AgentError::Config(format!(
                    "scan.backend: {} names a backend but does not set index = true",
                    scan.root.display()
                )));
            }
            if let Some(backend) = &scan.backend {
                spectra_core::protocol::check_backend_name(backend)
                    .map_err(|e| AgentError::Config(format!("scan.{e}")))?;
            }
            scans.push(ScheduledScan {
                index_as: scan.index.then(|| {
                    scan.backend
                        .unwrap_or_else(|| default_backend(&hostname, &scan.root))
                }),
                root: scan.root,
                every,
            });
        }
        for key in self.labels.keys() {
            spectra_core::protocol::check_label_key(key)
                .map_err(|e| AgentError::Config(format!("labels: {e}")))?;
        }
        let mut labels = automatic_labels();
        labels.extend(self.labels);
        let max_commands = self.max_commands.unwrap_or(4);
        if max_commands == 0 {
            return Err(AgentError::Config(
                "max_commands: must be at least 1".into(),
            ));
        }
        let telemetry_socket = match self.telemetry_socket.as_deref() {
            Some("off") => None,
            Some(path) if !Path::new(path).is_absolute() => {
                return Err(AgentError::Config(format!(
                    "telemetry_socket: {path} is not an absolute path (or off)"
                )));
            }
            Some(path) => Some(PathBuf::from(path)),
            None => Some(state_dir.join(spectra_core::telemetry::AGENT_SOCKET_NAME)),
        };
        Ok(Settings {
            telemetry_socket,
            server: server.trim_end_matches('/').to_owned(),
            enrollment_token: enrollment_token.or(self.enrollment_token),
            state_dir,
            hostname,
            machine_id: self.machine_id.or_else(default_machine_id),
            ca_file: self.ca_file,
            collectors,
            batch_max_envelopes: self.batch_max_envelopes.unwrap_or(500).clamp(1, 10_000),
            batch_max_age: duration("batch_max_age", self.batch_max_age, Duration::from_secs(10))?,
            heartbeat: duration("heartbeat", self.heartbeat, Duration::from_secs(30))?,
            spool_max_bytes: self.spool_max_bytes.unwrap_or(64 << 20),
            diagnostics,
            roots,
            enforce_roots,
            policy_interval: duration(
                "policy_interval",
                self.policy_interval,
                Duration::from_secs(3600),
            )?,
            max_commands,
            scans,
            labels,
        })
    }
}

/// What the agent knows of its host without being told: system, architecture, kernel,
/// hardware model (DMI's product name, or a device tree's model on boards like the Pi) and
/// its own version. A fact this host does not give is left out.
fn automatic_labels() -> BTreeMap<String, String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|text| {
                text.trim_matches(|c: char| c.is_whitespace() || c == '\0')
                    .to_owned()
            })
            .filter(|text| !text.is_empty() && !text.chars().any(char::is_control))
    };
    let mut labels = BTreeMap::new();
    labels.insert("os".to_owned(), std::env::consts::OS.to_owned());
    labels.insert("arch".to_owned(), std::env::consts::ARCH.to_owned());
    labels.insert(
        "agent_version".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    );
    if let Some(kernel) = read("/proc/sys/kernel/osrelease") {
        labels.insert("kernel".to_owned(), kernel);
    }
    if let Some(model) =
        read("/sys/class/dmi/id/product_name").or_else(|| read("/proc/device-tree/model"))
    {
        labels.insert("hardware".to_owned(), model);
    }
    labels
}

/// What a one-shot command adds to the machine id it enrolls under (see [`Settings::one_shot`]).
pub const ONE_SHOT_MACHINE_SUFFIX: &str = "/one-shot";

impl Settings {
    /// These settings for a one-shot command (`spectra scan PATH --server URL`). It uses the
    /// identity in its state directory when there is one (the agent's, by default); when it
    /// must enroll, it does so as a client of its own, under the machine id with
    /// [`ONE_SHOT_MACHINE_SUFFIX`], so it can never displace the host's agent (whose machine
    /// id it would otherwise re-enroll, revoking the agent's token).
    pub fn one_shot(mut self) -> Settings {
        self.machine_id = self
            .machine_id
            .map(|id| format!("{id}{ONE_SHOT_MACHINE_SUFFIX}"));
        self
    }
}

fn default_machine_id() -> Option<String> {
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|id| id.trim().to_owned())
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_shot_command_enrolls_under_a_machine_id_of_its_own() {
        let settings = toml::from_str::<AgentConfig>("machine_id = 'host-7'")
            .expect("toml")
            .resolve(Some("http://hub".into()), None, Some("/tmp/x".into()))
            .expect("settings");
        assert_eq!(settings.machine_id.as_deref(), Some("host-7"));
        let one_shot = settings.one_shot();
        assert_eq!(one_shot.machine_id.as_deref(), Some("host-7/one-shot"));
        assert_eq!(one_shot.state_dir, std::path::Path::new("/tmp/x"));
    }

    #[test]
    fn an_empty_file_is_a_working_agent_with_cores_intervals() {
        let settings = AgentConfig::default()
            .resolve(Some("http://hub:8080/".into()), None, Some("/tmp/x".into()))
            .expect("defaults");
        assert_eq!(settings.server, "http://hub:8080");
        let cpu = settings.collectors.iter().find(|(n, _)| *n == "cpu");
        assert_eq!(cpu, Some(&("cpu", Duration::from_secs(5))));
        assert_eq!(
            settings.collectors.len(),
            spectra_core::collect::names().len()
        );
        assert_eq!(settings.diagnostics.len(), DIAGNOSTICS.len());
        assert_eq!(settings.labels["os"], std::env::consts::OS);
        assert_eq!(settings.labels["arch"], std::env::consts::ARCH);
        assert!(
            settings.labels.contains_key("kernel"),
            "{:?}",
            settings.labels
        );
    }

    /// The example shipped in `dist/agent.toml` is a valid configuration.
    #[test]
    fn the_shipped_example_parses() {
        let example: AgentConfig =
            toml::from_str(include_str!("../dist/agent.toml")).expect("dist/agent.toml");
        let settings = example
            .resolve(Some("http://hub".into()), None, Some("/tmp/s".into()))
            .expect("resolves");
        assert!(
            settings
                .collectors
                .iter()
                .all(|(n, _)| *n != "raspberry_pi")
        );
        assert_eq!(settings.roots.len(), 2);
        assert_eq!(settings.enforce_roots, [PathBuf::from("/srv/scratch")]);
    }

    #[test]
    fn bad_settings_name_themselves() {
        let parse = |text: &str| {
            toml::from_str::<AgentConfig>(text)
                .map_err(|e| AgentError::Config(e.to_string()))
                .and_then(|c| c.resolve(Some("http://h".into()), None, None))
                .expect_err(text)
                .to_string()
        };
        assert!(parse("collectors = { gpu = '5s' }").contains("collectors.gpu"));
        assert!(parse("collectors = { cpu = 'often' }").contains("collectors.cpu"));
        assert!(parse("diagnostics = ['rm']").contains("diagnostics"));
        assert!(parse("roots = ['srv']").contains("roots"));
        assert!(parse("heartbeat = '0s'").contains("heartbeat"));
        assert!(parse("[[scan]]\nroot = 'srv'").contains("scan.root"));
        assert!(parse("labels = { 'Team Name' = 'x' }").contains("labels"));
        assert!(parse("[[scan]]\nroot = '/srv'\nevery = 'daily'").contains("scan.every"));
        assert!(parse("colectors = {}").contains("colectors"));
        assert!(parse("[[scan]]\nroot = '/srv'\nbackend = 'x'").contains("index = true"));
        assert!(parse("[[scan]]\nroot = '/srv'\nindex = true\nbackend = ''").contains("backend"));
        let indexed = toml::from_str::<AgentConfig>(
            "hostname = 'web-1'\n[[scan]]\nroot = '/srv'\nindex = true\n\
             [[scan]]\nroot = '/data'\nindex = true\nbackend = 's3_training'\n\
             [[scan]]\nroot = '/tmp'",
        )
        .expect("toml")
        .resolve(Some("http://h".into()), None, None)
        .expect("settings");
        let index_as: Vec<Option<&str>> = indexed
            .scans
            .iter()
            .map(|s| s.index_as.as_deref())
            .collect();
        assert_eq!(index_as, [Some("web-1:/srv"), Some("s3_training"), None]);
        let off = toml::from_str::<AgentConfig>("collectors = { applications = 'off' }")
            .expect("toml")
            .resolve(Some("http://h".into()), None, None)
            .expect("settings");
        assert!(off.collectors.iter().all(|(n, _)| *n != "applications"));
        let none = AgentConfig::default().resolve(None, None, None);
        assert!(
            none.expect_err("no server")
                .to_string()
                .contains("--server")
        );
    }
}
