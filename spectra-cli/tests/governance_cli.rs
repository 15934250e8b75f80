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

/// `spectra ARGS` against `server` with `token`, as a user's shell would run it.
fn run(args: &[&str], server: &str, token: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(args)
        .env("SPECTRA_SERVER", server)
        .env("SPECTRA_TOKEN", token)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .expect("run spectra")
}

fn spectra(args: &[&str], server: &str, token: &str) -> (bool, String, String) {
    let out = run(args, server, token);
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

    // The server no longer holds the crawl the agent's baseline is against (a restored
    // database): the delta is refused (409) and the agent crawls again in full by itself.
    restore_older_crawl(&db, "proj");
    let (_, resynced) = index(&[]);
    assert!(
        resynced.contains("full crawl") && resynced.contains("5 files sent"),
        "a resync is a full crawl: {resynced}"
    );
    let (_, after) = index(&[]);
    assert!(
        after.contains("delta crawl") && after.contains("0 files sent"),
        "and the next one a delta again: {after}"
    );
    // The backend's record lost while its rows remain (a hand-edited database): the delta is
    // refused, the full crawl counts what the index already held, and deltas follow again.
    forget_backend(&db, "proj");
    let (_, recreated) = index(&[]);
    assert!(
        recreated.contains("full crawl") && recreated.contains("the server holds 5 files"),
        "{recreated}"
    );
    assert!(!recreated.contains("counted otherwise"), "{recreated}");
    let (_, after) = index(&[]);
    assert!(after.contains("delta crawl"), "{after}");

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
    // A table shows a limit as it was given (decimal stays decimal), a usage measured.
    let (ok, out, err) = spectra(&["quota", "list"], &server.url, &admin);
    assert!(ok, "{err}");
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(row.contains("1 TB") && row.contains("1 B"), "{out}");
    assert!(
        !row.contains("TiB") && !row.contains("1000000000000"),
        "{out}"
    );
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
    assert_eq!(status["backends_total"], 1);
    assert_eq!(status["quotas_over"][0]["subject"], "team:vision");
    assert_eq!(status["quotas_over_total"], 1);
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

    // Bad input and a refused token are clear errors with exit status 2 (a usage error; a
    // failure that is no core error), as the README's table says.
    for (args, token, words) in [
        (&["stale", "--min-size", "lots"][..], admin.as_str(), "lots"),
        (&["usage"][..], "wrong-token", "401"),
    ] {
        let out = run(args, &server.url, token);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
}

/// Waits up to a minute for `done`, polling `what` on the server as the admin.
/// Makes the server's record of `backend` name an older crawl than the agent's baseline, as
/// restoring an older backup of its database does (the server keeps running).
fn restore_older_crawl(db: &str, backend: &str) {
    let older = uuid::Uuid::new_v4().to_string();
    on_the_database(
        db,
        "UPDATE backends SET applied_crawl = ? WHERE name = ?",
        &[&older, backend],
    );
}

/// Runs `sql` with `binds` on the server's SQLite database while the server runs; it must
/// change one row.
fn on_the_database(db: &str, sql: &str, binds: &[&str]) {
    use sqlx::Connection;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{db}"))
            .await
            .expect("open the server's database");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for bind in binds {
            query = query.bind(*bind);
        }
        let done = query.execute(&mut conn).await.expect("statement");
        assert_eq!(done.rows_affected(), 1, "{sql}");
    });
}

/// Deletes `backend`'s record from the server's SQLite database behind its back; its index
/// rows stay.
fn forget_backend(db: &str, backend: &str) {
    on_the_database(db, "DELETE FROM backends WHERE name = ?", &[backend]);
}

