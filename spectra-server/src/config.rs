//! `spectra serve` settings: flags, `SPECTRA_*` environment variables and a TOML file.
//!
//! Precedence, highest first: a command-line flag, its environment variable, the config file
//! (`--config` / `SPECTRA_CONFIG`), the built-in default. Every setting has all four forms;
//! the file uses the flag's name with `_` for `-` (`max_body_bytes = 8388608`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database `spectra serve` (and `spectra token`) use unless told otherwise: a SQLite
/// file in the working directory.
pub const DEFAULT_DB: &str = "spectra.db";

use serde::Deserialize;
use spectra_core::units::parse_duration;

/// Settings of the server, as flags (each also read from the environment variable shown).
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these settings (flags and environment variables win over it).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_CONFIG", value_name = "FILE")
    )]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]. Use 0.0.0.0:8080 to open it.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_LISTEN", value_name = "ADDR")
    )]
    pub listen: Option<SocketAddr>,
    /// Database: a SQLite file path (or sqlite://PATH) or postgres://… [default: spectra.db].
    // A PostgreSQL URL may hold a password: --help does not echo the environment's value.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_DB", value_name = "URL", hide_env_values = true)
    )]
    pub db: Option<String>,
    /// Token agents present to enroll (16 characters or more). Without one, enrollment is
    /// closed.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            env = "SPECTRA_ENROLLMENT_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )
    )]
    pub enrollment_token: Option<String>,
    /// Networks whose old Go agents are accepted without credentials, identified by hostname
    /// (comma-separated CIDRs, e.g. 10.1.0.0/16,192.168.5.7). Off by default: a migration
    /// path, limited to what the Go agent does.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_LEGACY_AGENTS", value_name = "CIDR,...")
    )]
    pub legacy_agents: Option<String>,
    /// New agents wait as pending until an admin approves them.
    #[cfg_attr(feature = "clap", arg(long, env = "SPECTRA_APPROVAL", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true"))]
    pub approval: Option<bool>,
    /// Serve `/metrics` without a token, for a Prometheus that scrapes without one (off by
    /// default: the exposition names hosts and what they run).
    #[cfg_attr(feature = "clap", arg(long, env = "SPECTRA_METRICS_PUBLIC", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true"))]
    pub metrics_public: Option<bool>,
    /// PEM certificate chain; serves HTTPS (with --tls-key).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            env = "SPECTRA_TLS_CERT",
            value_name = "FILE",
            requires = "tls_key"
        )
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            env = "SPECTRA_TLS_KEY",
            value_name = "FILE",
            requires = "tls_cert"
        )
    )]
    pub tls_key: Option<PathBuf>,
    /// Log format: text or json [default: text]. The level comes from RUST_LOG (default info).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_LOG_FORMAT", value_name = "FORMAT")
    )]
    pub log_format: Option<LogFormat>,
    /// Largest request body, in bytes, as received [default: 8388608].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_MAX_BODY_BYTES", value_name = "BYTES")
    )]
    pub max_body_bytes: Option<u64>,
    /// Largest body after gzip decompression, in bytes [default: 67108864].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_MAX_DECODED_BYTES", value_name = "BYTES")
    )]
    pub max_decoded_bytes: Option<u64>,
    /// Most envelopes in one metric batch [default: 10000].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_MAX_ENVELOPES", value_name = "N")
    )]
    pub max_envelopes: Option<usize>,
    /// Uploads (metric batches and snapshots) one agent may send per minute [default: 600].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_AGENT_REQUESTS_PER_MINUTE", value_name = "N")
    )]
    pub agent_requests_per_minute: Option<u32>,
    /// How long raw metrics are kept [default: 7d].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_RETENTION_RAW", value_name = "DURATION")
    )]
    pub retention_raw: Option<String>,
    /// How long 5-minute rollups are kept [default: 90d].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_RETENTION_5M", value_name = "DURATION")
    )]
    pub retention_5m: Option<String>,
    /// How long 1-hour rollups are kept [default: 730d].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_RETENTION_1H", value_name = "DURATION")
    )]
    pub retention_1h: Option<String>,
    /// How often rollups, retention and command expiry run [default: 60s].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_MAINTENANCE_INTERVAL", value_name = "DURATION")
    )]
    pub maintenance_interval: Option<String>,
    /// How long a claimed command may go unanswered before it expires [default: 10m].
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_COMMAND_TIMEOUT", value_name = "DURATION")
    )]
    pub command_timeout: Option<String>,
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_ALERT_INTERVAL", value_name = "DURATION")
    )]
    pub alert_interval: Option<String>,
    /// The HMAC-SHA256 key that signs webhook bodies (`X-Spectra-Signature`).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            env = "SPECTRA_ALERT_WEBHOOK_SECRET",
            value_name = "SECRET",
            hide_env_values = true
        )
    )]
    pub alert_webhook_secret: Option<String>,
    /// Let webhooks reach loopback and link-local addresses (a receiver on this host).
    #[cfg_attr(feature = "clap", arg(long, env = "SPECTRA_ALERT_ALLOW_LOCAL_TARGETS", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true"))]
    pub alert_allow_local_targets: Option<bool>,
    /// `smtps://user:password@host:465` (TLS), `smtp://…:587?tls=required` (STARTTLS), or
    /// `smtp://host:25` (no TLS: a trusted network only).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            env = "SPECTRA_SMTP_URL",
            value_name = "URL",
            hide_env_values = true
        )
    )]
    pub smtp_url: Option<String>,
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_SMTP_FROM", value_name = "ADDRESS")
    )]
    pub smtp_from: Option<String>,
    /// A PEM certificate authority the SMTP server's certificate may chain to, besides the
    /// public ones (a mail relay with a private CA).
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "SPECTRA_SMTP_CA_FILE", value_name = "FILE")
    )]
    pub smtp_ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The settings in effect, every one resolved.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub db: String,
    pub enrollment_token: Option<String>,
    /// Networks whose Go agents are admitted without credentials; empty: none.
    pub legacy_agents: Vec<Cidr>,
    pub approval: bool,
    /// `/metrics` answers without a token.
    pub metrics_public: bool,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub log_format: LogFormat,
    pub limits: IngestLimits,
    pub retention: Retention,
    pub maintenance_interval: Duration,
    pub command_timeout: Duration,
    pub alerts: AlertSettings,
}

