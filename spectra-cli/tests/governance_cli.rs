//! Governance end to end with real processes: `spectra serve`, the one-shot
//! `spectra scan --index` agent, and the admin commands `usage`, `stale` and `team`, on a tree
//! with known sizes and access times: every figure checked exactly.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use common::{ServerProcess, cli_token};

const ENROLL: &str = "governance-enrollment-token-0123";

fn aged(path: &Path, size: usize, days: u64) -> u64 {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, vec![1u8; size]).expect("write");
    let at = SystemTime::now() - Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_times(std::fs::FileTimes::new().set_accessed(at).set_modified(at))
        .expect("utimensat");
    size as u64
}

fn spectra(args: &[&str], server: &str, token: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(args)
        .env("SPECTRA_SERVER", server)
        .env("SPECTRA_TOKEN", token)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .expect("run spectra");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_indexed_scan_answers_usage_and_stale_exactly_through_the_admin_commands() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let tree = dir.path().join("proj");
    let mut total = 0;
    let mut stale = Vec::new();
    for (i, days) in [400u64, 5, 200, 1, 120].into_iter().enumerate() {
        let path = tree.join(format!("part{i}/data{i}.bin"));
        let size = aged(&path, 10_000 * (i + 1), days);
        total += size;
        if days > 90 {
            stale.push((size, path));
        }
    }
    stale.sort_by(|a, b| b.cmp(a));
    let state = dir.path().join("agent-state");
    let index = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args(["scan", "--format", "json", "--server", &server.url])
            .args(["--enroll-token", ENROLL, "--index", "--backend", "proj"])
            .arg("--state-dir")
            .arg(&state)
            .args(extra)
            .arg(&tree)
            .env_remove("SPECTRA_SERVER")
            .output()
            .expect("spectra scan --index");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).expect("report");
        (report, stderr)
    };
    let (report, stderr) = index(&[]);
    assert_eq!(
        report["totals"]["files"], 5,
        "one walk gives the report too"
    );
    assert!(
        stderr.contains("full crawl") && stderr.contains("5 files sent"),
        "{stderr}"
    );
    let (_, again) = index(&[]);
    assert!(
        again.contains("delta crawl") && again.contains("0 files sent"),
        "an unchanged tree sends nothing again: {again}"
    );

    let (ok, out, err) = spectra(
        &["usage", "--group-by", "backend", "--format", "json"],
        &server.url,
        &admin,
    );
    assert!(ok, "{err}");
    let rows: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(rows[0]["name"], "proj", "{rows}");
    assert_eq!(rows[0]["files"], 5);
    assert_eq!(rows[0]["size_bytes"], total);

    let (ok, out, err) = spectra(
        &["stale", "--days", "90", "--format", "csv"],
        &server.url,
        &admin,
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "size,owner,last_used,decided_by,backend,path");
    let listed: Vec<(u64, String)> = lines[1..]
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields[3], "atime", "{line}");
            (fields[0].parse().expect("size"), fields[5].to_owned())
        })
        .collect();
    let expected: Vec<(u64, String)> = stale
        .iter()
        .map(|(size, path)| (*size, path.display().to_string()))
        .collect();
    assert_eq!(
        listed, expected,
        "exactly the files older than 90 days, largest first"
    );

    let (ok, out, _) = spectra(
        &[
            "stale",
            "--days",
            "90",
            "--min-size",
            "40KB",
            "--format",
            "json",
        ],
        &server.url,
        &admin,
    );
    assert!(ok);
    let big: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        big.as_array().map(Vec::len),
        Some(stale.iter().filter(|(s, _)| *s >= 40_000).count())
    );

    // Teams: the owner of everything joins a team; usage by team follows.
    let owner = big[0]["owner"].as_str().expect("an owner").to_owned();
    let (ok, _, err) = spectra(&["team", "set", &owner, "vision"], &server.url, &admin);
    assert!(ok, "{err}");
    let (ok, out, err) = spectra(&["usage", "--group-by", "team"], &server.url, &admin);
    assert!(ok, "{err}");
    assert!(out.starts_with("NAME"), "a table: {out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("vision") && l.contains(" 5 ")),
        "{out}"
    );

    // Quotas: a team's soft limit crossed is a warning, marked in the answers.
    let (ok, out, err) = spectra(
        &[
            "quota", "set", "--team", "vision", "--soft", "1", "--hard", "1TB", "--format", "json",
        ],
        &server.url,
        &admin,
    );
    assert!(ok, "{err}");
    let set: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(set[0]["level"], "soft", "{set}");
    assert_eq!(set[0]["hard_bytes"], 1_000_000_000_000u64);
    let (ok, out, _) = spectra(&["quota", "list", "--format", "csv"], &server.url, &admin);
    assert!(ok);
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("team:vision,,")),
        "{out}"
    );
    let (ok, out, err) = spectra(&["status", "--format", "json"], &server.url, &admin);
    assert!(ok, "{err}");
    let status: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(status["server"]["status"], "ready", "{status}");
    assert_eq!(status["agents"]["total"], 1);
    assert_eq!(status["agents"]["online"], 1);
    assert_eq!(status["backends"][0]["files"], 5);
    assert_eq!(status["quotas_over"][0]["subject"], "team:vision");
    let (ok, out, err) = spectra(&["status"], &server.url, &admin);
    assert!(
        ok && out.contains("1 online") && out.contains("quotas over a limit: 1"),
        "{out}{err}"
    );
    let (ok, out, err) = spectra(
        &[
            "growth",
            "--backend",
            "proj",
            "--period",
            "7d",
            "--format",
            "json",
        ],
        &server.url,
        &admin,
    );
    assert!(ok, "{err}");
    let points: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(points[0]["files"], 5, "{points}");
    let (ok, _, err) = spectra(
        &["quota", "delete", "--team", "vision"],
        &server.url,
        &admin,
    );
    assert!(ok, "{err}");
    let (ok, _, err) = spectra(&["quota", "set", "--soft", "1GB"], &server.url, &admin);
    assert!(!ok && err.contains("--team"), "{err}");

    // Bad input and a missing token are clear errors, exit status 2 or 1.
    let (ok, _, err) = spectra(&["stale", "--min-size", "lots"], &server.url, &admin);
    assert!(!ok && err.contains("lots"), "{err}");
    let (ok, _, err) = spectra(&["usage"], &server.url, "wrong-token");
    assert!(!ok && err.contains("401"), "{err}");
}