fn poll(server: &str, admin: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = common::http_client(None);
    loop {
        let body: Value = runtime.block_on(async {
            match client
                .get(format!("{server}{path}"))
                .bearer_auth(admin)
                .send()
                .await
            {
                Ok(reply) => reply.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            }
        });
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never got there: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The ground truth: trees with known owners and access times, indexed by a real agent on
/// its schedule, and a known access stream replayed through core's recorder into the agent's
/// socket: usage by user, team and backend and the stale files are exactly what was made.
#[test]
fn usage_and_stale_files_are_exact_through_a_real_agent_and_the_recorder() {
    use spectra_core::protocol::{AccessEvent, AccessOp};
    use spectra_core::telemetry::{AgentSink, Recorder, RecorderOptions};
    use std::os::unix::fs::MetadataExt;

    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let root_user = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let owners: Vec<Option<u32>> = if root_user {
        vec![None, Some(4_100_001), Some(4_100_002)]
    } else {
        vec![None]
    };
    let tree = dir.path().join("lab");
    // (path, owner key, disk bytes, days since last access)
    let mut made: Vec<(std::path::PathBuf, String, u64, u64)> = Vec::new();
    for i in 0..30usize {
        let path = tree.join(format!("g{}/s{}/f{i}.dat", i % 4, i % 3));
        let days = [3u64, 100, 400][i % 3];
        aged(&path, 1000 + 517 * i, days);
        if let Some(uid) = owners[i % owners.len()] {
            std::os::unix::fs::chown(&path, Some(uid), None).expect("chown");
        }
        let meta = std::fs::metadata(&path).expect("stat");
        let owner = if meta.uid() == 0 {
            "root".to_owned()
        } else {
            meta.uid().to_string()
        };
        made.push((path, owner, meta.blocks() * 512, days));
    }
    let state = dir.path().join("agent-state");
    let off: String = spectra_core::collect::names()
        .into_iter()
        .map(|n| format!("{n} = 'off'\n"))
        .collect();
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "heartbeat = '1s'\n[[scan]]\nroot = '{}'\nevery = '1h'\nindex = true\nbackend = 'lab'\n\
             [collectors]\n{off}",
            tree.display()
        ),
    )
    .expect("config");
    let log = dir.path().join("agent.log");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["agent", "--server", &server.url, "--enroll-token", ENROLL])
        .arg("--state-dir")
        .arg(&state)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spectra agent");

    poll(&server.url, &admin, "/api/v1/backends", |body| {
        body["items"][0]["files"] == 30
    });
    // A known access stream: every third stale file is read now, through the recorder.
    let socket = state.join("telemetry.sock");
    let read: Vec<&std::path::PathBuf> = made
        .iter()
        .filter(|(_, _, _, days)| *days > 90)
        .step_by(3)
        .map(|(path, ..)| path)
        .collect();
    let recorder = Recorder::new(
        Box::new(AgentSink::connect(&socket).expect("the agent's socket")),
        RecorderOptions::default(),
    )
    .expect("recorder");
    for path in &read {
        assert!(
            recorder.record(
                AccessEvent::new(AccessOp::Read, path.as_path())
                    .with_uid(0)
                    .with_bytes(100)
            )
        );
    }
    let stats = recorder.close().expect("close");
    assert_eq!(stats.written, read.len() as u64);
    let expected_stale: std::collections::BTreeSet<String> = made
        .iter()
        .filter(|(path, _, _, days)| *days > 90 && !read.contains(&path))
        .map(|(path, ..)| path.display().to_string())
        .collect();
    let stale = poll(
        &server.url,
        &admin,
        "/api/v1/stale?days=90&limit=1000",
        |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| items.len() == expected_stale.len())
        },
    );
    let listed: std::collections::BTreeSet<String> = stale["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["path"].as_str().expect("path").to_owned())
        .collect();
    assert_eq!(listed, expected_stale, "exactly the stale files, 100 %");
    let sizes: Vec<u64> = stale["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["size"].as_u64().expect("size"))
        .collect();
    assert!(
        sizes.windows(2).all(|w| w[0] >= w[1]),
        "largest first: {sizes:?}"
    );
    let fresh = poll(
        &server.url,
        &admin,
        "/api/v1/stale?days=0&limit=1000",
        |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| items.len() == 30)
        },
    );
    let by_telemetry = fresh["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|item| item["decided_by"] == "telemetry")
        .count();
    assert_eq!(
        by_telemetry,
        read.len(),
        "telemetry decides where there is any"
    );

    // Usage by user, backend and team, exactly.
    let mut truth: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for (_, owner, disk, _) in &made {
        let row = truth.entry(owner.clone()).or_default();
        row.0 += 1;
        row.1 += disk;
    }
    let (ok, out, err) = spectra(&["usage", "--format", "json"], &server.url, &admin);
    assert!(ok, "{err}");
    let rows: Value = serde_json::from_str(&out).expect("json");
    let users: std::collections::BTreeMap<String, (u64, u64)> = rows
        .as_array()
        .expect("rows")
        .iter()
        .filter(|row| row["files"].as_u64() > Some(0))
        .map(|row| {
            (
                row["name"].as_str().expect("name").to_owned(),
                (
                    row["files"].as_u64().expect("files"),
                    row["disk_bytes"].as_u64().expect("disk"),
                ),
            )
        })
        .collect();
    assert_eq!(users, truth);
    let first = truth.keys().next().expect("an owner").clone();
    assert!(spectra(&["team", "set", &first, "ml"], &server.url, &admin).0);
    let (_, out, _) = spectra(
        &["usage", "--group-by", "team", "--format", "json"],
        &server.url,
        &admin,
    );
    let teams: Value = serde_json::from_str(&out).expect("json");
    let ml = teams
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["name"] == "ml")
        .expect("team ml");
    assert_eq!(ml["disk_bytes"], truth[&first].1);
    let (_, out, _) = spectra(
        &["usage", "--group-by", "backend", "--format", "json"],
        &server.url,
        &admin,
    );
    let backends: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(backends[0]["files"], 30);
    assert_eq!(
        backends[0]["disk_bytes"],
        truth.values().map(|(_, disk)| disk).sum::<u64>()
    );
    let root_reads = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row["name"] == "root")
        .expect("root read through the recorder");
    assert!(root_reads["last_access"].is_string(), "{root_reads}");

    let _ = agent.kill();
    let _ = agent.wait();
}
