//! `spectra scan` as a user runs it: a real process, its output and its exit status.

mod common;

use common::spectra;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    fs::create_dir_all(dir.path().join("logs/old")).expect("mkdir");
    fs::write(dir.path().join("logs/app.log"), vec![b'a'; 5000]).expect("write");
    fs::write(dir.path().join("logs/old/app.1.log"), vec![b'b'; 20_000]).expect("write");
    fs::write(dir.path().join("notes, draft.txt"), b"hello").expect("write");
    dir
}

fn du_apparent(path: &Path) -> u64 {
    let out = Command::new("du")
        .arg("-sb")
        .arg(path)
        .output()
        .expect("du");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("field")
        .parse()
        .expect("number")
}

#[test]
fn an_error_names_its_cause_once() {
    let out = spectra(&["scan", "/nonexistent-spectra-path"]);
    assert_eq!(out.status.code(), Some(3), "not_found");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("/nonexistent-spectra-path"), "{stderr}");
}

#[test]
fn json_output_is_the_report_and_agrees_with_du() {
    let dir = tree();
    let root = dir.path().to_str().expect("utf-8 temp path");
    let out = spectra(&[
        "scan",
        root,
        "--format",
        "json",
        "--apparent-size",
        "--top",
        "2",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(report["totals"]["files"], 3);
    assert_eq!(
        report["totals"]["apparent_bytes"].as_u64(),
        Some(du_apparent(dir.path()))
    );
    assert_eq!(report["size_mode"], "apparent");
    let largest = report["largest_files"].as_array().expect("array");
    assert_eq!(largest.len(), 2);
    assert!(
        largest[0]["path"]
            .as_str()
            .expect("path")
            .ends_with("logs/old/app.1.log")
    );
    assert_eq!(report["partial"], false);
    assert!(
        out.stderr.is_empty(),
        "no progress bar when stderr is not a terminal"
    );
}

#[test]
fn table_and_csv_formats_read_as_documented() {
    let dir = tree();
    let root = dir.path().to_str().expect("utf-8 temp path");
    let table = spectra(&["scan", root]);
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).expect("utf-8");
    for heading in [
        "Scanned ",
        "Largest files (disk):",
        "Largest directories (disk):",
        "Extensions:",
        "Owners:",
    ] {
        assert!(text.contains(heading), "missing {heading:?} in:\n{text}");
    }
    assert!(text.contains("3 files"), "{text}");

    let csv = spectra(&["scan", root, "--format", "csv", "--apparent-size"]);
    assert!(csv.status.success());
    let text = String::from_utf8(csv.stdout).expect("utf-8");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("section,name,count,bytes"));
    assert!(text.contains("extension,log,2,25000\n"), "{text}");
    assert!(
        text.contains(&format!("largest_file,\"{root}/notes, draft.txt\",1,5\n")),
        "{text}"
    );
}

#[test]
fn failures_exit_by_their_error_code_naming_the_problem() {
    // `not_found` is 3 (the README's table); usage errors are 2.
    let missing = spectra(&["scan", "/no/such/dir"]);
    assert_eq!(missing.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("/no/such/dir") && stderr.lines().count() == 1,
        "{stderr}"
    );

    let bad_glob = spectra(&["scan", "/tmp", "--exclude", "x["]);
    assert_eq!(bad_glob.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_glob.stderr).contains("x["));

    let zero_threads = spectra(&["scan", "/tmp", "--threads", "0"]);
    assert_eq!(zero_threads.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&zero_threads.stderr).contains("threads"));

    let no_path = spectra(&["scan"]);
    assert_eq!(no_path.status.code(), Some(2));
    let bad_format = spectra(&["scan", "/tmp", "--format", "xml"]);
    assert_eq!(bad_format.status.code(), Some(2));
}

#[test]
fn unreadable_entries_exit_1_with_the_report_still_printed() {
    let dir = tree();
    let locked = dir.path().join("locked");
    fs::create_dir(&locked).expect("mkdir");
    fs::write(locked.join("secret"), b"x").expect("write");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    // Root reads everything; run the scan as nobody so the directory really is unreadable.
    let staging = tempfile::tempdir().expect("temp dir");
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let exe = staging.path().join("spectra");
    fs::copy(env!("CARGO_BIN_EXE_spectra"), &exe).expect("copy binary");
    let is_root = fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut command = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = command
        .args(["scan", "--format", "json"])
        .arg(dir.path())
        .output()
        .expect("run");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the report is printed");
    assert_eq!(report["partial"], true);
    assert_eq!(report["errors"]["count"], 1);
    assert_eq!(report["errors"]["sample"][0]["code"], "permission_denied");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("locked"),
        "the warning names the path: {stderr}"
    );
}

