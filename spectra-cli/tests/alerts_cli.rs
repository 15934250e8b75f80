//! Alerts end to end: a real `spectra serve` evaluating rules every second, a real agent, a
//! webhook receiver and an SMTP server started here; two replicas over PostgreSQL.

mod common;
#[path = "../../spectra-server/tests/harness/mod.rs"]
mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use common::{ServerProcess, cli_token, http_client};

const ENROLL: &str = "alerts-enroll-0123456789";
const SECRET: &str = "the-webhook-secret";

/// A webhook receiver: every request with a valid signature, and whether it answers 200.
#[derive(Clone)]
struct Receiver {
    url: String,
    hits: Arc<Mutex<Vec<Value>>>,
    healthy: Arc<AtomicBool>,
}

impl Receiver {
    async fn start() -> Receiver {
        let hits: Arc<Mutex<Vec<Value>>> = Arc::default();
        let healthy = Arc::new(AtomicBool::new(true));
        let app = {
            let (hits, healthy) = (hits.clone(), healthy.clone());
            axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let (hits, healthy) = (hits.clone(), healthy.clone());
                    async move {
                        if !healthy.load(Ordering::SeqCst) {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes())
                            .expect("key");
                        mac.update(&body);
                        let expected: String = mac
                            .finalize()
                            .into_bytes()
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        let signed = headers
                            .get("x-spectra-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        if signed != format!("sha256={expected}") {
                            return StatusCode::UNAUTHORIZED;
                        }
                        let body: Value = serde_json::from_slice(&body).expect("json body");
                        assert_eq!(
                            headers
                                .get("x-spectra-delivery")
                                .and_then(|v| v.to_str().ok()),
                            body["id"].as_str()
                        );
                        hits.lock().expect("hits").push(body);
                        StatusCode::OK
                    }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, hits, healthy }
    }

    fn of(&self, rule: &str, notice: &str) -> Vec<Value> {
        self.hits
            .lock()
            .expect("hits")
            .iter()
            .filter(|hit| hit["rule"] == rule && hit["notice"] == notice)
            .cloned()
            .collect()
    }

    /// Waits up to `within` for a `notice` of `rule`; answers it and how long it took.
    async fn wait(&self, rule: &str, notice: &str, within: Duration) -> (Value, Duration) {
        let started = Instant::now();
        loop {
            if let Some(hit) = self.of(rule, notice).pop() {
                return (hit, started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "no {notice} notice of {rule:?} within {within:?}; got {:?}",
                self.hits.lock().expect("hits")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the test SMTP server took: each message's text, whether the session was under TLS,
/// and the AUTH line's credentials, if any.
#[derive(Debug, Clone)]
struct Mail {
    text: String,
    tls: bool,
    auth: Option<String>,
}

/// A minimal SMTP server: takes every message and keeps it. With `tls`, it offers STARTTLS
/// (with that certificate and key) and AUTH PLAIN once under TLS.
async fn smtp_server(
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) -> (u16, Arc<Mutex<Vec<Mail>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let messages: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let kept = messages.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (kept, tls) = (kept.clone(), tls.clone());
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                let _ = stream.get_mut().write_all(b"220 test ESMTP\r\n").await;
                let upgrade = smtp_session(&mut stream, &kept, tls.is_some(), false).await;
                if let (true, Some(config)) = (upgrade, tls) {
                    let acceptor = tokio_rustls::TlsAcceptor::from(config);
                    let Ok(secured) = acceptor.accept(stream.into_inner()).await else {
                        return;
                    };
                    smtp_session(&mut BufReader::new(secured), &kept, false, true).await;
                }
            });
        }
    });
    (port, messages)
}

