//! `spectra user …` against a real `spectra serve`, and signing in over HTTP as the users it
//! made: passwords piped on standard input, roles, disabling, deleting, the setup link.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{ServerProcess, cli_token};

fn user(
    server: &ServerProcess,
    token: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .arg("user")
        .args(args)
        .args(["--server", &server.url])
        .env("SPECTRA_TOKEN", token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spectra user");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sign_in(server: &ServerProcess, name: &str, password: &str) -> u16 {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        common::http_client(None)
            .post(format!("{}/api/v1/session", server.url))
            .json(&serde_json::json!({"user": name, "password": password}))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    })
}

#[test]
fn users_made_by_the_cli_sign_in_until_changed_disabled_or_deleted() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(&["--db", &db], &[], dir.path());
    let link = server
        .setup_link()
        .expect("no user yet: a setup link is printed");
    assert!(
        link.starts_with(&format!("{}/setup#", server.url)),
        "{link}"
    );
    let secret = link.rsplit('#').next().expect("fragment");
    assert!(secret.len() >= 32, "{link}");

    let (ok, _, err) = user(
        &server,
        &admin,
        &["add", "alice", "--role", "operator"],
        Some("short\n"),
    );
    assert!(!ok);
    assert!(err.contains("password: at least 10 characters"), "{err}");
    let (ok, _, err) = user(
        &server,
        &admin,
        &["add", "alice", "--role", "operator"],
        None,
    );
    assert!(!ok);
    assert!(err.contains("no password on standard input"), "{err}");
    let (ok, _, err) = user(
        &server,
        &admin,
        &["add", "alice", "--role", "operator"],
        Some("alice's long password\n"),
    );
    assert!(ok, "{err}");
    let viewer = cli_token(&db, "viewer");
    let (ok, _, err) = user(
        &server,
        &viewer,
        &["add", "mallory", "--role", "admin"],
        Some("mallory password\n"),
    );
    assert!(!ok, "a viewer's token cannot add users");
    assert!(err.contains("role admin"), "{err}");

    let (ok, listed, err) = user(&server, &admin, &["list", "--format", "json"], None);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let rows = listed.as_array().expect("array");
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["name"], "alice");
    assert_eq!(rows[0]["role"], "operator");
    assert!(rows[0].get("password_hash").is_none());

    assert_eq!(sign_in(&server, "alice", "alice's long password"), 200);
    assert_eq!(sign_in(&server, "alice", "wrong password!"), 401);

    let (ok, _, err) = user(
        &server,
        &admin,
        &["passwd", "alice"],
        Some("a brand new password\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(sign_in(&server, "alice", "alice's long password"), 401);
    assert_eq!(sign_in(&server, "alice", "a brand new password"), 200);

    let (ok, _, err) = user(&server, &admin, &["role", "alice", "admin"], None);
    assert!(ok, "{err}");
    let (_, table, _) = user(&server, &admin, &["list"], None);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("alice") && l.contains("admin")),
        "{table}"
    );

    let (ok, _, err) = user(&server, &admin, &["disable", "alice"], None);
    assert!(!ok, "the last admin user stays enabled");
    assert!(err.contains("last enabled admin"), "{err}");
    let (ok, _, err) = user(&server, &admin, &["role", "alice", "viewer"], None);
    assert!(!ok, "nor is demoted");
    assert!(err.contains("last enabled admin"), "{err}");
    let (ok, _, err) = user(
        &server,
        &admin,
        &["add", "root", "--role", "admin"],
        Some("root's own password\n"),
    );
    assert!(ok, "{err}");
    let (ok, _, err) = user(&server, &admin, &["role", "alice", "viewer"], None);
    assert!(ok, "{err}");
    let (ok, _, err) = user(&server, &admin, &["disable", "alice"], None);
    assert!(ok, "{err}");
    assert_eq!(sign_in(&server, "alice", "a brand new password"), 401);
    let (ok, _, err) = user(&server, &admin, &["enable", "alice"], None);
    assert!(ok, "{err}");
    assert_eq!(sign_in(&server, "alice", "a brand new password"), 200);

    // Users exist now: the printed link no longer makes an admin.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let setup = runtime.block_on(async {
        common::http_client(None)
            .post(format!("{}/api/v1/setup", server.url))
            .json(
                &serde_json::json!({"token": secret, "user": "late", "password": "late but long"}),
            )
            .send()
            .await
            .expect("request")
            .status()
            .as_u16()
    });
    assert_eq!(setup, 409);

    let (ok, _, err) = user(&server, &admin, &["delete", "alice"], None);
    assert!(ok, "{err}");
    assert_eq!(sign_in(&server, "alice", "a brand new password"), 401);
    let (ok, _, err) = user(&server, &admin, &["delete", "alice"], None);
    assert!(!ok);
    assert!(err.contains("no user \"alice\""), "{err}");
}