#[test]
fn the_seed_one_liner_plans_and_with_enforce_quarantines() {
    let dir = tree();
    let state = tempfile::tempdir().expect("state");
    let policy = state.path().join("p.json");
    fs::write(
        &policy,
        r#"{"name": "logs", "rules": ["extension == 'log'", "size > 10KB"], "action": "DELETE", "limits": {"max_fraction": 1.0}}"#,
    )
    .expect("write");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args([
                "scan",
                dir.path().to_str().expect("utf-8"),
                "--analyze",
                "--policy",
                policy.to_str().expect("utf-8"),
            ])
            .args(extra)
            .env("SPECTRA_STATE_DIR", state.path())
            .output()
            .expect("run")
    };
    let dry = run(&["--format", "json"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&dry.stdout).expect("stdout is still the report");
    assert_eq!(report["totals"]["files"], 3);
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(stderr.contains("(policy 'logs'): 1 files"), "{stderr}");
    assert!(
        dir.path().join("logs/old/app.1.log").exists(),
        "analyze alone changes nothing"
    );

    let act = run(&["--enforce"]);
    assert!(
        act.status.success(),
        "{}",
        String::from_utf8_lossy(&act.stderr)
    );
    assert!(String::from_utf8_lossy(&act.stderr).contains("1 quarantined, 0 skipped"));
    assert!(!dir.path().join("logs/old/app.1.log").exists());
    assert!(
        dir.path().join("logs/app.log").exists(),
        "the small log is not selected"
    );
}

fn spectra_with_backend(backend: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(args)
        .env("SPECTRA_BACKEND", backend)
        .output()
        .expect("run spectra")
}

/// `SPECTRA_BACKEND` picks the walker and the collectors for the whole process; the report
/// says which ran, both agree on the facts, and a name core does not know is a usage error.
#[test]
fn the_backend_is_chosen_from_the_environment_and_reported() {
    let dir = tree();
    let root = dir.path().to_str().expect("utf-8 temp path");
    let report = |backend: &str| -> serde_json::Value {
        let out = spectra_with_backend(backend, &["scan", root, "--format", "json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("valid JSON")
    };
    let native = report("native");
    let portable = report("portable");
    assert_eq!(native["backend"], "native");
    assert_eq!(portable["backend"], "portable");
    assert_eq!(portable["totals"], native["totals"]);
    assert_eq!(portable["owners"], native["owners"]);
    assert_eq!(portable["largest_files"], native["largest_files"]);

    let table = spectra_with_backend("portable", &["scan", root]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("(portable backend)"));

    let listed = spectra_with_backend("portable", &["collect", "--list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("json");
    for capability in list.as_array().expect("array") {
        assert_eq!(capability["backend"], "portable", "{capability}");
    }

    let sampled = spectra_with_backend("portable", &["collect", "memory", "--format", "json"]);
    let samples: serde_json::Value = serde_json::from_slice(&sampled.stdout).expect("json");
    assert_eq!(samples[0]["type"], "memory");
    assert_eq!(samples[0]["backend"], "portable");
    assert!(samples[0]["data"]["total"].as_u64().expect("total") > 0);

    let bad = spectra_with_backend("turbo", &["scan", root]);
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("SPECTRA_BACKEND") && stderr.contains("turbo"),
        "{stderr}"
    );
}

/// The scan every frontend's test makes with every setting set (spectra-core's
/// `tests/data/every_scan_setting.json`).
fn every_setting() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spectra-core/tests/data/every_scan_setting.json"
    );
    serde_json::from_str(&fs::read_to_string(path).expect("read")).expect("JSON")
}

/// The tree of spectra-core's `tests/data/every_scan_setting_tree.sh`, under `root`.
fn build_tree(root: &Path) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spectra-core/tests/data/every_scan_setting_tree.sh"
    );
    let status = Command::new("sh")
        .arg(script)
        .arg(root)
        .status()
        .expect("sh");
    assert!(status.success(), "{script}: {status}");
}

#[test]
fn every_setting_gives_the_same_scan_from_the_flags_as_from_core_settings() {
    use spectra_core::scan::{ScanControl, ScanSettings, Scanner};

    let every = every_setting();
    let mut named: Vec<String> = every["settings"]
        .as_object()
        .expect("settings")
        .keys()
        .cloned()
        .collect();
    let mut known = ScanSettings::names();
    named.sort();
    known.sort();
    assert_eq!(named, known, "the shared settings set every one core has");

    let dir = tempfile::tempdir().expect("tmp");
    build_tree(dir.path());
    let root = dir.path().to_str().expect("utf-8");
    let mut args = vec!["scan", root, "--format", "json"];
    let flags: Vec<&str> = every["cli"]
        .as_array()
        .expect("cli")
        .iter()
        .map(|flag| flag.as_str().expect("flag"))
        .collect();
    args.extend(flags);
    let out = spectra(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut from_cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");

    let settings = ScanSettings::from_value(every["settings"].clone()).expect("settings");
    let report = Scanner::new(settings.options(vec![dir.path().to_path_buf()]))
        .expect("options")
        .scan_controlled(ScanControl::new())
        .expect("scan");
    let mut from_core = serde_json::to_value(&report).expect("JSON");
    for key in every["volatile"].as_array().expect("volatile") {
        let key = key.as_str().expect("key");
        from_cli.as_object_mut().expect("object").remove(key);
        from_core.as_object_mut().expect("object").remove(key);
    }
    assert_eq!(from_cli, from_core);
    // The settings took effect: depth, exclusion, links and the walker are visible.
    assert_eq!(from_cli["totals"]["files"], 3, "{from_cli}");
    assert_eq!(from_cli["backend"], "portable");
    assert_eq!(from_cli["size_mode"], "apparent");
    assert_eq!(from_cli["largest_files"].as_array().map(Vec::len), Some(3));
}