/// One SMTP conversation until QUIT (false) or an accepted STARTTLS (true).
async fn smtp_session<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut BufReader<S>,
    kept: &Mutex<Vec<Mail>>,
    offer_tls: bool,
    secured: bool,
) -> bool {
    let mut data: Option<String> = None;
    let mut auth = None;
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if let Some(text) = data.as_mut() {
            if line == "." {
                kept.lock().expect("mail").push(Mail {
                    text: data.take().unwrap_or_default(),
                    tls: secured,
                    auth: auth.clone(),
                });
                let _ = stream.get_mut().write_all(b"250 2.0.0 queued\r\n").await;
            } else {
                text.push_str(&line);
                text.push('\n');
            }
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" if offer_tls => b"250-test\r\n250 STARTTLS\r\n",
            "EHLO" if secured => b"250-test\r\n250 AUTH PLAIN\r\n",
            "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
            "STAR" if offer_tls => {
                let _ = stream.get_mut().write_all(b"220 go ahead\r\n").await;
                return true;
            }
            "AUTH" if secured => {
                auth = Some(line.clone());
                b"235 2.7.0 accepted\r\n"
            }
            "MAIL" if offer_tls => b"530 5.7.0 STARTTLS first\r\n",
            "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
            "DATA" => {
                data = Some(String::new());
                b"354 go ahead\r\n"
            }
            "QUIT" => {
                let _ = stream.get_mut().write_all(b"221 bye\r\n").await;
                return false;
            }
            _ => b"502 not here\r\n",
        };
        let _ = stream.get_mut().write_all(answer).await;
    }
}

/// Waits (a minute at most) until `replicas` together have run `n` more evaluations (replicas
/// take turns: one may run them all).
async fn after_evaluations(replicas: &[&Api], n: u64) {
    let mut start = 0;
    for replica in replicas {
        start += replica.evaluations().await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut now = 0;
        for replica in replicas {
            now += replica.evaluations().await;
        }
        if now >= start + n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {n} evaluations in a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Api {
    client: reqwest::Client,
    url: String,
    admin: String,
}

impl Api {
    /// The alert evaluations this server has run, from its `/metrics`.
    async fn evaluations(&self) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.url))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix("spectra_alert_evaluations_total "))
            .and_then(|value| value.trim().parse::<f64>().ok())
            .map_or(0, |value| value as u64)
    }

    /// Waits (a minute at most) until this server has run `n` more evaluations: whatever they
    /// would queue, and the sender (every second) would deliver, has had its chance.
    async fn after_evaluations(&self, n: u64) {
        after_evaluations(&[self], n).await;
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply = request.send().await.expect("request");
        let status = reply.status();
        let text = reply.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn rule(&self, rule: Value) {
        let (status, body) = self
            .send(reqwest::Method::POST, "/api/v1/alert-rules", Some(rule))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn enroll(&self, host: &str) -> (String, String) {
        let reply: Value = self
            .client
            .post(format!("{}/api/v1/agent/register", self.url))
            .json(
                &json!({"enrollment_token": ENROLL, "hostname": host, "os": "linux",
                          "version": "0.1.0"}),
            )
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
        (
            reply["agent_id"].as_str().expect("id").to_owned(),
            reply["agent_token"].as_str().expect("token").to_owned(),
        )
    }

    async fn metrics(&self, token: &str, envelopes: Vec<Envelope>) {
        let body = protocol::encode(&MetricBatch::new(None, envelopes), Compression::Gzip)
            .expect("encode");
        let reply = self
            .client
            .post(format!("{}/api/v1/metrics", self.url))
            .bearer_auth(token)
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await
            .expect("metrics");
        assert!(reply.status().is_success(), "{}", reply.status());
    }
}

fn serve_env(smtp_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("SPECTRA_ENROLLMENT_TOKEN", ENROLL.to_owned()),
        ("SPECTRA_ALERT_INTERVAL", "1s".to_owned()),
        ("SPECTRA_ALERT_WEBHOOK_SECRET", SECRET.to_owned()),
        ("SPECTRA_ALERT_ALLOW_LOCAL_TARGETS", "true".to_owned()),
        ("SPECTRA_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}")),
        ("SPECTRA_SMTP_FROM", "spectra@example.com".to_owned()),
    ]
}

