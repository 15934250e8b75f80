//! The portable backend against the native one, on this Linux machine: the same scan facts
//! from `std::fs` as from `statx`/`getdents64`, and `sysinfo`'s collectors agreeing with
//! `/proc`. (The portable code also runs alone, as macOS and Windows get it, in the
//! `--cfg spectra_portable` and `--cfg spectra_no_unix` builds of this crate's tests.)
#![cfg(spectra_native)]

mod support;

use std::collections::BTreeSet;

use spectra_core::Backend;
use spectra_core::collect::{Metric, Sampler};
use spectra_core::scan::{ScanOptions, ScanReport, Scanner};
use support::Tree;

fn scan_with(backend: Backend, options: ScanOptions) -> ScanReport {
    let scanner = Scanner::new(options.with_backend(backend)).expect("valid options");
    assert_eq!(scanner.backend(), backend);
    let report = scanner.scan().expect("scan");
    assert_eq!(report.backend, backend);
    assert!(!report.disk_bytes_are_apparent, "Unix reports blocks");
    report
}

/// Everything a report says about the tree (not when or how fast, nor which backend).
fn facts(report: &ScanReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).expect("json");
    let object = value.as_object_mut().expect("object");
    for field in ["started_at", "finished_at", "duration_secs", "backend"] {
        object.remove(field).expect("field");
    }
    value
}

fn assert_same_facts(options: impl Fn() -> ScanOptions) {
    let native = scan_with(Backend::Native, options());
    let portable = scan_with(Backend::Portable, options());
    assert_eq!(facts(&portable), facts(&native));
}

#[test]
fn a_generated_tree_gives_the_same_report() {
    let tree = Tree::new();
    tree.file("a.log", 1000);
    tree.file("logs/b.LOG", 30_000);
    tree.file("logs/deep/c.bin", 70_000);
    tree.file(".hidden", 10);
    tree.dir("empty");
    tree.hard_link("logs/deep/c.bin", "c-again.bin");
    tree.symlink("logs", "to-logs");
    tree.symlink("/nonexistent", "dangling");
    let status = std::process::Command::new("mkfifo")
        .arg(tree.path("pipe"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    assert_same_facts(|| ScanOptions::new(tree.root()).with_top(5));
    assert_same_facts(|| {
        ScanOptions::new(tree.root())
            .with_follow_symlinks(true)
            .with_exclude("*.bin")
    });
}

#[test]
fn a_real_system_directory_gives_the_same_totals_owners_and_top_files() {
    let options = || ScanOptions::new("/usr/share").with_top(20);
    let native = scan_with(Backend::Native, options());
    let portable = scan_with(Backend::Portable, options());
    assert!(native.totals.files > 1000);
    assert_eq!(portable.totals, native.totals);
    assert_eq!(portable.owners, native.owners);
    assert_eq!(portable.largest_files, native.largest_files);
    assert_eq!(portable.largest_dirs, native.largest_dirs);
    assert_eq!(portable.errors.count, native.errors.count);
}

fn sample(sampler: &Sampler, name: &str) -> Metric {
    sampler.sample(name).expect(name)
}

#[test]
fn sysinfo_agrees_with_proc() {
    let native = Sampler::with_backend(Backend::Native).expect("native");
    let portable = Sampler::with_backend(Backend::Portable).expect("portable");
    assert_eq!(portable.backend().expect("backend"), Backend::Portable);

    let (Metric::Memory(n), Metric::Memory(p)) =
        (sample(&native, "memory"), sample(&portable, "memory"))
    else {
        panic!("memory kinds")
    };
    assert_eq!(p.total, n.total, "MemTotal exactly");
    assert_eq!(p.swap_total, n.swap_total);

    let (Metric::Cpu(n), Metric::Cpu(p)) = (sample(&native, "cpu"), sample(&portable, "cpu"))
    else {
        panic!("cpu kinds")
    };
    assert_eq!(p.core_count, n.core_count);
    assert_eq!(p.per_core.len(), n.per_core.len());
    assert!(
        (p.load_1 - n.load_1).abs() < 1.0,
        "{} vs {}",
        p.load_1,
        n.load_1
    );

    let mounts = |m: Metric| -> BTreeSet<String> {
        let Metric::Disk(list) = m else {
            panic!("disk kind")
        };
        list.into_iter().map(|u| u.mount_point).collect()
    };
    let (n, p) = (
        mounts(sample(&native, "disk")),
        mounts(sample(&portable, "disk")),
    );
    assert!(p.contains("/"), "{p:?}");
    // sysinfo leaves out what is mounted in the kernel's own trees (a tmpfs on
    // /sys/fs/cgroup, say); everything else the native collector shows, it lists.
    let n: BTreeSet<String> = n
        .into_iter()
        .filter(|m| !m.starts_with("/sys/") && !m.starts_with("/proc/"))
        .collect();
    assert!(
        n.is_subset(&p),
        "every mount the native collector shows is listed: {:?} missing",
        n.difference(&p).collect::<Vec<_>>()
    );

    let interfaces = |m: Metric| -> BTreeSet<String> {
        let Metric::Network(list) = m else {
            panic!("network kind")
        };
        list.into_iter().map(|i| i.name).collect()
    };
    assert_eq!(
        interfaces(sample(&portable, "network")),
        interfaces(sample(&native, "network"))
    );

    let (Metric::Processes(n), Metric::Processes(p)) =
        (sample(&native, "processes"), sample(&portable, "processes"))
    else {
        panic!("processes kinds")
    };
    let tolerance = 10 + n.total / 10;
    assert!(
        p.total.abs_diff(n.total) <= tolerance,
        "{} processes vs {}",
        p.total,
        n.total
    );
    let (Metric::System(n), Metric::System(p)) =
        (sample(&native, "system"), sample(&portable, "system"))
    else {
        panic!("system kinds")
    };
    assert_eq!(
        (p.hostname, p.kernel, p.arch),
        (n.hostname, n.kernel, n.arch)
    );

    for capability in portable.capabilities() {
        assert_eq!(capability.backend, Some(Backend::Portable));
        let expected = matches!(
            capability.name.as_str(),
            "cpu" | "memory" | "disk" | "disk_io" | "network" | "processes" | "system"
        );
        assert_eq!(capability.supported, expected, "{capability:?}");
    }
}