/// How alerts are evaluated and delivered.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// Rules are evaluated this often (once per interval across replicas).
    pub interval: Duration,
    pub webhook_secret: Option<String>,
    pub allow_local_targets: bool,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub smtp_ca_file: Option<PathBuf>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            interval: Duration::from_secs(30),
            webhook_secret: None,
            allow_local_targets: false,
            smtp_url: None,
            smtp_from: None,
            smtp_ca_file: None,
        }
    }
}

/// Secrets stay out of logs and debug output.
impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |set: bool| if set { "<set>" } else { "<none>" };
        f.debug_struct("AlertSettings")
            .field("interval", &self.interval)
            .field("webhook_secret", &hidden(self.webhook_secret.is_some()))
            .field("allow_local_targets", &self.allow_local_targets)
            .field("smtp_url", &hidden(self.smtp_url.is_some()))
            .field("smtp_from", &self.smtp_from)
            .field("smtp_ca_file", &self.smtp_ca_file)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestLimits {
    pub max_body_bytes: u64,
    pub max_decoded_bytes: u64,
    pub max_envelopes: usize,
    pub agent_requests_per_minute: u32,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            max_body_bytes: 8 << 20,
            max_decoded_bytes: 64 << 20,
            max_envelopes: 10_000,
            agent_requests_per_minute: 600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub raw: Duration,
    pub rollup_5m: Duration,
    pub rollup_1h: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        Retention {
            raw: Duration::from_secs(7 * DAY),
            rollup_5m: Duration::from_secs(90 * DAY),
            rollup_1h: Duration::from_secs(730 * DAY),
        }
    }
}

