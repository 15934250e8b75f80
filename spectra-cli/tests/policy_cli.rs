//! `spectra policy` as a user runs it.

mod common;

use common::spectra;
use std::fs;

#[test]
fn check_accepts_the_seed_policy_and_points_at_bad_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("logs.json");
    fs::write(&good, r#"{"name": "Cleanup Old Logs", "rules": ["extension == 'log'", "days_since_modified > 90"], "action": "DELETE"}"#)
        .expect("write");
    let out = spectra(&["policy", "check", good.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 rule(s)"));

    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        "name = 'big'\nrules = ['size > 90d']\naction = 'report'\n",
    )
    .expect("write");
    let out = spectra(&["policy", "check", bad.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policy 'big', rule 1: column 8: size is a size, not a duration"),
        "{stderr}"
    );
    assert!(stderr.contains("\n  size > 90d\n         ^"), "{stderr}");

    // Hostile rules are errors with a position, not a stack overflow (exit 134) or a panic
    // inside globset (exit 101).
    let mut braces = "b".to_owned();
    for _ in 0..200 {
        braces = format!("{{a,{braces}}}");
    }
    for rule in [
        format!("{}size > 1{}", "(".repeat(2000), ")".repeat(2000)),
        "! ".repeat(10_000) + "size > 1",
        format!("name matches '{braces}'"),
    ] {
        let hostile = dir.path().join("hostile.json");
        let policy = serde_json::json!({"name": "h", "rules": [rule], "action": "report"});
        fs::write(&hostile, policy.to_string()).expect("write");
        let out = spectra(&["policy", "check", hostile.to_str().expect("utf-8")]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("rule 1: column"),
            "{}",
            &stderr[..300.min(stderr.len())]
        );
    }
}

#[test]
fn explain_shows_each_rule_and_the_values_seen() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("app.log");
    fs::write(&file, vec![b'x'; 2048]).expect("write");
    let policy = dir.path().join("p.json");
    fs::write(&policy, r#"{"name": "p", "rules": ["extension == 'log'", "size > 1KiB", "days_since_modified > 90"], "action": "report"}"#)
        .expect("write");
    let out = spectra(&[
        "policy",
        "explain",
        file.to_str().expect("utf-8"),
        "--policy",
        policy.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1), "a new file is not selected");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("size=2048"), "{text}");
    assert!(text.contains("match     extension == 'log'"), "{text}");
    assert!(text.contains("match     size > 1KiB"), "{text}");
    assert!(
        text.contains("no match  days_since_modified > 90"),
        "{text}"
    );
    assert!(text.contains("not selected"), "{text}");
}

#[test]
fn plan_lists_matches_saves_the_plan_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).expect("mkdir");
    fs::write(tree.join("big.log"), vec![b'x'; 5000]).expect("write");
    fs::write(tree.join("small.log"), b"x").expect("write");
    let policy = dir.path().join("p.json");
    fs::write(&policy, r#"{"name": "big logs", "rules": ["extension == 'log'", "size > 1KB"], "action": "delete"}"#).expect("write");
    let saved = dir.path().join("plan.json");
    let out = spectra(&[
        "policy",
        "plan",
        tree.to_str().expect("utf-8"),
        "--policy",
        policy.to_str().expect("utf-8"),
        "--out",
        saved.to_str().expect("utf-8"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("big.log") && !text.contains("small.log"),
        "{text}"
    );
    assert!(
        text.contains("policy 'big logs' would delete 1 files"),
        "{text}"
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&fs::read(&saved).expect("saved plan")).expect("JSON");
    assert_eq!(plan["files"].as_array().map(Vec::len), Some(1));
    assert!(text.contains(plan["id"].as_str().expect("id")));
    assert!(tree.join("big.log").exists(), "a dry run deletes nothing");
}

/// `spectra ARGS`, which must succeed, and its JSON answer.
fn json_of(args: &[&str]) -> serde_json::Value {
    let out = spectra(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn enforce_needs_the_switch_then_quarantines_and_restore_undoes_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("state");
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).expect("mkdir");
    fs::write(tree.join("big.log"), vec![b'x'; 5000]).expect("write");
    fs::write(tree.join("other.txt"), vec![b'y'; 50_000]).expect("write");
    let policy = dir.path().join("p.json");
    fs::write(&policy, r#"{"name": "big logs", "rules": ["extension == 'log'", "size > 1KB"], "action": "delete"}"#).expect("write");
    let saved = dir.path().join("plan.json");
    let state_arg = state.to_str().expect("utf-8");
    let plan = spectra(&[
        "policy",
        "plan",
        tree.to_str().expect("utf-8"),
        "--policy",
        policy.to_str().expect("utf-8"),
        "--out",
        saved.to_str().expect("utf-8"),
        "--state-dir",
        state_arg,
    ]);
    assert!(
        plan.status.success(),
        "{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    let id = serde_json::from_slice::<serde_json::Value>(&fs::read(&saved).expect("plan"))
        .expect("JSON")["id"]
        .as_str()
        .expect("id")
        .to_string();

    let dry = spectra(&["policy", "enforce", &id, "--state-dir", state_arg]);
    assert_eq!(dry.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dry.stderr).contains("refusing to act without --enforce"));
    assert!(tree.join("big.log").exists());

    // Without $USER (a service, a container) the audit log still says who acted.
    let act = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args([
            "policy",
            "enforce",
            &id,
            "--enforce",
            "--state-dir",
            state_arg,
        ])
        .env_remove("USER")
        .env_remove("SUDO_USER")
        .output()
        .expect("run spectra");
    assert!(
        act.status.success(),
        "{}{}",
        String::from_utf8_lossy(&act.stdout),
        String::from_utf8_lossy(&act.stderr)
    );
    assert!(!tree.join("big.log").exists());
    assert!(tree.join("other.txt").exists());

    let verify = spectra(&["policy", "audit", "--verify", "--state-dir", state_arg]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("1 records, chain intact"));
    let uid = String::from_utf8(
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .expect("id -u")
            .stdout,
    )
    .expect("utf-8");
    let audit = fs::read_to_string(state.join("audit.jsonl")).expect("audit log");
    let record: serde_json::Value =
        serde_json::from_str(audit.lines().next().expect("a record")).expect("JSON");
    let who = record["event"]["who"].as_str().expect("who");
    assert!(
        who.ends_with(&format!("(uid {})", uid.trim())) && !who.starts_with('?'),
        "the invoking user by uid and name: {who}"
    );

    let plans = json_of(&[
        "policy",
        "plans",
        "--format",
        "json",
        "--state-dir",
        state_arg,
    ]);
    assert_eq!(plans["plans"].as_array().map(Vec::len), Some(1), "{plans}");
    assert_eq!(plans["plans"][0]["id"], id.as_str());
    assert_eq!(plans["plans"][0]["policy"], "big logs");
    assert_eq!(plans["plans"][0]["files"], 1);
    assert_eq!(plans["plans"][0]["total_bytes"], 5000);
    let table = spectra(&["policy", "plans", "--state-dir", state_arg]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains(&id) && table.contains("delete") && table.contains("4.9 KiB"),
        "{table}"
    );

    // By default, under the roots of the saved plans.
    let held = json_of(&[
        "policy",
        "quarantine",
        "list",
        "--format",
        "json",
        "--state-dir",
        state_arg,
    ]);
    assert_eq!(held.as_array().map(Vec::len), Some(1), "{held}");
    assert_eq!(held[0]["plan_id"], id.as_str());
    assert_eq!(
        (held[0]["files"].as_u64(), held[0]["bytes"].as_u64()),
        (Some(1), Some(5000))
    );
    assert!(held[0]["problem"].is_null(), "{held}");

    let undo = spectra(&["policy", "restore", &id, "--state-dir", state_arg]);
    assert!(
        undo.status.success(),
        "{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    assert_eq!(
        fs::read(tree.join("big.log")).expect("restored"),
        vec![b'x'; 5000]
    );
    assert!(
        !tree.join(".spectra-quarantine").exists(),
        "a restored quarantine leaves nothing behind"
    );
    let held = spectra(&[
        "policy",
        "quarantine",
        "list",
        tree.to_str().expect("utf-8"),
        "--state-dir",
        state_arg,
    ]);
    assert_eq!(String::from_utf8_lossy(&held.stdout), "no quarantines\n");

    // Quarantined again (the file is the one planned), then purged for good.
    let again = spectra(&[
        "policy",
        "enforce",
        &id,
        "--enforce",
        "--state-dir",
        state_arg,
    ]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(!tree.join("big.log").exists());

    let purge = spectra(&[
        "policy",
        "purge",
        tree.to_str().expect("utf-8"),
        "--older-than",
        "0s",
        "--state-dir",
        state_arg,
    ]);
    assert!(
        String::from_utf8_lossy(&purge.stdout).contains("1 quarantines purged"),
        "{}",
        String::from_utf8_lossy(&purge.stderr)
    );
    assert!(!tree.join(".spectra-quarantine").join(&id).exists());
    let bad_age = spectra(&[
        "policy",
        "purge",
        tree.to_str().expect("utf-8"),
        "--older-than",
        "soon",
        "--state-dir",
        state_arg,
    ]);
    assert_eq!(bad_age.status.code(), Some(2));

    // Reading the log checks it: an edited record is an error, not a quiet print.
    let intact = spectra(&["policy", "audit", "--state-dir", state_arg]);
    assert!(intact.status.success());
    assert!(String::from_utf8_lossy(&intact.stderr).contains("chain intact"));
    let log = state.join("audit.jsonl");
    let edited = fs::read_to_string(&log)
        .expect("log")
        .replacen("big.log", "BIG.log", 1);
    fs::write(&log, edited).expect("edit");
    let tampered = spectra(&["policy", "audit", "--state-dir", state_arg]);
    assert_eq!(tampered.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&tampered.stderr).contains("its contents were changed"),
        "{}",
        String::from_utf8_lossy(&tampered.stderr)
    );
    assert!(tampered.stdout.is_empty(), "nothing is shown as if intact");

    let bogus = spectra(&[
        "policy",
        "enforce",
        "../../etc/passwd",
        "--enforce",
        "--state-dir",
        state_arg,
    ]);
    assert_eq!(bogus.status.code(), Some(2));
}
