//! Usage and quotas over many agents' snapshots against a running `spectra serve`: `--agents`
//! agents each send one snapshot (a real scan report of `--tree`, with 20 owners), 21 quotas
//! are set on the users and the root, then `GET /api/v1/usage` and `GET /api/v1/quota` are timed
//! `--rounds` times each. Prints one JSON line with each query's p50/p95 in milliseconds.
//!
//! `usage-load --url http://127.0.0.1:8080 --enroll TOKEN --admin TOKEN --agents 1000
//!  --rounds 30 --tree /usr/share/doc`

use std::time::Instant;

use serde_json::json;
use spectra_benches::{client, quantile};
use spectra_core::protocol::{self, Compression, Snapshot};
use spectra_core::scan::{OwnerUsage, ScanOptions, Scanner};

struct Options {
    url: String,
    enroll: String,
    admin: String,
    agents: usize,
    rounds: usize,
    tree: String,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        enroll: String::new(),
        admin: String::new(),
        agents: 1000,
        rounds: 30,
        tree: "/usr/share/doc".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--enroll" => options.enroll = value.clone(),
            "--admin" => options.admin = value.clone(),
            "--agents" => options.agents = number()?.max(1),
            "--rounds" => options.rounds = number()?.max(1),
            "--tree" => options.tree = value.clone(),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let options = options()?;
    let client = client();
    let mut report = Scanner::new(ScanOptions::new(options.tree.clone()))
        .map_err(|e| e.to_string())?
        .scan()
        .map_err(|e| e.to_string())?;
    report.owners = (0..20u32)
        .map(|i| OwnerUsage {
            uid: Some(1000 + i),
            user: Some(format!("user{i}")),
            count: 1000 + u64::from(i),
            bytes: 1_000_000 * u64::from(i + 1),
        })
        .collect();
    for agent in 0..options.agents {
        let enrolled: serde_json::Value = client
            .post(format!("{}/api/v1/agent/register", options.url))
            .json(
                &json!({"enrollment_token": options.enroll, "hostname": format!("host-{agent}"),
                          "os": "linux", "version": "bench"}),
            )
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = enrolled["agent_token"].as_str().ok_or("no agent token")?;
        let body = protocol::encode(
            &Snapshot::new(format!("host-{agent}"), report.clone()),
            Compression::Gzip,
        )
        .map_err(|e| e.to_string())?;
        let sent = client
            .post(format!("{}/api/v1/ingest", options.url))
            .bearer_auth(token)
            .header("content-encoding", "gzip")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !sent.status().is_success() {
            return Err(format!("snapshot {agent}: {}", sent.status()));
        }
    }
    let root = Snapshot::new("", report.clone()).root();
    let subjects: Vec<String> = (0..20)
        .map(|i| format!("user:user{i}"))
        .chain([format!("root:{root}")])
        .collect();
    for (i, subject) in subjects.iter().enumerate() {
        let encoded: String = subject
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let reply = client
            .put(format!("{}/api/v1/quota/{encoded}", options.url))
            .bearer_auth(&options.admin)
            .json(&json!({"soft": format!("{}GB", 1 + i), "hard": format!("{}GB", 2 + i)}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !reply.status().is_success() {
            return Err(format!("quota {subject}: {}", reply.status()));
        }
    }
    let mut line = serde_json::Map::new();
    line.insert("agents".into(), json!(options.agents));
    for (name, path) in [("usage", "/api/v1/usage"), ("quota", "/api/v1/quota")] {
        let mut times = Vec::with_capacity(options.rounds);
        for _ in 0..options.rounds {
            let started = Instant::now();
            let reply = client
                .get(format!("{}{path}", options.url))
                .bearer_auth(&options.admin)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !reply.status().is_success() {
                return Err(format!("{path}: {}", reply.status()));
            }
            reply.bytes().await.map_err(|e| e.to_string())?;
            times.push(started.elapsed());
        }
        times.sort();
        line.insert(
            name.into(),
            json!({"p50_ms": quantile(&times, 0.5), "p95_ms": quantile(&times, 0.95)}),
        );
    }
    println!("{}", serde_json::Value::Object(line));
    Ok(())
}
