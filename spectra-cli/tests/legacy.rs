//! The old Go agent, unchanged: its recorded traffic (`tests/data/go-agent-traffic.jsonl`, a
//! copy of `shared/go-agent/traffic.jsonl`: exact headers and bodies) replayed against a
//! real `spectra serve --legacy-agents 127.0.0.1/32` — register, uploads, each diagnostic
//! triggered the Go admin's way, polled, answered and read back — and refused outside that
//! mode.

mod common;
#[path = "../../spectra-server/tests/harness/mod.rs"]
mod harness;

use std::io::Write;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use common::spectra;
use common::{ServerProcess, http_client};

const TRAFFIC: &str = include_str!("data/go-agent-traffic.jsonl");

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    /// The body as JSON, before encoding.
    json: Value,
    response: Value,
}

fn recorded() -> Vec<Recorded> {
    TRAFFIC
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("JSON line");
            let headers = row["headers"]
                .as_array()
                .expect("headers")
                .iter()
                .map(|pair| {
                    (
                        pair[0].as_str().expect("name").to_owned(),
                        pair[1].as_str().expect("value").to_owned(),
                    )
                })
                // The client sets these for the body it sends.
                .filter(|(name, _)| {
                    !name.eq_ignore_ascii_case("host")
                        && !name.eq_ignore_ascii_case("content-length")
                })
                .collect();
            let body = (!row["body"].is_null()).then(|| {
                let mut json = serde_json::to_vec(&row["body"]).expect("body");
                if row["path"] == "/api/v1/metrics" {
                    json.push(b'\n');
                }
                if row["body_gzipped"] == true {
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    gz.write_all(&json).expect("gzip");
                    gz.finish().expect("gzip")
                } else {
                    json
                }
            });
            Recorded {
                method: row["method"].as_str().expect("method").to_owned(),
                path: row["path"].as_str().expect("path").to_owned(),
                query: row["query"].as_str().unwrap_or_default().to_owned(),
                headers,
                body,
                json: row["body"].clone(),
                response: row["response"].clone(),
            }
        })
        .collect()
}

impl Recorded {
    fn uri(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        url: &str,
        body: Option<Vec<u8>>,
    ) -> reqwest::Response {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).expect("method");
        let mut request = client.request(method, format!("{url}{}", self.uri()));
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body.or_else(|| self.body.clone()) {
            request = request.body(body);
        }
        request.send().await.expect("send")
    }
}

fn decoded_payload(command: &Value) -> Value {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(command["payload"].as_str().expect("payload is base64 text"))
        .expect("base64");
    serde_json::from_slice(&bytes).expect("payload is JSON")
}