impl ServeConfig {
    /// Settings for tests and embedders: defaults, SQLite at `db`, enrollment with `token`.
    pub fn new(db: impl Into<String>) -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            db: db.into(),
            enrollment_token: None,
            legacy_agents: Vec::new(),
            approval: false,
            metrics_public: false,
            tls: None,
            log_format: LogFormat::Text,
            limits: IngestLimits::default(),
            retention: Retention::default(),
            maintenance_interval: Duration::from_secs(60),
            command_timeout: Duration::from_secs(600),
            alerts: AlertSettings::default(),
        }
    }

    /// Resolves flags (already merged with the environment by clap) over the config file over
    /// the defaults. Errors name the setting and, for the file, its path.
    pub fn resolve(args: &ServeArgs) -> Result<ServeConfig, String> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => ServeArgs::default(),
        };
        let pick = |flag: &Option<String>, from_file: &Option<String>| {
            flag.clone().or_else(|| from_file.clone())
        };
        let duration = |name: &str, value: Option<String>, default: Duration| match value {
            None => Ok(default),
            Some(text) => parse_duration(&text).map_err(|e| format!("{name}: {e}")),
        };
        let defaults = ServeConfig::new(DEFAULT_DB);
        let limits = IngestLimits {
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(defaults.limits.max_body_bytes),
            max_decoded_bytes: args
                .max_decoded_bytes
                .or(file.max_decoded_bytes)
                .unwrap_or(defaults.limits.max_decoded_bytes),
            max_envelopes: args
                .max_envelopes
                .or(file.max_envelopes)
                .unwrap_or(defaults.limits.max_envelopes),
            agent_requests_per_minute: args
                .agent_requests_per_minute
                .or(file.agent_requests_per_minute)
                .unwrap_or(defaults.limits.agent_requests_per_minute),
        };
        let tls = match (
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("tls_cert and tls_key must be given together".into()),
        };
        let config = ServeConfig {
            listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
            db: pick(&args.db, &file.db).unwrap_or(defaults.db),
            enrollment_token: pick(&args.enrollment_token, &file.enrollment_token)
                .filter(|t| !t.is_empty()),
            legacy_agents: match pick(&args.legacy_agents, &file.legacy_agents) {
                Some(text) => Cidr::parse_list(&text).map_err(|e| format!("legacy_agents: {e}"))?,
                None => Vec::new(),
            },
            approval: args.approval.or(file.approval).unwrap_or(false),
            metrics_public: args.metrics_public.or(file.metrics_public).unwrap_or(false),
            tls,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            limits,
            retention: Retention {
                raw: duration(
                    "retention_raw",
                    pick(&args.retention_raw, &file.retention_raw),
                    defaults.retention.raw,
                )?,
                rollup_5m: duration(
                    "retention_5m",
                    pick(&args.retention_5m, &file.retention_5m),
                    defaults.retention.rollup_5m,
                )?,
                rollup_1h: duration(
                    "retention_1h",
                    pick(&args.retention_1h, &file.retention_1h),
                    defaults.retention.rollup_1h,
                )?,
            },
            maintenance_interval: duration(
                "maintenance_interval",
                pick(&args.maintenance_interval, &file.maintenance_interval),
                defaults.maintenance_interval,
            )?,
            command_timeout: duration(
                "command_timeout",
                pick(&args.command_timeout, &file.command_timeout),
                defaults.command_timeout,
            )?,
            alerts: AlertSettings {
                interval: duration(
                    "alert_interval",
                    pick(&args.alert_interval, &file.alert_interval),
                    defaults.alerts.interval,
                )?,
                webhook_secret: pick(&args.alert_webhook_secret, &file.alert_webhook_secret)
                    .filter(|secret| !secret.is_empty()),
                allow_local_targets: args
                    .alert_allow_local_targets
                    .or(file.alert_allow_local_targets)
                    .unwrap_or(false),
                smtp_url: pick(&args.smtp_url, &file.smtp_url).filter(|url| !url.is_empty()),
                smtp_from: pick(&args.smtp_from, &file.smtp_from),
                smtp_ca_file: args.smtp_ca_file.clone().or(file.smtp_ca_file),
            },
        };
        if let Some(token) = &config.enrollment_token
            && token.chars().count() < MIN_ENROLLMENT_TOKEN_CHARS
        {
            return Err(format!(
                "enrollment_token: {} characters is too short to guard enrollment; use at least \
                 {MIN_ENROLLMENT_TOKEN_CHARS} (e.g. `openssl rand -hex 16`)",
                token.chars().count()
            ));
        }
        if config.maintenance_interval.is_zero() {
            return Err("maintenance_interval must be more than 0".into());
        }
        if config.alerts.interval < Duration::from_secs(1) {
            return Err("alert_interval must be at least 1s".into());
        }
        if config.alerts.smtp_url.is_some() && config.alerts.smtp_from.is_none() {
            return Err("smtp_from: give the sender address that goes with smtp_url".into());
        }
        Ok(config)
    }
}

