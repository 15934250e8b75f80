//! Alert evaluation at fleet scale against a running `spectra serve`: `--agents` enrolled
//! agents, each with 10 minutes of cpu, memory and two disks' envelopes (one a minute), and
//! 20 rules — thresholds over every kind, heartbeats, label-scoped ones and `time_to_full`
//! fits over the 10 minutes. The server's own log then says how long each evaluation took
//! (`benches/alerts-load.sh` reads it).
//!
//! `alerts-load --url http://127.0.0.1:8080 --enroll TOKEN --admin TOKEN --agents 1000`

use chrono::Utc;
use serde_json::json;
use spectra_benches::client;
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};

struct Options {
    url: String,
    enroll: String,
    admin: String,
    agents: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        enroll: String::new(),
        admin: String::new(),
        agents: 1000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => options.url = value,
            "--enroll" => options.enroll = value,
            "--admin" => options.admin = value,
            "--agents" => {
                options.agents = value.parse().map_err(|e| format!("--agents: {e}"))?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

/// The 20 rules: what a fleet's admin would write.
fn rules() -> Vec<serde_json::Value> {
    let mut rules = Vec::new();
    for (i, condition) in [
        "cpu.total.usage_percent > 90 for 5m",
        "cpu.total.usage_percent > 99",
        "cpu.load_1 > 16",
        "memory.available < 500MB",
        "memory.used > 60GB for 10m",
        "memory.swap_used > 1GB",
        r#"disk.usage_percent{mount_point="/"} > 90 for 10m"#,
        r#"disk.usage_percent{mount_point="/data"} > 80"#,
        "disk.usage_percent > 97",
        "disk.inodes_used > 50000000",
        "agent.heartbeat_age > 2m",
        "agent.heartbeat_age > 15m",
        r#"time_to_full(disk.usage_percent{mount_point="/data"}, 10m) < 24h"#,
        r#"time_to_full(disk.usage_percent{mount_point="/"}, 10m) < 4h"#,
    ]
    .iter()
    .enumerate()
    {
        rules.push(json!({"name": format!("fleet-{i}"), "condition": condition}));
    }
    for (i, env) in ["prod", "staging", "dev"].iter().enumerate() {
        rules.push(
            json!({"name": format!("{env}-cpu"), "condition": "cpu.total.usage_percent > 80",
                          "scope": {"labels": {"env": env}}}),
        );
        rules.push(json!({"name": format!("{env}-disk-{i}"),
                          "condition": "disk.usage_percent > 85 for 5m",
                          "scope": {"labels": {"env": env}}}));
    }
    rules
}

async fn enroll(client: &reqwest::Client, options: &Options, index: usize) -> String {
    let env = ["prod", "staging", "dev"][index % 3];
    let reply: serde_json::Value = client
        .post(format!("{}/api/v1/agent/register", options.url))
        .json(
            &json!({"enrollment_token": options.enroll, "hostname": format!("host-{index}"),
                      "os": "linux", "version": "bench", "labels": {"env": env}}),
        )
        .send()
        .await
        .expect("enroll")
        .json()
        .await
        .expect("enrollment answer");
    reply["agent_token"]
        .as_str()
        .expect("agent token")
        .to_owned()
}

/// Ten minutes of one host's envelopes, one a minute; a few hosts run hot or fill a disk.
fn history(index: usize) -> Vec<Envelope> {
    let host = format!("host-{index}");
    let now = Utc::now();
    let mut envelopes = Vec::new();
    for minute in 0..10i64 {
        let at = now - chrono::Duration::minutes(9 - minute);
        let hot = index.is_multiple_of(50);
        let filling = 40.0
            + if index.is_multiple_of(20) {
                minute as f64 * 2.0
            } else {
                0.0
            };
        for (kind, data) in [
            (
                "cpu",
                json!({"total": {"usage_percent": if hot { 99.5 } else { 20.0 }}, "load_1": 1.5}),
            ),
            (
                "memory",
                json!({"available": 4e9, "used": 4e9, "swap_used": 0}),
            ),
            (
                "disk",
                json!({"mount_point": "/", "usage_percent": 60.0, "inodes_used": 5000}),
            ),
            (
                "disk",
                json!({"mount_point": "/data", "usage_percent": filling, "inodes_used": 1000}),
            ),
        ] {
            let mut envelope = Envelope::new(kind, &host, data);
            envelope.timestamp = at;
            envelopes.push(envelope);
        }
    }
    envelopes
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("alerts-load: {e}");
            std::process::exit(2);
        }
    };
    let client = client();
    let mut uploads = tokio::task::JoinSet::new();
    for index in 0..options.agents {
        let token = enroll(&client, &options, index).await;
        let (client, url) = (client.clone(), format!("{}/api/v1/metrics", options.url));
        uploads.spawn(async move {
            let body = protocol::encode(&MetricBatch::new(None, history(index)), Compression::Gzip)
                .expect("encode");
            let reply = client
                .post(url)
                .bearer_auth(token)
                .header("content-encoding", "gzip")
                .body(body)
                .send()
                .await
                .expect("metrics");
            assert!(reply.status().is_success(), "metrics: {}", reply.status());
        });
        if uploads.len() >= 8 {
            uploads.join_next().await;
        }
    }
    uploads.join_all().await;
    for rule in rules() {
        let reply = client
            .post(format!("{}/api/v1/alert-rules", options.url))
            .bearer_auth(&options.admin)
            .json(&rule)
            .send()
            .await
            .expect("rule");
        assert!(
            reply.status().is_success(),
            "rule: {}",
            reply.text().await.unwrap_or_default()
        );
    }
    println!(
        "{{\"agents\": {}, \"rules\": {}}}",
        options.agents,
        rules().len()
    );
}
