//! Governance at scale against a running `spectra serve`: a generated file index of
//! `--files` files over `--backends` backends (one enrolled agent each, a full crawl in
//! batches of the agent's size, core's `DEFAULT_INDEX_BATCH`, the backends uploading side by
//! side), `--events` access events in batches of 10,000, 200 users in 20 teams, then every
//! governance query `--rounds` times.
//! Prints one JSON line: index and telemetry ingest rates and each query's p50/p95.
//!
//! `governance-load --url http://127.0.0.1:8080 --enroll TOKEN --admin TOKEN
//!  --files 1000000 --backends 10 --events 200000 --rounds 30`

use std::path::PathBuf;
use std::time::Instant;

use chrono::Utc;
use serde_json::json;
use spectra_benches::{client, quantile};
use spectra_core::protocol::{
    self, AccessEvent, AccessOp, Compression, CrawlEnd, IndexBatch, IndexEntry, TelemetryBatch,
};
use spectra_core::scan::Timestamp;
use uuid::Uuid;

struct Options {
    url: String,
    enroll: String,
    admin: String,
    files: usize,
    backends: usize,
    events: usize,
    rounds: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        enroll: String::new(),
        admin: String::new(),
        files: 1_000_000,
        backends: 10,
        events: 200_000,
        rounds: 30,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--enroll" => options.enroll = value.clone(),
            "--admin" => options.admin = value.clone(),
            "--files" => options.files = number()?,
            "--backends" => options.backends = number()?.max(1),
            "--events" => options.events = number()?,
            "--rounds" => options.rounds = number()?.max(1),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

const BATCH_EVENTS: usize = 10_000;
const USERS: u64 = 200;
const TEAMS: u64 = 20;

/// A deterministic spread of `i` (splitmix64), so every run indexes the same files.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn path_of(backend: usize, i: usize) -> String {
    format!(
        "/data/b{backend}/d{:04}/s{:02}/file{i:07}.dat",
        i / 1000,
        i % 97
    )
}

/// File `i` of a backend: a heavy-tailed size (up to ~1 GB), one of 200 owners, an access
/// time up to two years back.
fn entry(backend: usize, i: usize, now: i64) -> IndexEntry {
    let h = mix((backend * 10_000_000 + i) as u64);
    let size = (h % 1000).pow(3) + h % 4096;
    let day = 86_400;
    let atime = now - ((h >> 20) % 730) as i64 * day;
    IndexEntry {
        path: PathBuf::from(path_of(backend, i)).into(),
        size,
        disk_bytes: size.div_ceil(4096) * 4096,
        mtime: Some(Timestamp {
            secs: atime - day,
            nanos: 0,
        }),
        atime: Some(Timestamp {
            secs: atime,
            nanos: 0,
        }),
        uid: Some(10_000 + ((h >> 40) % USERS) as u32),
        owner: Some(format!("user{}", (h >> 40) % USERS)),
        gid: Some(100),
        ino: Some(i as u64),
    }
}

/// One backend's full crawl as batches.
fn crawl(backend: usize, files: usize) -> Vec<IndexBatch> {
    let now = Utc::now().timestamp();
    let crawl_id = Uuid::new_v4();
    let chunks = files.div_ceil(protocol::DEFAULT_INDEX_BATCH).max(1);
    (0..chunks)
        .map(|seq| {
            let entries = (seq * protocol::DEFAULT_INDEX_BATCH
                ..((seq + 1) * protocol::DEFAULT_INDEX_BATCH).min(files))
                .map(|i| entry(backend, i, now))
                .collect();
            IndexBatch {
                version: protocol::PROTOCOL_VERSION,
                batch_id: Uuid::new_v4(),
                crawl_id,
                base_crawl: None,
                backend: format!("bench-{backend}"),
                root: PathBuf::from(format!("/data/b{backend}")).into(),
                seq: seq as u32,
                entries,
                removed: Vec::new(),
                end: (seq + 1 == chunks).then(|| CrawlEnd {
                    complete: true,
                    files: files as u64,
                    batches: chunks as u32,
                    started_at: Utc::now(),
                    finished_at: Utc::now(),
                }),
            }
        })
        .collect()
}