/// The Go admin's trigger for the command a recorded poll received.
fn trigger_for(command: &Value) -> String {
    let payload = decoded_payload(command);
    match command["type"].as_str().expect("type") {
        "FETCH_LOGS" => "/admin/trigger_logs?hostname=spectra-recorded".to_owned(),
        "DISK_USAGE" => format!(
            "/admin/trigger_disk?hostname=spectra-recorded&path={}&top_n={}",
            payload["path"].as_str().expect("path"),
            payload["top_n"]
        ),
        "NETWORK_DIAG" => format!(
            "/admin/trigger_network?hostname=spectra-recorded&action={}&target={}",
            payload["action"].as_str().expect("action"),
            payload["target"].as_str().expect("target")
        ),
        other => panic!("the recording has no {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_go_agents_recorded_traffic_works_in_legacy_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("spectra.db");
    let db = db.to_str().expect("utf-8");
    let token = {
        let out = spectra(&[
            "token", "create", "--db", db, "--role", "operator", "--name", "ops",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let server = ServerProcess::start(
        &["--db", db, "--legacy-agents", "127.0.0.1/32"],
        &[],
        dir.path(),
    );
    let url = server.url.clone();
    let client = http_client(None);
    let admin = |uri: String| {
        let client = client.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let reply = client
                .post(format!("{url}{uri}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("trigger");
            assert_eq!(reply.status(), StatusCode::ACCEPTED);
            reply.json::<Value>().await.expect("JSON")
        }
    };

    // Recorded command id → the id this server gave the same command.
    let mut issued: std::collections::HashMap<String, String> = Default::default();
    let mut long_poll = None;
    // Recorded command id → the payload the Go agent sent back.
    let mut sent: std::collections::HashMap<String, Value> = Default::default();
    for request in recorded() {
        let expected = request.response["status"].as_u64().expect("status");
        if request.path == "/api/v1/agent/command" && expected == 204 {
            long_poll = Some(request);
            continue;
        }
        if request.path == "/api/v1/agent/command" {
            let wanted = &request.response["body"];
            admin(trigger_for(wanted)).await;
            let reply = request.send(&client, &url, None).await;
            assert_eq!(reply.status(), StatusCode::OK);
            let command: Value = reply.json().await.expect("JSON");
            assert_eq!(command["type"], wanted["type"], "{command}");
            let (ours, theirs) = (decoded_payload(&command), decoded_payload(wanted));
            for (key, value) in theirs.as_object().expect("payload object") {
                if key != "count" {
                    assert_eq!(&ours[key], value, "{key} of {command}");
                }
            }
            issued.insert(
                wanted["id"].as_str().expect("id").to_owned(),
                command["id"].as_str().expect("id").to_owned(),
            );
            continue;
        }
        let mut body = None;
        if request.path == "/api/v1/agent/command_result" {
            let mut result = request.json.clone();
            sent.insert(
                result["id"].as_str().expect("id").to_owned(),
                result["payload"].clone(),
            );
            let ours = issued[result["id"].as_str().expect("id")].clone();
            result["id"] = json!(ours);
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(&serde_json::to_vec(&result).expect("json"))
                .expect("gzip");
            body = Some(gz.finish().expect("gzip"));
        }
        let reply = request.send(&client, &url, body).await;
        let status = reply.status();
        let text = reply.text().await.expect("body");
        match request.path.as_str() {
            "/api/v1/agent/command_result" => {
                assert_eq!(status, StatusCode::OK, "exactly 200: {text}")
            }
            _ => assert!(
                status.is_success(),
                "{} {}: {status} {text}",
                request.method,
                request.uri()
            ),
        }
    }
    assert_eq!(issued.len(), 3, "three commands went round");

    // Each result reads back, stored as the Go agent sent it.
    for (recorded_id, ours) in &issued {
        let reply: Value = client
            .get(format!("{url}/api/v1/commands/{ours}"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("command")
            .json()
            .await
            .expect("JSON");
        assert_eq!(reply["status"], "succeeded", "{recorded_id}: {reply}");
        assert_eq!(
            &reply["result"]["output"]["payload"], &sent[recorded_id],
            "{reply}"
        );
    }

    // The inventory shows it, legacy and unauthenticated, online by its requests alone.
    let agents: Value = client
        .get(format!("{url}/api/v1/agents"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("agents")
        .json()
        .await
        .expect("JSON");
    let agent = &agents["items"][0];
    assert_eq!(agent["hostname"], "spectra-recorded", "{agents}");
    assert_eq!(agent["legacy"], true);
    assert_eq!(agent["authenticated"], false);
    assert_eq!(agent["status"], "online");
    let id = agent["id"].as_str().expect("id");
    let disks: Value = client
        .get(format!("{url}/api/v1/metrics/query?agent={id}&type=disk&from=2026-12-01T00:10:00Z&to=2026-12-01T00:13:00Z&step=1m"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("query")
        .json()
        .await
        .expect("JSON");
    let fields: Vec<&str> = disks["series"]
        .as_array()
        .expect("series")
        .iter()
        .filter_map(|s| s["field"].as_str())
        .collect();
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("disk_used{mountpoint=\"/\"}")),
        "one series per mount: {fields:?}"
    );

    // The idle long-poll answers 204 after its hold, inside the Go client's 45 s timeout.
    let request = long_poll.expect("the recording has an idle poll");
    let started = Instant::now();
    let reply = request.send(&client, &url, None).await;
    assert_eq!(reply.status(), StatusCode::NO_CONTENT);
    assert!(
        started.elapsed() < Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn outside_legacy_mode_every_go_request_is_a_401_that_says_how() {
    for networks in [None, Some("10.0.0.0/8")] {
        each_store!(
            |config| {
                if let Some(networks) = networks {
                    config.legacy_agents =
                        spectra_server::config::Cidr::parse_list(networks).expect("cidr");
                }
            },
            |f| {
                let from = "127.0.0.1:40000".parse().expect("addr");
                for request in recorded() {
                    let headers: Vec<(&str, &str)> = request
                        .headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    let method = Method::from_bytes(request.method.as_bytes()).expect("method");
                    let reply = f
                        .request_from(
                            from,
                            method,
                            &request.uri(),
                            &headers,
                            request.body.clone().unwrap_or_default(),
                        )
                        .await;
                    assert_eq!(
                        reply.status,
                        StatusCode::UNAUTHORIZED,
                        "{} {}: {}",
                        request.method,
                        request.uri(),
                        reply.text
                    );
                    assert!(reply.text.contains("--legacy-agents"), "{}", reply.text);
                }
                let agents = f.get("/api/v1/agents", &f.viewer).await;
                assert_eq!(agents.body["items"], json!([]), "nothing was registered");
            }
        );
    }
}

#[test]
fn every_field_the_go_agent_sends_is_in_the_metric_schema() {
    use spectra_core::protocol::flatten::{DISPLAY_LIMITS, leaves};
    let mut checked = 0;
    for upload in recorded().iter().filter(|r| r.path == "/api/v1/metrics") {
        for envelope in upload.json.as_array().expect("envelopes") {
            let kind = envelope["type"].as_str().expect("type");
            for leaf in leaves(&envelope["data"], DISPLAY_LIMITS) {
                let name = format!("{kind}.{}", leaf.path.join("."));
                let field = spectra_core::metrics::field(&name).unwrap_or_else(|| {
                    panic!("{name} (sent by the Go agent) is not in the schema")
                });
                assert_ne!(
                    field.sender,
                    spectra_core::metrics::Sender::Spectra,
                    "{name} is sent by the Go agent too"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 100,
        "the recording has the Go agent's metrics ({checked} leaves)"
    );
}
