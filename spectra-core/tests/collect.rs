//! Every collector on the live host, checked against an independent view of the same machine.

use std::process::Command;
use std::time::Duration;

use spectra_core::collect::{self, Metric};
use spectra_core::{Backend, ErrorCode};

#[path = "support/skip.rs"]
mod skip;

/// Whether these collectors are Linux's native ones (else the portable backend's, from a
/// `--cfg spectra_portable` build or `SPECTRA_BACKEND=portable`).
fn native() -> bool {
    Backend::resolve(None).expect("backend") == Backend::Native
}

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("run a system tool");
    assert!(out.status.success(), "{program} failed");
    String::from_utf8(out.stdout).expect("utf-8")
}

fn sample(name: &str) -> Metric {
    collect::by_name(name)
        .expect("known")
        .collect()
        .expect("supported on this host")
}

#[test]
fn cpu_reports_since_boot_first_then_the_interval() {
    let mut cpu = collect::by_name("cpu").expect("known");
    let Metric::Cpu(first) = cpu.collect().expect("cpu") else {
        panic!("kind")
    };
    assert!(first.since_boot);
    std::thread::sleep(Duration::from_millis(200));
    let Metric::Cpu(second) = cpu.collect().expect("cpu") else {
        panic!("kind")
    };
    assert!(!second.since_boot);
    let cores: usize = sh("nproc", &["--all"]).trim().parse().expect("number");
    assert_eq!(second.core_count, cores);
    assert_eq!(second.per_core.len(), cores);
    let t = second.total;
    for pct in [
        t.usage_percent,
        t.user_percent,
        t.system_percent,
        t.idle_percent,
        t.iowait_percent,
    ] {
        assert!((0.0..=100.0).contains(&pct), "{t:?}");
    }
    assert!(
        (t.usage_percent + t.idle_percent + t.iowait_percent - 100.0).abs() < 1e-6,
        "{t:?}"
    );
    assert!(second.load_1 >= 0.0);
}

#[test]
fn memory_total_matches_sysconf() {
    let Metric::Memory(mem) = sample("memory") else {
        panic!("kind")
    };
    let pages: u64 = sh("getconf", &["_PHYS_PAGES"])
        .trim()
        .parse()
        .expect("number");
    let page_size: u64 = sh("getconf", &["PAGESIZE"]).trim().parse().expect("number");
    assert_eq!(mem.total, pages * page_size);
    assert!(mem.available <= mem.total && mem.used <= mem.total);
}

#[test]
fn disk_sees_the_root_filesystem_as_df_does() {
    let Metric::Disk(mounts) = sample("disk") else {
        panic!("kind")
    };
    let root = mounts
        .iter()
        .find(|m| m.mount_point == "/")
        .expect("/ is listed");
    let df = sh("df", &["-B1", "--output=size", "/"]);
    let df_total: u64 = df
        .lines()
        .nth(1)
        .expect("a row")
        .trim()
        .parse()
        .expect("number");
    assert_eq!(root.total, df_total);
    assert!(root.inodes_total >= root.inodes_used);
    assert!(
        mounts.iter().all(|m| m.mount_point != "/proc"),
        "pseudo filesystems are left out"
    );
}