fn start(db: &str, env: &[(&'static str, String)], dir: &std::path::Path) -> ServerProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServerProcess::start(&["--db", db], &env, dir)
}

fn cpu(host: &str, percent: f64) -> Envelope {
    Envelope::new("cpu", host, json!({"total": {"usage_percent": percent}}))
}

/// `spectra alerts …` against the server; its stdout.
fn alerts_cli(url: &str, token: &str, args: &[&str]) -> String {
    let mut all = vec!["alerts"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--server", url, "--token", token]);
    let out = common::spectra(&all);
    assert!(
        out.status.success(),
        "spectra alerts {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What each alerting test runs against: a real server (evaluating every second, webhook
/// secret, SMTP) with a webhook receiver and an SMTP server of the test's own, an admin
/// token and an agent's.
struct Bed {
    dir: tempfile::TempDir,
    db: String,
    env: Vec<(&'static str, String)>,
    server: ServerProcess,
    receiver: Receiver,
    mail: Arc<Mutex<Vec<Mail>>>,
    admin: String,
    api: Api,
    /// An enrolled agent `web-1`: its id and token.
    web: String,
    web_token: String,
}

impl Bed {
    async fn start() -> Bed {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("alerts.db").display().to_string();
        let admin = cli_token(&db, "admin");
        let receiver = Receiver::start().await;
        let (smtp_port, mail) = smtp_server(None).await;
        let env = serve_env(smtp_port);
        let server = start(&db, &env, dir.path());
        let api = Api {
            client: http_client(None),
            url: server.url.clone(),
            admin: admin.clone(),
        };
        let (web, web_token) = api.enroll("web-1").await;
        Bed {
            dir,
            db,
            env,
            server,
            receiver,
            mail,
            admin,
            api,
            web,
            web_token,
        }
    }

    /// A rule that notifies this bed's receiver.
    async fn webhook_rule(&self, name: &str, condition: &str, extra: Value) {
        let mut rule = json!({"name": name, "condition": condition,
                              "notify": [format!("webhook:{}", self.receiver.url)]});
        if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
            rule.extend(extra.clone());
        }
        self.api.rule(rule).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_rule_fires_by_webhook_and_email_resolves_and_is_silenced() {
    let bed = Bed::start().await;
    let (web, web_token) = (&bed.web, &bed.web_token);
    // A rule through the CLI; a bad one is refused with where.
    alerts_cli(
        &bed.api.url,
        &bed.admin,
        &[
            "rules",
            "set",
            "cpu hot",
            "--condition",
            "cpu.total.usage_percent > 90 for 2s",
            "--severity",
            "critical",
            "--cooldown",
            "0s",
            "--notify",
            &format!("webhook:{}", bed.receiver.url),
            "--notify",
            "email:ops@example.com",
        ],
    );
    let (status, body) = bed
        .api
        .send(
            reqwest::Method::POST,
            "/api/v1/alert-rules",
            Some(json!({"name": "bad", "condition": "cpu.total.usage_percent >> 90"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap_or("").contains("column 26"),
        "{body}"
    );
    let listed = alerts_cli(&bed.api.url, &bed.admin, &["rules", "--format", "json"]);
    assert!(
        listed.contains("cpu.total.usage_percent > 90 for 2s"),
        "{listed}"
    );

    // A threshold: fires within its for + interval after the metric crosses it, by webhook
    // (signed) and email; then resolves.
    bed.api.metrics(web_token, vec![cpu("web-1", 95.0)]).await;
    let (fired, took) = bed
        .receiver
        .wait("cpu hot", "firing", Duration::from_secs(15))
        .await;
    // Not before its `for`; how soon after is the evaluation interval's business (the wait's
    // deadline bounds it), not this test's.
    assert!(
        took >= Duration::from_secs(2),
        "not before its for: {took:?}"
    );
    assert_eq!(fired["value"], 95.0);
    assert_eq!(fired["severity"], "critical");
    assert_eq!(fired["agent"]["id"], web.as_str());
    let started = Instant::now();
    while !bed
        .mail
        .lock()
        .expect("mail")
        .iter()
        .any(|m| m.text.contains("cpu hot"))
    {
        assert!(started.elapsed() < Duration::from_secs(10), "no email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let firing = alerts_cli(
        &bed.api.url,
        &bed.admin,
        &["list", "--state", "firing", "--format", "json"],
    );
    let firing: Value = serde_json::from_str(&firing).expect("json");
    assert_eq!(firing[0]["rule"], "cpu hot", "{firing}");
    assert_eq!(firing[0]["series"], format!("{web}/total.usage_percent"));
    assert_eq!(firing[0]["unit"], "percent", "{firing}");
    assert_eq!(firing[0]["value_text"], "95.0 %", "{firing}");
    // A table shows the value with its unit and the series without the agent's id.
    let table = alerts_cli(&bed.api.url, &bed.admin, &["list", "--state", "firing"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("95.0 %") && row.contains("web-1") && !row.contains(web.as_str()),
        "{table}"
    );
    let exposition = bed
        .api
        .client
        .get(format!("{}/metrics", bed.api.url))
        .bearer_auth(&bed.admin)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        exposition.contains("spectra_alerts_firing{rule=\"cpu hot\",severity=\"critical\""),
        "{exposition}"
    );
    bed.api.metrics(web_token, vec![cpu("web-1", 10.0)]).await;
    let (resolved, _) = bed
        .receiver
        .wait("cpu hot", "resolved", Duration::from_secs(10))
        .await;
    assert_eq!(resolved["value"], 10.0);
    assert_eq!(bed.receiver.of("cpu hot", "firing").len(), 1);

    // A silence holds back delivery, not the state.
    let silenced = alerts_cli(
        &bed.api.url,
        &bed.admin,
        &[
            "silence",
            "--rule",
            "cpu hot",
            "--for",
            "1h",
            "--reason",
            "maintenance",
            "--format",
            "json",
        ],
    );
    assert!(silenced.contains("maintenance"), "{silenced}");
    bed.api.metrics(web_token, vec![cpu("web-1", 97.0)]).await;
    let started = Instant::now();
    loop {
        let (_, body) = bed
            .api
            .send(reqwest::Method::GET, "/api/v1/alerts?state=firing", None)
            .await;
        if body["items"][0]["rule"] == "cpu hot" {
            assert_eq!(body["items"][0]["silenced"], true, "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bed.api.after_evaluations(3).await;
    assert_eq!(
        bed.receiver.of("cpu hot", "firing").len(),
        1,
        "silenced: no second notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_to_full_predicts_a_filling_disk() {
    let bed = Bed::start().await;
    // A disk filling 1 % a minute (envelopes of the last 9 minutes): predicted full in
    // about 41 minutes, under the 1 h horizon, long before it is full.
    bed.webhook_rule(
        "disk filling",
        "time_to_full(disk.usage_percent{mount_point=\"/data\"}, 10m) < 1h",
        json!({}),
    )
    .await;
    let now = chrono::Utc::now();
    let filling: Vec<Envelope> = (0..10)
        .map(|m| {
            let mut envelope = Envelope::new(
                "disk",
                "web-1",
                json!({"mount_point": "/data", "usage_percent": 50.0 + f64::from(m)}),
            );
            envelope.timestamp = now - chrono::Duration::minutes(9 - i64::from(m));
            envelope
        })
        .collect();
    bed.api.metrics(&bed.web_token, filling).await;
    let (predicted, _) = bed
        .receiver
        .wait("disk filling", "firing", Duration::from_secs(10))
        .await;
    let eta = predicted["value"].as_f64().expect("seconds to full");
    assert!((eta - 41.0 * 60.0).abs() < 30.0, "{predicted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_crosses_a_quota_alerts() {
    let bed = Bed::start().await;
    // A quota crossed by an upload.
    bed.webhook_rule("quota", "quota.level >= hard", json!({}))
        .await;
    let (status, body) = bed
        .api
        .send(
            reqwest::Method::PUT,
            "/api/v1/quota/user:alice",
            Some(json!({"hard": "1KB"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let batch = protocol::IndexBatch {
        version: protocol::PROTOCOL_VERSION,
        batch_id: uuid::Uuid::new_v4(),
        crawl_id: uuid::Uuid::new_v4(),
        base_crawl: None,
        backend: "lab".into(),
        root: std::path::PathBuf::from("/lab").into(),
        seq: 0,
        entries: (0..3)
            .map(|i| protocol::IndexEntry {
                path: std::path::PathBuf::from(format!("/lab/f{i}")).into(),
                size: 1000,
                disk_bytes: 4096,
                mtime: None,
                atime: None,
                uid: Some(1000),
                owner: Some("alice".into()),
                gid: None,
                ino: None,
            })
            .collect(),
        removed: Vec::new(),
        end: Some(protocol::CrawlEnd {
            complete: true,
            files: 3,
            batches: 1,
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
        }),
    };
    let reply = bed
        .api
        .client
        .post(format!("{}/api/v1/index", bed.api.url))
        .bearer_auth(&bed.web_token)
        .body(protocol::encode(&batch, Compression::Gzip).expect("encode"))
        .send()
        .await
        .expect("index");
    assert!(
        reply.status().is_success(),
        "{}",
        reply.text().await.unwrap_or_default()
    );
    let (crossed, _) = bed
        .receiver
        .wait("quota", "firing", Duration::from_secs(10))
        .await;
    assert_eq!(crossed["series"], "user:alice@all");
    assert_eq!(crossed["value"], 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_agent_killed_alerts_and_back_resolves() {
    let bed = Bed::start().await;
    // A real agent killed goes offline and alerts; back, it resolves.
    let state_dir = bed.dir.path().join("agent-state");
    let config = bed.dir.path().join("agent.toml");
    let off: String = spectra_core::collect::names()
        .into_iter()
        .map(|n| format!("{n} = 'off'\n"))
        .collect();
    std::fs::write(&config, format!("heartbeat = '1s'\n[collectors]\n{off}")).expect("config");
    let run_agent = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args(["agent", "--server", url, "--enroll-token", ENROLL])
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--config")
            .arg(&config)
            .stderr(std::fs::File::create(bed.dir.path().join("agent.log")).expect("log"))
            .spawn()
            .expect("spectra agent")
    };
    let mut agent = run_agent(&bed.api.url);
    let started = Instant::now();
    let agent_id = loop {
        let (_, body) = bed
            .api
            .send(reqwest::Method::GET, "/api/v1/agents", None)
            .await;
        let found = body["items"].as_array().and_then(|agents| {
            agents
                .iter()
                .find(|a| a["id"] != bed.web.as_str() && a["status"] == "online")
                .and_then(|a| a["id"].as_str().map(str::to_owned))
        });
        if let Some(id) = found {
            break id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "agent never enrolled: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bed.webhook_rule(
        "agent quiet",
        "agent.heartbeat_age > 4s",
        json!({"scope": {"agent": agent_id}}),
    )
    .await;
    bed.api.after_evaluations(3).await;
    assert!(
        bed.receiver.of("agent quiet", "firing").is_empty(),
        "alive: no alert"
    );
    agent.kill().expect("kill agent");
    agent.wait().expect("reap");
    let (quiet, _) = bed
        .receiver
        .wait("agent quiet", "firing", Duration::from_secs(15))
        .await;
    assert_eq!(quiet["agent"]["id"], agent_id.as_str());
    let mut agent = run_agent(&bed.api.url);
    bed.receiver
        .wait("agent quiet", "resolved", Duration::from_secs(15))
        .await;
    let _ = agent.kill();
    let _ = agent.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_a_server_killed_with_the_notice_undelivered() {
    let mut bed = Bed::start().await;
    // Deliveries survive a restart: the bed.receiver is down, the server is killed with the
    // notice undelivered, and the next server delivers it, once.
    bed.webhook_rule("memory low", "memory.available < 500MB", json!({}))
        .await;
    bed.receiver.healthy.store(false, Ordering::SeqCst);
    bed.api
        .metrics(
            &bed.web_token,
            vec![Envelope::new(
                "memory",
                "web-1",
                json!({"available": 100e6}),
            )],
        )
        .await;
    let started = Instant::now();
    loop {
        let (_, body) = bed
            .api
            .send(reqwest::Method::GET, "/api/v1/alert-deliveries", None)
            .await;
        let failed = body["items"].as_array().is_some_and(|d| {
            d.iter()
                .any(|d| d["rule"] == "memory low" && d["status"] == "HTTP 503" && d["ok"] == false)
        });
        if failed {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bed.server.signal_and_wait("KILL", Duration::from_secs(10));
    bed.receiver.healthy.store(true, Ordering::SeqCst);
    let restarted = start(&bed.db, &bed.env, bed.dir.path());
    let (delivered, _) = bed
        .receiver
        .wait("memory low", "firing", Duration::from_secs(30))
        .await;
    assert_eq!(delivered["value"], 100e6);
    let api = Api {
        url: restarted.url.clone(),
        client: http_client(None),
        admin: bed.admin.clone(),
    };
    api.after_evaluations(3).await;
    assert_eq!(
        bed.receiver.of("memory low", "firing").len(),
        1,
        "delivered once"
    );
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_over_postgres_deliver_each_notice_once() {
    let Some((db, schema)) = harness::fresh_schema().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let admin = cli_token(&db, "admin");
    let receiver = Receiver::start().await;
    let (smtp_port, _) = smtp_server(None).await;
    let env = serve_env(smtp_port);
    let a = start(&db, &env, dir.path());
    let b = start(&db, &env, dir.path());
    let api = Api {
        client: http_client(None),
        url: a.url.clone(),
        admin,
    };
    api.rule(
        json!({"name": "cpu hot", "condition": "cpu.total.usage_percent > 90",
                    "notify": [format!("webhook:{}", receiver.url)]}),
    )
    .await;
    let (_, token) = api.enroll("web-1").await;
    api.metrics(&token, vec![cpu("web-1", 99.0)]).await;
    receiver
        .wait("cpu hot", "firing", Duration::from_secs(15))
        .await;
    // Both replicas evaluate every second and send every second: let each run a few more
    // evaluations (the other replica's turns count too), then count.
    let other = Api {
        url: b.url.clone(),
        client: api.client.clone(),
        admin: api.admin.clone(),
    };
    after_evaluations(&[&api, &other], 4).await;
    other.metrics(&token, vec![cpu("web-1", 5.0)]).await;
    receiver
        .wait("cpu hot", "resolved", Duration::from_secs(15))
        .await;
    after_evaluations(&[&api, &other], 4).await;
    assert_eq!(receiver.of("cpu hot", "firing").len(), 1);
    assert_eq!(receiver.of("cpu hot", "resolved").len(), 1);
    drop((a, b));
    harness::drop_schema(&schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_with_credentials_that_are_never_logged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let ca_file = dir.path().join("relay-ca.pem");
    std::fs::write(&ca_file, certified.cert.pem()).expect("ca");
    let key = rustls_pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der())
        .expect("key");
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .expect("server config");
    let (port, mail) = smtp_server(Some(Arc::new(tls))).await;
    let db = dir.path().join("alerts.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let password = "hunter2-relay-password";
    let mut env = serve_env(port);
    env.retain(|(key, _)| *key != "SPECTRA_SMTP_URL");
    env.push((
        "SPECTRA_SMTP_URL",
        format!("smtp://spectra:{password}@localhost:{port}?tls=required"),
    ));
    env.push(("SPECTRA_SMTP_CA_FILE", ca_file.display().to_string()));
    let server = start(&db, &env, dir.path());
    let api = Api {
        client: http_client(None),
        url: server.url.clone(),
        admin,
    };
    api.rule(
        json!({"name": "cpu hot", "condition": "cpu.total.usage_percent > 90",
                    "notify": ["email:ops@example.com"]}),
    )
    .await;
    let (_, token) = api.enroll("web-1").await;
    api.metrics(&token, vec![cpu("web-1", 99.0)]).await;
    let started = Instant::now();
    let message = loop {
        if let Some(message) = mail.lock().expect("mail").first().cloned() {
            break message;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "no email");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(message.tls, "sent after STARTTLS");
    assert!(message.text.contains("cpu hot"), "{}", message.text);
    assert!(
        message.text.contains("To: ops@example.com"),
        "{}",
        message.text
    );
    assert!(
        message
            .auth
            .is_some_and(|line| line.starts_with("AUTH PLAIN"))
    );
    // The attempt is recorded once the SMTP exchange has ended, a moment after the mail
    // arrived: wait for it.
    let deliveries = loop {
        let (_, deliveries) = api
            .send(reqwest::Method::GET, "/api/v1/alert-deliveries", None)
            .await;
        if deliveries["items"][0]["ok"] == true {
            break deliveries;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{deliveries}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !server.log().contains(password),
        "the password is in the log"
    );
    assert!(!deliveries.to_string().contains(password));
}
