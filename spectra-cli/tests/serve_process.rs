//! `spectra serve` as a real process with a real HTTP client: settings precedence, TLS,
//! graceful shutdown, durability across SIGKILL, and two replicas over one PostgreSQL.

mod common;
#[path = "../../spectra-server/tests/harness/mod.rs"]
mod harness;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};

use common::spectra;
use common::{ServerProcess, cli_token, http_client};

async fn enroll(client: &reqwest::Client, url: &str, secret: &str, host: &str) -> (String, String) {
    let reply = client
        .post(format!("{url}/api/v1/agent/register"))
        .json(
            &json!({"enrollment_token": secret, "hostname": host, "os": "linux",
                      "version": "0.1.0"}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(reply.status(), StatusCode::CREATED);
    let body: Value = reply.json().await.expect("json");
    (
        body["agent_id"].as_str().expect("id").to_owned(),
        body["agent_token"].as_str().expect("token").to_owned(),
    )
}

fn seq_batch(hostname: &str, seq: u64) -> Vec<u8> {
    let batch = MetricBatch::new(
        None,
        vec![Envelope::new("seq", hostname, json!({"seq": seq}))],
    );
    protocol::encode(&batch, Compression::Gzip).expect("encode")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_listener_serves_agents_and_admins_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("spectra.db");
    let db = db.to_str().expect("utf-8");
    let admin = cli_token(db, "admin");
    let config = dir.path().join("spectra.toml");
    std::fs::write(
        &config,
        format!("db = \"{db}\"\nenrollment_token = \"from-file\"\n"),
    )
    .expect("config");
    // The environment wins over the file; the file gives the database.
    let mut server = ServerProcess::start(
        &["--config", config.to_str().expect("utf-8")],
        &[("SPECTRA_ENROLLMENT_TOKEN", "from-env-0123456789")],
        dir.path(),
    );
    let url = server.url.clone();
    let client = http_client(None);

    let refused = client
        .post(format!("{url}/api/v1/agent/register"))
        .json(&json!({"enrollment_token": "from-file-0123456789", "hostname": "h", "os": "l", "version": "1"}))
        .send()
        .await
        .expect("register");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (id, agent) = enroll(&client, &url, "from-env-0123456789", "web-1").await;

    let reply = client
        .post(format!("{url}/api/v1/metrics"))
        .bearer_auth(&agent)
        .header("content-encoding", "gzip")
        .body(seq_batch("web-1", 1))
        .send()
        .await
        .expect("metrics");
    assert_eq!(reply.status(), StatusCode::OK);
    let reply = client
        .post(format!("{url}/api/v1/agent/heartbeat"))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("heartbeat");
    assert_eq!(reply.status(), StatusCode::OK);
    let agents: Value = client
        .get(format!("{url}/api/v1/agents"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("agents")
        .json()
        .await
        .expect("json");
    assert_eq!(agents["items"][0]["id"], id);
    assert_eq!(agents["items"][0]["status"], "online");

    // A long-poll in flight when SIGTERM arrives is answered (204), and the server exits 0.
    let poll = {
        let client = client.clone();
        let url = url.clone();
        tokio::spawn(async move {
            client
                .get(format!("{url}/api/v1/agent/command?wait=30"))
                .bearer_auth(&agent)
                .send()
                .await
                .map(|r| r.status())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let status = server.signal_and_wait("TERM", Duration::from_secs(10));
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert_eq!(
        poll.await.expect("task").expect("answered"),
        StatusCode::NO_CONTENT
    );
    // The long-poll asked to wait 30 s: shutdown answered it long before (the bound is
    // generous, so only a poll left waiting out its 30 s fails it).
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(server.log().contains("shutting down"), "{}", server.log());
    assert!(
        !server.log().contains('\u{1b}'),
        "a log written to a file has no colour codes: {}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_and_tls_with_the_given_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, certified.cert.pem()).expect("cert");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("key");
    let db = dir.path().join("spectra.db");
    let server = ServerProcess::start(
        &[
            "--db",
            db.to_str().expect("utf-8"),
            "--tls-cert",
            cert.to_str().expect("utf-8"),
            "--tls-key",
            key.to_str().expect("utf-8"),
            "--log-format",
            "json",
        ],
        &[],
        dir.path(),
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let url = server.url.replace("127.0.0.1", "localhost");
    let trusted = http_client(Some(certified.cert.der().clone()));
    let reply = trusted
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("https");
    assert_eq!(reply.status(), StatusCode::OK);
    let untrusted = http_client(None);
    assert!(
        untrusted
            .get(format!("{url}/healthz"))
            .send()
            .await
            .is_err(),
        "an unknown certificate is refused"
    );
    let plain = http_client(None);
    assert!(
        plain
            .get(url.replace("https://", "http://") + "/healthz")
            .send()
            .await
            .is_err(),
        "plain HTTP is not served on the TLS port"
    );
    let first_line = server.log().lines().next().unwrap_or_default().to_owned();
    let parsed: Value = serde_json::from_str(&first_line).expect("a JSON log line");
    assert!(parsed["fields"]["message"].is_string(), "{first_line}");

    // Half a TLS pair is a usage error.
    let out = spectra(&["serve", "--tls-cert", cert.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_batch_survives_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("spectra.db");
    let db = db.to_str().expect("utf-8").to_owned();
    let args = [
        "--db",
        db.as_str(),
        "--enrollment-token",
        "enroll-0123456789",
        "--agent-requests-per-minute",
        "100000",
    ];
    let mut server = ServerProcess::start(&args, &[], dir.path());
    let client = http_client(None);
    let (id, agent) = enroll(&client, &server.url, "enroll-0123456789", "web-1").await;

    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let mut senders = Vec::new();
    for sender in 0..4u64 {
        let (client, url, agent, acknowledged) = (
            client.clone(),
            server.url.clone(),
            agent.clone(),
            acknowledged.clone(),
        );
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let seq = sender * 1_000_000 + i;
                let reply = client
                    .post(format!("{url}/api/v1/metrics"))
                    .bearer_auth(&agent)
                    .body(seq_batch("web-1", seq))
                    .send()
                    .await;
                match reply {
                    Ok(reply) if reply.status() == StatusCode::OK => {
                        acknowledged.lock().expect("lock").insert(seq);
                    }
                    _ => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while acknowledged.lock().expect("lock").len() < 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal_and_wait("KILL", Duration::from_secs(10));
    for sender in senders {
        sender.await.expect("sender");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() >= 200,
        "{} acknowledged",
        acknowledged.len()
    );

    // Restart on the same file: it recovers, and every acknowledged batch is there.
    let restarted = ServerProcess::start(&args, &[], dir.path());
    let reply = client
        .get(format!("{}/readyz", restarted.url))
        .send()
        .await
        .expect("ready");
    assert_eq!(reply.status(), StatusCode::OK);
    drop(restarted);
    let store = spectra_server::store::open(&db).await.expect("open");
    let stored: BTreeSet<u64> = store
        .metrics_between(Some(&id), Some("seq"), 0, i64::MAX)
        .await
        .expect("rows")
        .iter()
        .map(|row| {
            serde_json::from_str::<Value>(&row.data).expect("json")["seq"]
                .as_u64()
                .expect("seq")
        })
        .collect();
    let lost: Vec<&u64> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_postgres() {
    let Some((db, schema)) = harness::fresh_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = cli_token(&db, "admin");
    let args = [
        "--db",
        db.as_str(),
        "--enrollment-token",
        "enroll-0123456789",
        "--agent-requests-per-minute",
        "8",
    ];
    let a = ServerProcess::start(&args, &[], dir.path());
    let b = ServerProcess::start(&args, &[], dir.path());
    let client = http_client(None);
    let (id, agent) = enroll(&client, &a.url, "enroll-0123456789", "web-1").await;

    // A poll waiting on B hears of a command queued on A (LISTEN/NOTIFY), within seconds.
    let poll = {
        let (client, url, agent) = (client.clone(), b.url.clone(), agent.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let reply = client
                .get(format!("{url}/api/v1/agent/command?wait=20"))
                .bearer_auth(&agent)
                .send()
                .await
                .expect("poll");
            let status = reply.status();
            let body: Value = reply.json().await.unwrap_or(Value::Null);
            (status, body, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let queued: Value = client
        .post(format!("{}/api/v1/agents/{id}/commands", a.url))
        .bearer_auth(&admin)
        .json(&json!({"kind": "mounts"}))
        .send()
        .await
        .expect("queue")
        .json()
        .await
        .expect("json");
    let (status, command, waited) = poll.await.expect("poll task");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(command["command_id"], queued["id"]);
    assert!(
        waited < Duration::from_secs(5),
        "woken by NOTIFY: {waited:?}"
    );
    let result = json!({"command_id": queued["id"], "status": "succeeded", "output": []});
    let reply = client
        .post(format!("{}/api/v1/agent/command_result", b.url))
        .bearer_auth(&agent)
        .json(&result)
        .send()
        .await
        .expect("result");
    assert_eq!(reply.status(), StatusCode::OK);
    let seen: Value = client
        .get(format!(
            "{}/api/v1/commands/{}",
            a.url,
            queued["id"].as_str().unwrap_or("")
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("status")
        .json()
        .await
        .expect("json");
    assert_eq!(seen["status"], "succeeded");

    // Claims are exclusive across replicas: 30 commands, two pollers, each taken once.
    let mut ids = BTreeSet::new();
    for _ in 0..30 {
        let queued: Value = client
            .post(format!("{}/api/v1/agents/{id}/commands", a.url))
            .bearer_auth(&admin)
            .json(&json!({"kind": "netstat"}))
            .send()
            .await
            .expect("queue")
            .json()
            .await
            .expect("json");
        ids.insert(queued["id"].as_str().expect("id").to_owned());
    }
    let mut pollers = Vec::new();
    for url in [a.url.clone(), b.url.clone()] {
        let (client, agent) = (client.clone(), agent.clone());
        pollers.push(tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let reply = client
                    .get(format!("{url}/api/v1/agent/command?wait=0"))
                    .bearer_auth(&agent)
                    .send()
                    .await
                    .expect("poll");
                if reply.status() == StatusCode::NO_CONTENT {
                    return claimed;
                }
                let body: Value = reply.json().await.expect("json");
                claimed.push(body["command_id"].as_str().expect("id").to_owned());
            }
        }));
    }
    let mut claimed = Vec::new();
    for poller in pollers {
        claimed.extend(poller.await.expect("poller"));
    }
    let unique: BTreeSet<String> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), 30, "no command twice: {claimed:?}");
    assert_eq!(unique, ids);

    // Data sent to one replica is read from the other, and the rate limit is shared.
    let mut statuses = Vec::new();
    for i in 0..9 {
        let url = if i % 2 == 0 { &a.url } else { &b.url };
        let reply = client
            .post(format!("{url}/api/v1/metrics"))
            .bearer_auth(&agent)
            .body(seq_batch("web-1", i))
            .send()
            .await
            .expect("metrics");
        statuses.push(reply.status());
    }
    // The limit may be crossed by a minute boundary; either way the 9th of 8 allowed fails
    // unless the window turned over in between.
    let accepted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(accepted + limited, 9, "{statuses:?}");
    assert!(
        limited >= 1 || Utc::now().timestamp() % 60 < 5,
        "{statuses:?}"
    );
    let history: Value = client
        .get(format!(
            "{}/api/v1/metrics/query?agent={id}&type=seq&from=-5m",
            b.url
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("json");
    let samples: i64 = history["series"][0]["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["samples"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(samples, accepted as i64, "{history}");

    drop((a, b));
    harness::drop_schema(&schema).await;
}

#[test]
fn serve_help_documents_every_setting_and_its_variable() {
    let out = spectra(&["serve", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, variable) in [
        ("--config", "SPECTRA_CONFIG"),
        ("--listen", "SPECTRA_LISTEN"),
        ("--db", "SPECTRA_DB"),
        ("--enrollment-token", "SPECTRA_ENROLLMENT_TOKEN"),
        ("--approval", "SPECTRA_APPROVAL"),
        ("--tls-cert", "SPECTRA_TLS_CERT"),
        ("--tls-key", "SPECTRA_TLS_KEY"),
        ("--log-format", "SPECTRA_LOG_FORMAT"),
        ("--max-body-bytes", "SPECTRA_MAX_BODY_BYTES"),
        ("--max-decoded-bytes", "SPECTRA_MAX_DECODED_BYTES"),
        ("--max-envelopes", "SPECTRA_MAX_ENVELOPES"),
        (
            "--agent-requests-per-minute",
            "SPECTRA_AGENT_REQUESTS_PER_MINUTE",
        ),
        ("--retention-raw", "SPECTRA_RETENTION_RAW"),
        ("--retention-5m", "SPECTRA_RETENTION_5M"),
        ("--retention-1h", "SPECTRA_RETENTION_1H"),
        ("--maintenance-interval", "SPECTRA_MAINTENANCE_INTERVAL"),
        ("--command-timeout", "SPECTRA_COMMAND_TIMEOUT"),
    ] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
        assert!(help.contains(variable), "{variable} missing:\n{help}");
    }
    assert!(
        help.contains("precedence") || help.contains("then"),
        "{help}"
    );
}

#[test]
fn token_cli_creates_lists_and_revokes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("spectra.db");
    let db = db.to_str().expect("utf-8");
    let token = cli_token(db, "viewer");
    assert!(token.starts_with("spectra_"), "{token}");
    let id = token
        .strip_prefix("spectra_")
        .and_then(|rest| rest.split('_').next())
        .expect("id");
    let listed = spectra(&["token", "list", "--db", db]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains(id) && listed.contains("viewer"), "{listed}");
    assert!(!listed.contains(&token), "secrets are never listed");
    let out = spectra(&["token", "revoke", "--db", db, id]);
    assert!(out.status.success());
    let out = spectra(&["token", "revoke", "--db", db, id]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API token"));
    let out = spectra(&["token", "create", "--db", db, "--role", "root"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
}