#[test]
fn disk_io_and_network_give_rates_from_the_second_sample() {
    for name in ["disk_io", "network"] {
        let mut collector = collect::by_name(name).expect("known");
        let first = collector.collect().expect("supported");
        std::thread::sleep(Duration::from_millis(100));
        let second = collector.collect().expect("supported");
        match (first, second) {
            (Metric::DiskIo(a), Metric::DiskIo(b)) => {
                assert!(a.iter().all(|d| d.rates.is_none()));
                assert!(!b.is_empty() && b.iter().all(|d| d.rates.is_some()));
            }
            (Metric::Network(a), Metric::Network(b)) => {
                assert!(a.iter().all(|i| i.rates.is_none()));
                let lo = b.iter().find(|i| i.name == "lo").expect("loopback");
                assert!(lo.rates.is_some());
                assert!(
                    lo.addresses.iter().any(|a| a == "127.0.0.1"),
                    "{:?}",
                    lo.addresses
                );
                let names = sh("ls", &["/sys/class/net"]);
                for name in names.split_whitespace() {
                    let seen = b
                        .iter()
                        .find(|i| i.name == name)
                        .unwrap_or_else(|| panic!("interface {name} missing"));
                    let operstate =
                        std::fs::read_to_string(format!("/sys/class/net/{name}/operstate"))
                            .expect("operstate");
                    if !native() {
                        assert_eq!(seen.up, None, "sysinfo does not report link state");
                    } else if operstate.trim() == "up" {
                        assert_eq!(seen.up, Some(true), "{name} is up");
                    }
                }
                if native() {
                    assert_eq!(lo.up, Some(true), "loopback runs");
                }
            }
            other => panic!("wrong kinds {other:?}"),
        }
    }
}

#[test]
fn system_matches_uname() {
    let Metric::System(info) = sample("system") else {
        panic!("kind")
    };
    assert_eq!(info.kernel, sh("uname", &["-r"]).trim());
    assert_eq!(info.arch, sh("uname", &["-m"]).trim());
    assert!(info.uptime_secs > 0.0 && info.process_count > 0);
    assert!(info.os.is_some());
}

#[test]
fn every_collector_either_works_or_says_unsupported() {
    for capability in collect::capabilities() {
        if !capability.supported {
            let err = collect::by_name(&capability.name)
                .expect("known")
                .collect()
                .expect_err("unsupported");
            assert_eq!(
                err.code(),
                ErrorCode::Unsupported,
                "{}: {err}",
                capability.name
            );
            assert!(capability.reason.is_some());
        }
    }
    let names: Vec<String> = collect::capabilities()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, collect::names());
}

#[test]
fn metrics_become_envelopes_in_the_wire_format() {
    let envelope = sample("memory").into_envelope("host-a").expect("envelope");
    assert_eq!(envelope.kind, "memory");
    assert_eq!(envelope.hostname, "host-a");
    assert!(envelope.data["total"].as_u64().expect("number") > 0);
}

#[test]
fn applications_match_dpkg_query() {
    if !native() {
        let err = collect::by_name("applications")
            .expect("known")
            .collect()
            .expect_err("the portable backend lists no packages");
        assert_eq!(err.code(), ErrorCode::Unsupported);
        return;
    }
    let Metric::Applications(packages) = sample("applications") else {
        panic!("kind")
    };
    let installed = sh(
        "dpkg-query",
        &["-W", "-f", "${db:Status-Abbrev}${Package}\n"],
    );
    let count = installed.lines().filter(|l| l.starts_with("ii")).count();
    assert_eq!(
        packages.iter().filter(|p| p.manager == "dpkg").count(),
        count
    );
    assert!(
        packages
            .iter()
            .any(|p| p.name == "coreutils" && !p.version.is_empty())
    );
}

/// Unmounts on drop, so a failed assertion never leaves a mount behind.
struct TmpfsMount(std::path::PathBuf);

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn disk_notices_mounts_and_unmounts_between_samples() {
    if !rustix::process::geteuid().is_root() {
        skip::skipped("disk mount changes", "mounting needs root");
        return;
    }
    let mut disk = collect::by_name("disk").expect("known");
    let dir = tempfile::tempdir().expect("tmp");
    let point = dir.path().to_str().expect("utf-8").to_string();
    let listed =
        |m: &Metric| matches!(m, Metric::Disk(ms) if ms.iter().any(|u| u.mount_point == point));
    assert!(!listed(&disk.collect().expect("disk")));
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "spectra-test", &point])
        .status()
        .expect("mount");
    assert!(status.success(), "root could not mount a tmpfs");
    let guard = TmpfsMount(dir.path().to_path_buf());
    let mounted = disk.collect().expect("disk");
    assert!(listed(&mounted), "a new mount is seen on the next sample");
    drop(guard);
    assert!(
        !listed(&disk.collect().expect("disk")),
        "an unmount is seen on the next sample"
    );
}