/// The shortest enrollment token accepted: anyone holding it may enroll agents.
pub const MIN_ENROLLMENT_TOKEN_CHARS: usize = 16;

/// A network: an address and a prefix length (`10.0.0.0/8`, `fd00::/8`; a bare address is
/// the network of that address alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// A comma-separated list; every entry must parse.
    pub fn parse_list(text: &str) -> Result<Vec<Cidr>, String> {
        text.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::parse)
            .collect()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        // An IPv4 client on a dual-stack listener shows up as ::ffff:a.b.c.d.
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .parse()
            .map_err(|_| format!("{text:?} is not an address or CIDR network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn read_file(path: &Path) -> Result<ServeArgs, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("spectra.toml");
        std::fs::write(
            &file,
            "db = \"/var/lib/spectra.db\"\nmax_envelopes = 50\nretention_raw = \"2d\"\n\
             listen = \"0.0.0.0:9000\"\n",
        )
        .expect("write");
        let args = ServeArgs {
            config: Some(file),
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            ..ServeArgs::default()
        };
        let config = ServeConfig::resolve(&args).expect("resolves");
        assert_eq!(config.listen.port(), 7000, "the flag wins");
        assert_eq!(
            config.db, "/var/lib/spectra.db",
            "the file fills what flags leave"
        );
        assert_eq!(config.limits.max_envelopes, 50);
        assert_eq!(config.retention.raw, Duration::from_secs(2 * 86_400));
        assert_eq!(
            config.limits.max_body_bytes,
            8 << 20,
            "the default fills the rest"
        );
        assert!(!config.approval);
    }

    #[test]
    fn bad_settings_are_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "max_envelops = 5\n").expect("write");
        let args = ServeArgs {
            config: Some(file),
            ..ServeArgs::default()
        };
        let err = ServeConfig::resolve(&args).expect_err("unknown key");
        assert!(
            err.contains("bad.toml") && err.contains("max_envelops"),
            "{err}"
        );
        let args = ServeArgs {
            retention_raw: Some("soon".into()),
            ..ServeArgs::default()
        };
        let err = ServeConfig::resolve(&args).expect_err("bad duration");
        assert!(err.starts_with("retention_raw:"), "{err}");
        let args = ServeArgs {
            enrollment_token: Some("abc".into()),
            ..ServeArgs::default()
        };
        let err = ServeConfig::resolve(&args).expect_err("short token");
        assert!(err.starts_with("enrollment_token: 3 characters"), "{err}");
        let args = ServeArgs {
            legacy_agents: Some("10.0.0.0/8, 10.0.0.0/33".into()),
            ..ServeArgs::default()
        };
        let err = ServeConfig::resolve(&args).expect_err("bad prefix");
        assert!(err.contains("0 to 32"), "{err}");
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let list = Cidr::parse_list("10.1.0.0/16,192.168.5.7,fd00::/8").expect("parses");
        let has = |ip: &str| list.iter().any(|c| c.contains(ip.parse().expect("ip")));
        assert!(has("10.1.200.3"));
        assert!(!has("10.2.0.1"));
        assert!(has("192.168.5.7"));
        assert!(!has("192.168.5.8"));
        assert!(has("fd12::1"));
        assert!(!has("fe80::1"));
        assert!(
            has("::ffff:10.1.0.9"),
            "IPv4-mapped addresses count as IPv4"
        );
        assert!(
            Cidr::parse_list("0.0.0.0/0").expect("all")[0].contains("8.8.8.8".parse().expect("ip"))
        );
        assert!("ten/8".parse::<Cidr>().is_err());
    }
}