async fn enroll(client: &reqwest::Client, options: &Options, index: usize) -> String {
    let reply = client
        .post(format!("{}/api/v1/agent/register", options.url))
        .json(
            &json!({"enrollment_token": options.enroll, "hostname": format!("files-{index}"),
                      "os": "linux", "version": "bench"}),
        )
        .send()
        .await
        .expect("enroll");
    let body: serde_json::Value = reply.json().await.expect("enrollment answer");
    body["agent_token"]
        .as_str()
        .expect("agent token")
        .to_owned()
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: Vec<u8>) {
    let reply = client
        .post(url)
        .bearer_auth(token)
        .header("content-encoding", "gzip")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = reply.status();
    assert!(
        status.is_success(),
        "{url}: {status}: {}",
        reply.text().await.unwrap_or_default()
    );
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(e) => {
            eprintln!("governance-load: {e}");
            std::process::exit(2);
        }
    };
    let client = client();
    let mut tokens = Vec::new();
    for backend in 0..options.backends {
        tokens.push(enroll(&client, &options, backend).await);
    }
    let per_backend = options.files / options.backends;

    // The index: every backend's crawl encoded first (the agent's work, not the server's),
    // then uploaded side by side.
    let encoded: Vec<Vec<Vec<u8>>> = (0..options.backends)
        .map(|backend| {
            crawl(backend, per_backend)
                .iter()
                .map(|batch| protocol::encode(batch, Compression::Gzip).expect("encode"))
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut uploads = tokio::task::JoinSet::new();
    for (backend, batches) in encoded.into_iter().enumerate() {
        let (client, token) = (client.clone(), tokens[backend].clone());
        let url = format!("{}/api/v1/index", options.url);
        uploads.spawn(async move {
            for body in batches {
                post(&client, &url, &token, body).await;
            }
        });
    }
    uploads.join_all().await;
    let index_seconds = started.elapsed().as_secs_f64();

    // Telemetry: reads of indexed files by the 200 users.
    let batches: Vec<Vec<u8>> = (0..options.events.div_ceil(BATCH_EVENTS))
        .map(|b| {
            let events = (0..BATCH_EVENTS.min(options.events - b * BATCH_EVENTS))
                .map(|e| {
                    let h = mix((b * BATCH_EVENTS + e) as u64 + 77);
                    let backend = (h % options.backends as u64) as usize;
                    let file = ((h >> 8) % per_backend.max(1) as u64) as usize;
                    AccessEvent::new(AccessOp::Read, path_of(backend, file))
                        .with_backend(format!("bench-{backend}"))
                        .with_user(format!("user{}", (h >> 32) % USERS))
                        .with_bytes(h % 1_000_000)
                })
                .collect();
            protocol::encode(&TelemetryBatch::new(events), Compression::Gzip).expect("encode")
        })
        .collect();
    // One upload in flight per agent, as the index's: each agent forwards its batches in turn.
    let started = Instant::now();
    let mut posts = tokio::task::JoinSet::new();
    for (i, body) in batches.into_iter().enumerate() {
        let (client, token) = (client.clone(), tokens[i % tokens.len()].clone());
        let url = format!("{}/api/v1/telemetry", options.url);
        posts.spawn(async move { post(&client, &url, &token, body).await });
        if posts.len() >= tokens.len() {
            posts.join_next().await;
        }
    }
    posts.join_all().await;
    let telemetry_seconds = started.elapsed().as_secs_f64();

    for user in 0..USERS {
        let reply = client
            .put(format!(
                "{}/api/v1/teams/team{}/members/user{user}",
                options.url,
                user % TEAMS
            ))
            .bearer_auth(&options.admin)
            .send()
            .await
            .expect("team");
        assert!(reply.status().is_success(), "team: {}", reply.status());
    }

    let queries = [
        ("usage_by_team", "/api/v1/usage?group_by=team".to_owned()),
        ("usage_by_user", "/api/v1/usage?group_by=user".to_owned()),
        (
            "usage_by_backend",
            "/api/v1/usage?group_by=backend".to_owned(),
        ),
        (
            "stale_90d_min_1GB",
            "/api/v1/stale?days=90&min_size=1GB".to_owned(),
        ),
        ("stale_90d_first_page", "/api/v1/stale?days=90".to_owned()),
        (
            "stale_90d_team",
            "/api/v1/stale?days=90&team=team3".to_owned(),
        ),
        (
            "growth_30d",
            "/api/v1/growth?backend=bench-3&period=30d".to_owned(),
        ),
        ("backends", "/api/v1/backends".to_owned()),
    ];
    let mut results = serde_json::Map::new();
    for (name, path) in queries {
        let mut took = Vec::with_capacity(options.rounds);
        for _ in 0..options.rounds {
            let started = Instant::now();
            let reply = client
                .get(format!("{}{path}", options.url))
                .bearer_auth(&options.admin)
                .send()
                .await
                .expect("query");
            assert!(reply.status().is_success(), "{path}: {}", reply.status());
            let _ = reply.bytes().await.expect("answer");
            took.push(started.elapsed());
        }
        took.sort();
        results.insert(
            name.to_owned(),
            json!({"p50_ms": quantile(&took, 0.5), "p95_ms": quantile(&took, 0.95)}),
        );
    }
    let line = json!({
        "files": per_backend * options.backends,
        "backends": options.backends,
        "index_seconds": index_seconds,
        "index_files_per_s": (per_backend * options.backends) as f64 / index_seconds,
        "events": options.events,
        "telemetry_seconds": telemetry_seconds,
        "telemetry_events_per_s": options.events as f64 / telemetry_seconds,
        "queries": results,
    });
    println!("{line}");
}
