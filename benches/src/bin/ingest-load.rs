//! Load generator for `spectra serve`: N simulated agents on loopback, each posting gzip metric
//! batches, paced (`--interval-ms`) or back to back (`--interval-ms 0`). Prints one JSON line:
//! envelopes per second accepted and the client-side latency quantiles of the posts.
//!
//! `ingest-load --url http://127.0.0.1:8080 --enroll TOKEN --agents 1000 --envelopes 20
//!  --interval-ms 1000 --seconds 20`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use spectra_benches::{client, quantile};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};
use tokio::sync::Mutex;

struct Options {
    url: String,
    enroll: String,
    agents: usize,
    envelopes: usize,
    interval: Duration,
    seconds: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        url: "http://127.0.0.1:8080".into(),
        enroll: String::new(),
        agents: 100,
        envelopes: 20,
        interval: Duration::from_millis(1000),
        seconds: 20,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--url" => options.url = value.clone(),
            "--enroll" => options.enroll = value.clone(),
            "--agents" => options.agents = number()? as usize,
            "--envelopes" => options.envelopes = number()? as usize,
            "--interval-ms" => options.interval = Duration::from_millis(number()?),
            "--seconds" => options.seconds = number()?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(options)
}

/// A batch shaped like an agent's: cpu and memory envelopes with a dozen fields each.
fn batch(agent_id: &str, hostname: &str, envelopes: usize, seq: u64) -> Vec<u8> {
    let envelopes = (0..envelopes)
        .map(|i| {
            let value = (seq as f64 * 7.0 + i as f64) % 100.0;
            if i % 2 == 0 {
                Envelope::new(
                    "cpu",
                    hostname,
                    json!({"usage_percent": value,
                    "load": {"one": value / 50.0, "five": value / 60.0, "fifteen": value / 70.0},
                    "user_percent": value * 0.6, "system_percent": value * 0.3,
                    "iowait_percent": value * 0.1, "cores": 8, "steal_percent": 0.0}),
                )
            } else {
                Envelope::new(
                    "memory",
                    hostname,
                    json!({"total": 25_000_000_000u64,
                    "used": 10_000_000_000u64 + seq, "available": 15_000_000_000u64,
                    "used_percent": value, "swap_total": 0, "swap_used": 0,
                    "cached": 4_000_000_000u64, "buffers": 100_000_000u64}),
                )
            }
        })
        .collect();
    let batch = MetricBatch::new(Some(agent_id.to_owned()), envelopes);
    protocol::encode(&batch, Compression::Gzip).unwrap_or_default()
}

async fn enroll(
    client: &reqwest::Client,
    options: &Options,
    index: usize,
) -> Option<(String, String)> {
    let reply = client
        .post(format!("{}/api/v1/agent/register", options.url))
        .json(
            &json!({"enrollment_token": options.enroll, "hostname": format!("load-{index}"),
                      "os": "linux", "version": "bench"}),
        )
        .send()
        .await
        .ok()?;
    let body: serde_json::Value = reply.json().await.ok()?;
    Some((
        body["agent_id"].as_str()?.to_owned(),
        body["agent_token"].as_str()?.to_owned(),
    ))
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => Arc::new(options),
        Err(e) => {
            eprintln!("ingest-load: {e}");
            std::process::exit(2);
        }
    };
    let client = client();
    let mut agents = Vec::with_capacity(options.agents);
    for index in 0..options.agents {
        match enroll(&client, &options, index).await {
            Some(agent) => agents.push(agent),
            None => {
                eprintln!("ingest-load: enrolling agent {index} failed");
                std::process::exit(1);
            }
        }
    }
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let failures = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let end = started + Duration::from_secs(options.seconds);
    let mut tasks = Vec::new();
    for (index, (agent_id, token)) in agents.into_iter().enumerate() {
        let (client, options, latencies, failures) = (
            client.clone(),
            options.clone(),
            latencies.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            // Spread the agents over one interval, as real ones drift apart.
            let offset = options
                .interval
                .mul_f64(index as f64 / options.agents as f64);
            tokio::time::sleep(offset).await;
            let hostname = format!("load-{index}");
            let mut mine = Vec::new();
            let mut next = Instant::now();
            let mut seq = 0u64;
            while Instant::now() < end {
                let body = batch(&agent_id, &hostname, options.envelopes, seq);
                seq += 1;
                let sent = Instant::now();
                let ok = client
                    .post(format!("{}/api/v1/metrics", options.url))
                    .bearer_auth(&token)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    mine.push((sent.elapsed(), Instant::now()));
                } else {
                    failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                next += options.interval;
                if next >= end {
                    break;
                }
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let completed = latencies.lock().await.clone();
    // The window is from the first send to the last answer, so pacing sleeps after the last
    // send do not dilute the rate.
    let elapsed = completed
        .iter()
        .map(|(_, done)| *done)
        .max()
        .map_or(0.0, |last| (last - started).as_secs_f64());
    let mut latencies: Vec<Duration> = completed.iter().map(|(latency, _)| *latency).collect();
    latencies.sort();
    let requests = latencies.len();
    println!(
        "{}",
        json!({
            "agents": options.agents,
            "envelopes_per_batch": options.envelopes,
            "interval_ms": options.interval.as_millis() as u64,
            "seconds": elapsed,
            "batches": requests,
            "failures": failures.load(std::sync::atomic::Ordering::Relaxed),
            "envelopes_per_sec": (requests * options.envelopes) as f64 / elapsed,
            "offered_envelopes_per_sec": if options.interval.is_zero() {
                serde_json::Value::Null
            } else {
                json!((options.agents * options.envelopes) as f64 / options.interval.as_secs_f64())
            },
            "latency_ms": {"p50": quantile(&latencies, 0.5), "p95": quantile(&latencies, 0.95),
                           "p99": quantile(&latencies, 0.99), "max": quantile(&latencies, 1.0)},
        })
    );
}
