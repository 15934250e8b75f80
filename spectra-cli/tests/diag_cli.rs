//! `spectra diag` as a user runs it.

mod common;

use common::spectra;

#[test]
fn connect_reports_open_and_closed_ports_by_exit_status() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port().to_string();
    let open = spectra(&["diag", "connect", "127.0.0.1", &port, "--format", "json"]);
    assert!(
        open.status.success(),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&open.stdout).expect("JSON");
    assert_eq!(result["connected"], true);
    drop(listener);
    let closed = spectra(&["diag", "connect", "127.0.0.1", &port]);
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stdout).contains("connected = false"));
}

#[test]
fn a_name_that_does_not_resolve_is_said_once_with_the_io_status() {
    let out = spectra(&["diag", "ping", "example.invalid"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "io: {stderr}");
    assert!(stderr.contains("resolving example.invalid"), "{stderr}");
    let cause_lines = stderr
        .lines()
        .filter(|line| line.contains("example.invalid"))
        .count();
    assert_eq!(cause_lines, 1, "{stderr}");
    let first_word_of_cause = stderr.rsplit(": ").next().unwrap_or_default().trim();
    assert_eq!(
        stderr.matches(first_word_of_cause).count(),
        1,
        "the resolver's reason repeats: {stderr}"
    );
}

#[test]
fn hostile_arguments_are_refused_before_anything_runs() {
    for args in [
        &["diag", "ping", "--", "-f"][..],
        &["diag", "ping", "host;reboot"],
        &["diag", "traceroute", "--", "--help"],
        &["diag", "connect", "$(id)", "22"],
        &["diag", "ping", "127.0.0.1", "--count", "100000"],
        &["diag", "logs", "--severity", "loud"],
        &["diag", "ping", "127.0.0.1", "--timeout=-1"],
    ] {
        let out = spectra(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
    // The value reaches core's own check, which every frontend shares (a bare `-1` is a
    // negative number too, not an unknown option).
    for timeout in [
        &["--timeout=-1"][..],
        &["--timeout", "-1"],
        &["--timeout", "31"],
    ] {
        let mut args = vec!["diag", "ping", "127.0.0.1"];
        args.extend_from_slice(timeout);
        let out = spectra(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid timeout: "),
            "{timeout:?}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(2), "{timeout:?}");
    }
}

#[test]
fn netstat_mounts_and_du_print_json() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let local = listener.local_addr().expect("addr").to_string();
    let out = spectra(&["diag", "netstat", "--format", "json"]);
    assert!(out.status.success());
    let sockets: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        sockets
            .as_array()
            .expect("array")
            .iter()
            .any(|s| s["local"] == local.as_str() && s["state"] == "LISTEN")
    );
    let mounts = spectra(&["diag", "mounts", "--format", "json"]);
    assert!(String::from_utf8_lossy(&mounts.stdout).contains("\"mount_point\": \"/\""));
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("f"), b"12345").expect("write");
    let du = spectra(&[
        "diag",
        "du",
        dir.path().to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&du.stdout).expect("JSON");
    assert_eq!(report["totals"]["files"], 1);
}
