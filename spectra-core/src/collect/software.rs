//! What is installed and running: packages and systemd services.

use std::path::Path;

use super::{COMMAND_TIMEOUT, MAX_COMMAND_OUTPUT};
use super::{Collector, Metric};
use super::{Package, Service};
use crate::error::{Error, Result};
use crate::sys::Host;
use crate::sys::run_bounded;

/// Installed packages from dpkg's status file (only those in state `install ok installed`).
pub(crate) fn parse_dpkg_status(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
                    .map(|v| v.trim().to_string())
            };
            if field("Status")? != "install ok installed" {
                return None;
            }
            Some(Package {
                name: field("Package")?,
                version: field("Version").unwrap_or_default(),
                // dpkg records KiB.
                size_bytes: field("Installed-Size")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(|k| k * 1024),
                manager: "dpkg".into(),
            })
        })
        .collect()
}

/// Installed packages from Alpine's `/lib/apk/db/installed` (`P:` name, `V:` version, `I:` bytes).
pub(crate) fn parse_apk_installed(text: &str) -> Vec<Package> {
    text.split("\n\n")
        .filter_map(|stanza| {
            let field = |key: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(str::to_string)
            };
            Some(Package {
                name: field("P:")?,
                version: field("V:").unwrap_or_default(),
                size_bytes: field("I:").and_then(|v| v.parse().ok()),
                manager: "apk".into(),
            })
        })
        .collect()
}

/// `rpm -qa --queryformat '%{NAME}\t%{VERSION}-%{RELEASE}\t%{SIZE}\n'` output.
pub(crate) fn parse_rpm_query(text: &str) -> Vec<Package> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            Some(Package {
                name: parts.next()?.to_string(),
                version: parts.next()?.to_string(),
                size_bytes: parts.next().and_then(|v| v.parse().ok()),
                manager: "rpm".into(),
            })
        })
        .collect()
}

#[derive(Debug)]
pub struct ApplicationsCollector {
    host: Host,
}

impl ApplicationsCollector {
    pub fn new(host: Host) -> Self {
        ApplicationsCollector { host }
    }
}

fn program_exists(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| Path::new(&dir).join(name).is_file())
    })
}

impl Collector for ApplicationsCollector {
    fn name(&self) -> &'static str {
        "applications"
    }

    fn collect(&mut self) -> Result<Metric> {
        let mut packages = Vec::new();
        let mut found = false;
        if let Some(text) = self.host.read_opt("var/lib/dpkg/status") {
            found = true;
            packages.extend(parse_dpkg_status(&text));
        }
        if let Some(text) = self.host.read_opt("lib/apk/db/installed") {
            found = true;
            packages.extend(parse_apk_installed(&text));
        }
        if self.host.is_real() && program_exists("rpm") {
            let out = run_bounded(
                "rpm",
                &[
                    "-qa",
                    "--queryformat",
                    "%{NAME}	%{VERSION}-%{RELEASE}	%{SIZE}
",
                ],
                COMMAND_TIMEOUT,
                MAX_COMMAND_OUTPUT,
            )?;
            found = true;
            packages.extend(parse_rpm_query(&out.stdout));
        }
        if !found {
            return Err(Error::unsupported(
                "applications",
                "no dpkg, apk or rpm database",
            ));
        }
        packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.manager.cmp(&b.manager)));
        Ok(Metric::Applications(packages))
    }
}

/// `systemctl list-units --type=service --all --no-legend --no-pager --plain` output.
pub(crate) fn parse_list_units(text: &str) -> Vec<Service> {
    text.lines()
        .filter_map(|line| {
            // A leading marker (● for failed units) is dropped before the columns.
            let line = line.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
            let mut parts = line.split_whitespace();
            let name = parts.next()?.to_string();
            let (load_state, active_state, sub_state) =
                (parts.next()?, parts.next()?, parts.next()?);
            Some(Service {
                name,
                load_state: load_state.into(),
                active_state: active_state.into(),
                sub_state: sub_state.into(),
                description: parts.collect::<Vec<_>>().join(" "),
            })
        })
        .collect()
}

#[derive(Debug)]
pub struct ServicesCollector {
    host: Host,
}

impl ServicesCollector {
    pub fn new(host: Host) -> Self {
        ServicesCollector { host }
    }
}

impl Collector for ServicesCollector {
    fn name(&self) -> &'static str {
        "services"
    }

    fn collect(&mut self) -> Result<Metric> {
        // systemd's own test for "booted with systemd" (sd_booted).
        if !self.host.path("run/systemd/system").is_dir() {
            return Err(Error::unsupported(
                "services",
                "systemd is not running (no /run/systemd/system)",
            ));
        }
        let out = run_bounded(
            "systemctl",
            &[
                "list-units",
                "--type=service",
                "--all",
                "--no-legend",
                "--no-pager",
                "--plain",
            ],
            COMMAND_TIMEOUT,
            MAX_COMMAND_OUTPUT,
        )?;
        if !out.success {
            return Err(Error::unsupported(
                "services",
                "systemctl list-units failed",
            ));
        }
        Ok(Metric::Services(parse_list_units(&out.stdout)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_dpkg_status_parses() {
        let packages = parse_dpkg_status(include_str!("samples/dpkg_status"));
        assert_eq!(packages.len(), 4);
        let adduser = packages
            .iter()
            .find(|p| p.name == "adduser")
            .expect("adduser");
        assert_eq!(
            (adduser.version.as_str(), adduser.size_bytes),
            ("3.134", Some(686 * 1024))
        );
        let removed = "Package: gone\nStatus: deinstall ok config-files\nVersion: 1\n";
        assert!(
            parse_dpkg_status(removed).is_empty(),
            "only installed packages count"
        );
    }

    #[test]
    fn apk_and_rpm_listings_parse() {
        let apk = "C:Q1abc=\nP:musl\nV:1.2.4-r2\nI:622592\n\nP:busybox\nV:1.36.1-r5\nI:1000\n";
        let packages = parse_apk_installed(apk);
        assert_eq!(packages.len(), 2);
        assert_eq!(
            (packages[0].name.as_str(), packages[0].size_bytes),
            ("musl", Some(622_592))
        );
        let rpm = parse_rpm_query("bash\t5.1.8-6.el9\t7738634\nbroken line\n");
        assert_eq!(rpm.len(), 1);
        assert_eq!(rpm[0].version, "5.1.8-6.el9");
    }

    #[test]
    fn systemctl_units_parse_with_failed_markers() {
        let text = include_str!("samples/systemctl_list_units");
        let units = parse_list_units(text);
        assert_eq!(units.len(), 3);
        assert_eq!(units[0].name, "cron.service");
        assert_eq!(
            units[0].description,
            "Regular background program processing daemon"
        );
        let failed = &units[2];
        assert_eq!(
            (
                failed.name.as_str(),
                failed.active_state.as_str(),
                failed.sub_state.as_str()
            ),
            ("nginx.service", "failed", "failed")
        );
    }

    #[test]
    fn without_systemd_services_are_unsupported() {
        let dir = tempfile::tempdir().expect("tmp");
        let err = ServicesCollector::new(Host::at(dir.path()))
            .collect()
            .expect_err("no systemd");
        assert_eq!(err.code(), crate::ErrorCode::Unsupported);
        let err = ApplicationsCollector::new(Host::at(dir.path()))
            .collect()
            .expect_err("no package db");
        assert_eq!(err.code(), crate::ErrorCode::Unsupported);
    }
}
