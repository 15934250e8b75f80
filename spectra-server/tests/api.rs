//! Every endpoint through `tower::ServiceExt::oneshot` on `app(state)`, against SQLite and
//! PostgreSQL: the happy path, bad input, a missing or wrong token, and the wrong role.

mod harness;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch, Snapshot};
use spectra_core::scan::{ScanOptions, Scanner};

use harness::Fixture;

fn gzip_batch(agent: Option<&str>, envelopes: Vec<Envelope>) -> (MetricBatch, Vec<u8>) {
    let batch = MetricBatch::new(agent.map(str::to_owned), envelopes);
    let body = protocol::encode(&batch, Compression::Gzip).expect("encode");
    (batch, body)
}

fn cpu(hostname: &str, usage: f64, at: chrono::DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(
        "cpu",
        hostname,
        json!({"total": {"usage_percent": usage}, "load_1": usage / 100.0}),
    );
    envelope.timestamp = at;
    envelope
}

async fn post_bytes(f: &Fixture, uri: &str, token: &str, body: Vec<u8>) -> harness::Reply {
    f.request(Method::POST, uri, Some(token), body).await
}

fn assert_error(reply: &harness::Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.body["code"], code, "{}", reply.text);
    let spec: serde_json::Value =
        serde_json::from_str(include_str!("../src/api/openapi.json")).expect("spec");
    let documented = &spec["components"]["schemas"]["Error"]["properties"]["code"]["enum"];
    assert!(
        documented.as_array().expect("enum").contains(&json!(code)),
        "{code} is not among the codes /openapi.json lists"
    );
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn health_needs_no_token_and_everything_else_does() {
    each_store!(|f| {
        let reply = f.request(Method::GET, "/healthz", None, Vec::new()).await;
        assert_eq!(reply.status, StatusCode::OK);
        let reply = f.request(Method::GET, "/readyz", None, Vec::new()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["store"], f.backend.name);

        let reply = f
            .request(Method::GET, "/api/v1/agents", None, Vec::new())
            .await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        for bad in [
            "Bearer spectra_0000000000000000_00",
            "Bearer nonsense",
            "Basic abc",
        ] {
            let reply = f
                .app
                .clone()
                .oneshot_with_header("/api/v1/agents", bad)
                .await;
            assert_eq!(reply, StatusCode::UNAUTHORIZED, "{bad}");
        }
        // Right id, wrong secret.
        let (id_part, _) = f.admin.rsplit_once('_').expect("token shape");
        let forged = format!("{id_part}_{}", "0".repeat(64));
        let reply = f.get("/api/v1/agents", &forged).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

        let reply = f.get("/api/v1/no/such/route", &f.viewer).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        // Outside the API, a path is one of the web app's pages (its router says "not found").
        let page = f.get("/no/such/route", &f.viewer).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text.contains("<div id=\"root\">"), "{}", page.text);
        let reply = f
            .send(Method::PATCH, "/api/v1/agents", &f.admin, &json!({}))
            .await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    });
}

/// A small extension so the header-variant loop above stays readable.
trait OneshotWithHeader {
    async fn oneshot_with_header(self, uri: &str, authorization: &str) -> StatusCode;
}

impl OneshotWithHeader for axum::Router {
    async fn oneshot_with_header(self, uri: &str, authorization: &str) -> StatusCode {
        use tower::ServiceExt;
        let request = axum::http::Request::builder()
            .uri(uri)
            .header("authorization", authorization)
            .body(axum::body::Body::empty())
            .expect("request");
        self.oneshot(request).await.expect("infallible").status()
    }
}

#[tokio::test]
async fn roles_are_enforced() {
    each_store!(|f| {
        let (_, agent) = f.enroll("web-1").await;
        // Viewer may read but not write.
        assert_eq!(
            f.get("/api/v1/agents", &f.viewer).await.status,
            StatusCode::OK
        );
        let reply = f
            .post(
                "/api/v1/policies",
                &f.viewer,
                &json!({"name": "p", "rules": [], "action": "report"}),
            )
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("operator")
        );
        // Operator may not manage tokens.
        let reply = f
            .post("/api/v1/tokens", &f.operator, &json!({"role": "viewer"}))
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
        // Agent tokens open agent endpoints only.
        assert_error(
            &f.get("/api/v1/agents", &agent).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        // And people's tokens do not open agent endpoints.
        let reply = f
            .post("/api/v1/agent/heartbeat", &f.admin, &json!({}))
            .await;
        assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
    });
}

#[tokio::test]
async fn enrollment_checks_the_token_and_the_description() {
    each_store!(|f| {
        let reply = f.register(json!({"enrollment_token": "guess", "hostname": "h", "os": "linux", "version": "1"})).await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
        let reply = f.register(json!({"enrollment_token": harness::ENROLL, "hostname": "bad\nname", "os": "linux", "version": "1"})).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert!(reply.text.contains("hostname"), "{}", reply.text);
        let reply = f
            .register(json!({"enrollment_token": harness::ENROLL}))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_data");
        assert!(reply.text.contains("hostname"), "{}", reply.text);

        // Re-enrolling the same machine keeps the id and replaces the token.
        let machine = json!({"enrollment_token": harness::ENROLL, "hostname": "db-1",
                             "os": "linux", "version": "1", "machine_id": "abc123"});
        let first = f.register(machine.clone()).await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
        let second = f.register(machine).await;
        assert_eq!(first.body["agent_id"], second.body["agent_id"]);
        let old = first.body["agent_token"].as_str().expect("token");
        let new = second.body["agent_token"].as_str().expect("token");
        assert_error(
            &f.post("/api/v1/agent/heartbeat", old, &json!({})).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        assert_eq!(
            f.post("/api/v1/agent/heartbeat", new, &json!({}))
                .await
                .status,
            StatusCode::OK
        );
    });
}

#[tokio::test]
async fn enrollment_is_closed_without_a_token() {
    each_store!(
        |c| {
            c.enrollment_token = None;
        },
        |f| {
            let reply = f
                .request(
                    Method::POST,
                    "/api/v1/agent/register",
                    None,
                    json!({"enrollment_token": "", "hostname": "h", "os": "l", "version": "1"})
                        .to_string()
                        .into_bytes(),
                )
                .await;
            assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            assert!(reply.text.contains("closed"), "{}", reply.text);
        }
    );
}

#[tokio::test]
async fn approval_mode_holds_new_agents_until_an_admin_approves() {
    each_store!(
        |c| {
            c.approval = true;
        },
        |f| {
            let (id, agent) = f.enroll("new-1").await;
            let listed = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
            assert_eq!(listed.body["approval"], "pending");
            assert_eq!(
                f.post("/api/v1/agent/heartbeat", &agent, &json!({}))
                    .await
                    .body["status"],
                "pending"
            );
            let (_, body) = gzip_batch(None, vec![cpu("new-1", 1.0, Utc::now())]);
            let reply = post_bytes(&f, "/api/v1/metrics", &agent, body.clone()).await;
            assert_error(&reply, StatusCode::FORBIDDEN, "forbidden");
            assert!(reply.text.contains("pending"), "{}", reply.text);
            let reply = f
                .post(
                    &format!("/api/v1/agents/{id}/commands"),
                    &f.operator,
                    &json!({"kind": "netstat"}),
                )
                .await;
            assert_error(&reply, StatusCode::CONFLICT, "conflict");

            let uri = format!("/api/v1/agents/{id}/approve");
            assert_error(
                &f.post(&uri, &f.operator, &json!({})).await,
                StatusCode::FORBIDDEN,
                "forbidden",
            );
            let approved = f.post(&uri, &f.admin, &json!({})).await;
            assert_eq!(approved.body["approval"], "approved", "{}", approved.text);
            let reply = post_bytes(&f, "/api/v1/metrics", &agent, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            assert_error(
                &f.post("/api/v1/agents/nope/approve", &f.admin, &json!({}))
                    .await,
                StatusCode::NOT_FOUND,
                "not_found",
            );
        }
    );
}

#[tokio::test]
async fn metric_batches_are_stored_once_and_read_back() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let now = Utc::now();
        let envelopes: Vec<Envelope> = (0..50)
            .map(|i| {
                cpu(
                    "web-1",
                    f64::from(i),
                    now - chrono::Duration::seconds(50 - i64::from(i)),
                )
            })
            .collect();
        let (batch, body) = gzip_batch(Some(&id), envelopes);
        let reply = post_bytes(&f, "/api/v1/metrics", &agent, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["accepted"], 50);
        assert_eq!(reply.body["batch_id"], batch.batch_id.to_string());
        // The agent retries: acknowledged again, stored once.
        let again = post_bytes(&f, "/api/v1/metrics", &agent, body).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body["duplicate"], true);
        let rows = f
            .backend
            .store
            .metrics_between(Some(&id), Some("cpu"), 0, i64::MAX)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 50, "stored once");

        // The Go agent's bare array, uncompressed.
        let go = json!([{"type": "memory", "timestamp": now, "hostname": "web-1",
                         "data": {"used_percent": 41.5}}]);
        let reply = post_bytes(&f, "/api/v1/metrics", &agent, go.to_string().into_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

        // History: the mean of 0..50 over one bucket.
        let reply = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=-2m&step=120s"),
                &f.viewer,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["source"], "raw");
        let series = reply.body["series"].as_array().expect("series");
        let usage = series
            .iter()
            .find(|s| s["field"] == "total.usage_percent")
            .expect("usage series");
        assert_eq!(usage["unit"], "percent", "the schema's unit: {usage}");
        let total: f64 = usage["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| p["mean"].as_f64().unwrap_or(0.0) * p["samples"].as_f64().unwrap_or(0.0))
            .sum();
        assert!(
            (total - (0..50).sum::<i32>() as f64).abs() < 1e-6,
            "{total}"
        );
        let samples: i64 = usage["points"]
            .as_array()
            .expect("points")
            .iter()
            .map(|p| p["samples"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(samples, 50);

        // A batch naming another agent is refused.
        let (_, body) = gzip_batch(Some("someone-else"), vec![cpu("web-1", 1.0, now)]);
        assert_error(
            &post_bytes(&f, "/api/v1/metrics", &agent, body).await,
            StatusCode::CONFLICT,
            "conflict",
        );
        // Bad input says where.
        let reply = post_bytes(
            &f,
            "/api/v1/metrics",
            &agent,
            b"{\"envelopes\": [\n{\"type\": 1}".to_vec(),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_data");
        assert!(reply.text.contains("line 2"), "{}", reply.text);
        let reply = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=soon"),
                &f.viewer,
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        let reply = f
            .get("/api/v1/metrics/query?agent=nobody&type=cpu", &f.viewer)
            .await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
        let reply = f.get("/api/v1/metrics/query?type=cpu", &f.viewer).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        assert!(reply.text.contains("agent"), "{}", reply.text);
    });
}

#[tokio::test]
async fn limits_refuse_clearly_and_keep_what_was_accepted() {
    each_store!(
        |c| {
            c.limits.max_body_bytes = 64 * 1024;
            c.limits.max_decoded_bytes = 256 * 1024;
            c.limits.max_envelopes = 100;
            c.limits.agent_requests_per_minute = 5;
        },
        |f| {
            let (id, agent) = f.enroll("web-1").await;
            let (_, ok) = gzip_batch(None, vec![cpu("web-1", 1.0, Utc::now())]);
            assert_eq!(
                post_bytes(&f, "/api/v1/metrics", &agent, ok).await.status,
                StatusCode::OK
            );

            let big = vec![b' '; 65 * 1024];
            let reply = post_bytes(&f, "/api/v1/metrics", &agent, big).await;
            assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
            assert!(reply.text.contains("65536"), "{}", reply.text);

            let bomb = protocol::encode(&json!({"pad": "x".repeat(1 << 20)}), Compression::Gzip)
                .expect("gzip");
            assert!(bomb.len() < 64 * 1024);
            let reply = post_bytes(&f, "/api/v1/metrics", &agent, bomb).await;
            assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
            assert!(reply.text.contains("decompressed"), "{}", reply.text);

            let (_, long) = gzip_batch(None, vec![cpu("web-1", 1.0, Utc::now()); 101]);
            let reply = post_bytes(&f, "/api/v1/metrics", &agent, long).await;
            assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "too_large");
            assert!(reply.text.contains("101 envelopes"), "{}", reply.text);

            // Refused requests that got as far as the store count against the rate, as do
            // accepted ones; the limit is 5 a minute (6 may pass when the posts straddle the
            // turn of a minute, which starts a new count).
            let stored_before = f
                .backend
                .store
                .metrics_between(Some(&id), Some("cpu"), 0, i64::MAX)
                .await
                .expect("rows")
                .len();
            let mut limited = None;
            let mut accepted = 0;
            for i in 0..12 {
                let (_, body) = gzip_batch(None, vec![cpu("web-1", f64::from(i), Utc::now())]);
                let reply = post_bytes(&f, "/api/v1/metrics", &agent, body).await;
                if reply.status == StatusCode::TOO_MANY_REQUESTS {
                    limited = Some(reply);
                    break;
                }
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
                accepted += 1;
            }
            let limited = limited.expect("the rate limit applies");
            assert!((1..=10).contains(&accepted), "{accepted} accepted");
            assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            let retry: u64 = limited.headers["retry-after"]
                .to_str()
                .expect("ascii")
                .parse()
                .expect("secs");
            assert!((1..=60).contains(&retry), "{retry}");
            let stored = f
                .backend
                .store
                .metrics_between(Some(&id), Some("cpu"), 0, i64::MAX)
                .await
                .expect("rows");
            assert_eq!(
                stored.len(),
                stored_before + accepted,
                "every accepted batch is kept, the refused one is not"
            );
        }
    );
}

#[tokio::test]
async fn inventory_reports_status_by_last_heartbeat() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let listed = f.get("/api/v1/agents", &f.viewer).await;
        assert_eq!(listed.body["items"][0]["status"], "offline", "never seen");
        let reply = f.post("/api/v1/agent/heartbeat", &agent, &json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let one = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
        assert_eq!(one.body["status"], "online");
        assert_eq!(one.body["os"], "linux");
        assert_eq!(one.body["capabilities"], json!(["cpu", "ping"]));
        f.backend
            .store
            .heartbeat(&id, Utc::now() - chrono::Duration::minutes(5))
            .await
            .expect("backdate");
        assert_eq!(
            f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await.body["status"],
            "stale"
        );
        f.backend
            .store
            .heartbeat(&id, Utc::now() - chrono::Duration::hours(2))
            .await
            .expect("backdate");
        assert_eq!(
            f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await.body["status"],
            "offline"
        );

        // Deregistering: admin only; the token stops working.
        let uri = format!("/api/v1/agents/{id}");
        assert_eq!(
            f.send(Method::DELETE, &uri, &f.operator, &json!({}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            f.send(Method::DELETE, &uri, &f.admin, &json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(f.get(&uri, &f.viewer).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            f.post("/api/v1/agent/heartbeat", &agent, &json!({}))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    });
}

fn scan_snapshot(dir: &std::path::Path, hostname: &str) -> Snapshot {
    let report = Scanner::new(ScanOptions::new(dir))
        .expect("scanner")
        .scan()
        .expect("scan");
    Snapshot::new(hostname, report)
}

#[tokio::test]
async fn snapshots_are_kept_and_growth_is_computed() {
    each_store!(|f| {
        let (id, agent) = f.enroll("files-1").await;
        let tree = tempfile::tempdir().expect("tree");
        std::fs::write(tree.path().join("a.log"), vec![0u8; 1000]).expect("write");
        let mut first = scan_snapshot(tree.path(), "files-1");
        first.report.finished_at = Utc::now() - chrono::Duration::days(2);
        std::fs::write(tree.path().join("b.log"), vec![0u8; 3000]).expect("write");
        let second = scan_snapshot(tree.path(), "files-1");
        for snapshot in [&first, &second] {
            let body = protocol::encode(snapshot, Compression::Gzip).expect("encode");
            let reply = post_bytes(&f, "/api/v1/ingest", &agent, body).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
        let again = protocol::encode(&second, Compression::None).expect("encode");
        assert_eq!(
            post_bytes(&f, "/api/v1/ingest", &agent, again).await.body["duplicate"],
            true
        );

        let listed = f
            .get(&format!("/api/v1/snapshots?agent={id}"), &f.viewer)
            .await;
        let snapshots = listed.body["snapshots"].as_array().expect("list");
        assert_eq!(snapshots.len(), 2, "{}", listed.text);
        assert_eq!(
            snapshots[0]["id"],
            first.snapshot_id.to_string(),
            "oldest first"
        );
        assert_eq!(snapshots[1]["files"], 2);

        let one = f
            .get(
                &format!("/api/v1/snapshots/{}", first.snapshot_id),
                &f.viewer,
            )
            .await;
        assert_eq!(one.body["report"]["totals"]["files"], 1, "{}", one.text);
        let agent_view = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
        assert_eq!(
            agent_view.body["last_snapshot_id"],
            second.snapshot_id.to_string()
        );

        let root = second.root();
        let growth = f
            .get(
                &format!(
                    "/api/v1/growth?agent={id}&period=7d&root={}",
                    urlencode(&root)
                ),
                &f.viewer,
            )
            .await;
        assert_eq!(growth.status, StatusCode::OK, "{}", growth.text);
        let series = &growth.body["series"][0];
        assert_eq!(series["root"], root);
        let expected = (second.report.totals.apparent_bytes as f64
            - first.report.totals.apparent_bytes as f64)
            / ((second.report.finished_at - first.report.finished_at).num_milliseconds() as f64
                / 86_400_000.0);
        let got = series["growth_bytes_per_day"].as_f64().expect("growth");
        assert!((got - expected).abs() < 1.0, "{got} vs {expected}");
        assert!((series["growth_files_per_day"].as_f64().expect("files") - 0.5).abs() < 0.01);

        assert_eq!(
            f.get("/api/v1/snapshots/nope", &f.viewer).await.status,
            StatusCode::NOT_FOUND
        );
        assert_error(
            &f.get("/api/v1/growth?agent=nope", &f.viewer).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            &f.get(
                &format!("/api/v1/growth?agent={id}&period=often"),
                &f.viewer,
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        let reply = post_bytes(
            &f,
            "/api/v1/ingest",
            &agent,
            b"{\"snapshot_id\": 1}".to_vec(),
        )
        .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_data");
    });
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn rollups_serve_long_ranges_and_retention_prunes() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        // Three hours ago, one sample a minute for an hour: 60 samples, values 0..60.
        let start = Utc::now() - chrono::Duration::hours(3);
        let envelopes: Vec<Envelope> = (0..60)
            .map(|i| {
                cpu(
                    "web-1",
                    f64::from(i),
                    start + chrono::Duration::minutes(i64::from(i)),
                )
            })
            .collect();
        let (_, body) = gzip_batch(None, envelopes);
        assert_eq!(
            post_bytes(&f, "/api/v1/metrics", &agent, body).await.status,
            StatusCode::OK
        );
        let written =
            spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
                .await
                .expect("rollup");
        assert!(written > 0);
        let reply = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=-4h&step=1h"),
                &f.viewer,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["source"], "rollup_1h");
        let usage = reply.body["series"]
            .as_array()
            .expect("series")
            .iter()
            .find(|s| s["field"] == "total.usage_percent")
            .cloned()
            .expect("usage");
        let points = usage["points"].as_array().expect("points");
        let samples: i64 = points
            .iter()
            .map(|p| p["samples"].as_i64().unwrap_or(0))
            .sum();
        assert_eq!(samples, 60, "{usage}");
        let low = points
            .iter()
            .map(|p| p["min"].as_f64().unwrap_or(f64::NAN))
            .fold(f64::INFINITY, f64::min);
        let high = points
            .iter()
            .map(|p| p["max"].as_f64().unwrap_or(f64::NAN))
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((low, high), (0.0, 59.0));
        let five = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=-4h&step=5m"),
                &f.viewer,
            )
            .await;
        assert_eq!(five.body["source"], "rollup_5m");
        // Running the rollup again changes nothing (replicas may race on it).
        spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
            .await
            .expect("rollup again");
        let again = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=-4h&step=1h"),
                &f.viewer,
            )
            .await;
        assert_eq!(again.body["series"], reply.body["series"]);

        // Retention: raw rows older than an hour go; the rollups stay.
        let mut state = f.state.clone();
        let mut config = (*state.config).clone();
        config.retention.raw = Duration::from_secs(3600);
        state.config = std::sync::Arc::new(config);
        spectra_server::maintenance::prune(
            &state.store,
            &state.config.retention,
            state.config.command_timeout,
        )
        .await
        .expect("prune");
        let raw = f
            .backend
            .store
            .metrics_between(Some(&id), None, 0, i64::MAX)
            .await
            .expect("rows");
        assert!(raw.is_empty(), "{} raw rows left", raw.len());
        let kept = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=cpu&from=-4h&step=1h"),
                &f.viewer,
            )
            .await;
        assert_eq!(kept.body["series"], reply.body["series"]);
    });
}

#[tokio::test]
async fn commands_flow_from_operator_to_agent_and_back() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let queue_uri = format!("/api/v1/agents/{id}/commands");
        let ping = json!({"kind": "ping", "args": {"host": "127.0.0.1", "count": 2}});
        assert_error(
            &f.post(&queue_uri, &f.viewer, &ping).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        let reply = f
            .post(
                &queue_uri,
                &f.operator,
                &json!({"kind": "ping", "args": {"host": "-x"}}),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_input");
        let reply = f
            .post(&queue_uri, &f.operator, &json!({"kind": "rm -rf"}))
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_data");
        assert_error(
            &f.post("/api/v1/agents/nope/commands", &f.operator, &ping)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        let queued = f.post(&queue_uri, &f.operator, &ping).await;
        assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.text);
        assert_eq!(queued.body["status"], "queued");
        let command_id = queued.body["id"].as_str().expect("id").to_owned();

        let polled = f.get("/api/v1/agent/command?wait=0", &agent).await;
        assert_eq!(polled.status, StatusCode::OK, "{}", polled.text);
        assert_eq!(polled.body["command_id"], command_id);
        assert_eq!(polled.body["diagnostic"]["kind"], "ping");
        let status = f
            .get(&format!("/api/v1/commands/{command_id}"), &f.viewer)
            .await;
        assert_eq!(status.body["status"], "running");
        // Nothing else is queued.
        assert_eq!(
            f.get("/api/v1/agent/command?wait=0", &agent).await.status,
            StatusCode::NO_CONTENT
        );

        let result =
            json!({"command_id": command_id, "status": "succeeded", "output": {"received": 2}});
        let reply = f
            .post("/api/v1/agent/command_result", &agent, &result)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let done = f
            .get(&format!("/api/v1/commands/{command_id}"), &f.viewer)
            .await;
        assert_eq!(done.body["status"], "succeeded");
        assert_eq!(done.body["result"]["output"]["received"], 2);
        assert_error(
            &f.post("/api/v1/agent/command_result", &agent, &result)
                .await,
            StatusCode::CONFLICT,
            "conflict",
        );
        let unknown = json!({"command_id": uuid::Uuid::new_v4(), "status": "failed", "code": "x", "message": "y"});
        assert_error(
            &f.post("/api/v1/agent/command_result", &agent, &unknown)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        // The Go agent's trigger aliases queue the matching diagnostics.
        for (uri, body, kind) in [
            (
                "/admin/trigger_logs",
                json!({"agent_id": id, "lines": 50}),
                "logs",
            ),
            (
                "/admin/trigger_disk",
                json!({"agent_id": id, "path": "/var"}),
                "disk_usage",
            ),
            (
                "/admin/trigger_network",
                json!({"agent_id": id, "action": "ping", "target": "10.0.0.1"}),
                "ping",
            ),
            (
                "/admin/trigger_network",
                json!({"agent_id": id, "action": "netstat"}),
                "netstat",
            ),
        ] {
            let reply = f.post(uri, &f.operator, &body).await;
            assert_eq!(reply.status, StatusCode::ACCEPTED, "{uri}: {}", reply.text);
            assert_eq!(reply.body["diagnostic"]["kind"], kind);
        }
        assert_error(
            &f.post("/admin/trigger_logs", &f.viewer, &json!({"agent_id": id}))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        for kind in ["logs", "disk_usage", "ping", "netstat"] {
            let polled = f.get("/api/v1/agent/command?wait=0", &agent).await;
            assert_eq!(polled.body["diagnostic"]["kind"], kind, "oldest first");
        }
        assert_eq!(
            f.get("/api/v1/commands/nope", &f.viewer).await.status,
            StatusCode::NOT_FOUND
        );
    });
}

#[tokio::test]
async fn a_waiting_poll_wakes_when_a_command_is_queued() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let started = Instant::now();
        let poll = f.get("/api/v1/agent/command?wait=1", &agent);
        assert_eq!(poll.await.status, StatusCode::NO_CONTENT);
        assert!(started.elapsed() >= Duration::from_millis(900), "it waited");

        let poller = {
            let app = f.app.clone();
            let agent = agent.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let request = axum::http::Request::builder()
                    .uri("/api/v1/agent/command?wait=20")
                    .header("authorization", format!("Bearer {agent}"))
                    .body(axum::body::Body::empty())
                    .expect("request");
                let started = Instant::now();
                let response = app.oneshot(request).await.expect("infallible");
                (response.status(), started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let queued = f
            .post(
                &format!("/api/v1/agents/{id}/commands"),
                &f.operator,
                &json!({"kind": "mounts"}),
            )
            .await;
        assert_eq!(queued.status, StatusCode::ACCEPTED);
        let (status, waited) = poller.await.expect("poller");
        assert_eq!(status, StatusCode::OK);
        assert!(
            waited < Duration::from_secs(4),
            "woken, not timed out: {waited:?}"
        );

        // Shutdown ends waiting polls at once.
        let poller = {
            let app = f.app.clone();
            tokio::spawn(async move {
                use tower::ServiceExt;
                let request = axum::http::Request::builder()
                    .uri("/api/v1/agent/command?wait=30")
                    .header("authorization", format!("Bearer {agent}"))
                    .body(axum::body::Body::empty())
                    .expect("request");
                let started = Instant::now();
                let response = app.oneshot(request).await.expect("infallible");
                (response.status(), started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        f.state.shutdown.cancel();
        let (status, waited) = poller.await.expect("poller");
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(waited < Duration::from_secs(3), "{waited:?}");
    });
}

#[tokio::test]
async fn policies_are_validated_by_the_core_parser() {
    each_store!(|f| {
        let seed = json!({"name": "Cleanup Old Logs",
                          "rules": ["extension == 'log'", "days_since_modified > 90"],
                          "action": "DELETE"});
        let created = f.post("/api/v1/policies", &f.operator, &seed).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        assert_eq!(created.body["body"]["action"]["type"], "delete");
        assert!(
            created.body["updated_by"]
                .as_str()
                .unwrap_or("")
                .starts_with("operator:")
        );
        assert_error(
            &f.post("/api/v1/policies", &f.operator, &seed).await,
            StatusCode::CONFLICT,
            "conflict",
        );

        let bad = json!({"name": "bad", "rules": ["size > 10 parsecs"], "action": "report"});
        let reply = f.post("/api/v1/policies", &f.operator, &bad).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_rule");
        let message = reply.body["message"].as_str().expect("message");
        assert!(
            message.contains("rule 1") && message.contains('^'),
            "{message}"
        );
        assert_eq!(
            f.get("/api/v1/policies/bad", &f.viewer).await.status,
            StatusCode::NOT_FOUND
        );

        let uri = "/api/v1/policies/Cleanup%20Old%20Logs";
        assert_eq!(f.get(uri, &f.viewer).await.body["name"], "Cleanup Old Logs");
        let mut changed = seed.clone();
        changed["rules"] = json!(["extension == 'log'", "days_since_modified > 30"]);
        let replaced = f.send(Method::PUT, uri, &f.operator, &changed).await;
        assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
        assert_eq!(
            replaced.body["body"]["rules"][1],
            "days_since_modified > 30"
        );
        let mut renamed = changed.clone();
        renamed["name"] = json!("other");
        assert_error(
            &f.send(Method::PUT, uri, &f.operator, &renamed).await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        assert_error(
            &f.send(Method::PUT, "/api/v1/policies/other", &f.operator, &renamed)
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        // Agents read policies to evaluate them locally.
        let (_, agent) = f.enroll("web-1").await;
        let listed = f.get("/api/v1/policies", &agent).await;
        assert_eq!(
            listed.body["policies"].as_array().map(Vec::len),
            Some(1),
            "{}",
            listed.text
        );

        assert_eq!(
            f.send(Method::DELETE, uri, &f.viewer, &json!({}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            f.send(Method::DELETE, uri, &f.operator, &json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            f.send(Method::DELETE, uri, &f.operator, &json!({}))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        let reply = f
            .request(
                Method::POST,
                "/api/v1/policies",
                Some(&f.operator),
                b"{\"name\":".to_vec(),
            )
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_data");
    });
}

#[tokio::test]
async fn tokens_are_managed_by_admins() {
    each_store!(|f| {
        let created = f
            .post(
                "/api/v1/tokens",
                &f.admin,
                &json!({"role": "viewer", "name": "grafana"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let token = created.body["token"].as_str().expect("token").to_owned();
        let id = created.body["record"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        assert!(
            created.body["record"].get("secret_hash").is_none(),
            "hash is never shown"
        );
        assert_eq!(f.get("/api/v1/agents", &token).await.status, StatusCode::OK);
        let listed = f.get("/api/v1/tokens", &f.admin).await;
        assert!(listed.text.contains("grafana") && !listed.text.contains(&token[20..]));
        assert_error(
            &f.post("/api/v1/tokens", &f.admin, &json!({"role": "root"}))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        assert_error(
            &f.post("/api/v1/tokens", &f.admin, &json!({"role": "agent"}))
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        let uri = format!("/api/v1/tokens/{id}");
        assert_eq!(
            f.send(Method::DELETE, &uri, &f.admin, &json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            f.get("/api/v1/agents", &token).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            f.send(Method::DELETE, &uri, &f.admin, &json!({}))
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    });
}

#[tokio::test]
async fn prometheus_exposes_latest_host_metrics_and_request_latency() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let now = Utc::now();
        let (_, body) = gzip_batch(
            None,
            vec![
                cpu("web-1", 10.0, now - chrono::Duration::seconds(10)),
                cpu("web-1", 20.0, now),
                Envelope::new(
                    "disk",
                    "web-1",
                    json!([{"mount_point": "/", "usage_percent": 14.5}]),
                ),
            ],
        );
        assert_eq!(
            post_bytes(&f, "/api/v1/metrics", &agent, body).await.status,
            StatusCode::OK
        );
        assert_eq!(
            f.get("/metrics", &agent).await.status,
            StatusCode::FORBIDDEN
        );
        let reply = f.get("/metrics", &f.viewer).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("text/plain")
        );
        let text = reply.text;
        // Names, units and help from core's metric schema: percents as ratios.
        let line =
            format!("spectra_cpu_total_usage_ratio{{agent_id=\"{id}\",hostname=\"web-1\"}} 0.2");
        assert!(text.contains(&line), "latest value only:\n{text}");
        assert!(!text.contains(&format!("agent_id=\"{id}\",hostname=\"web-1\"}} 0.1\n")));
        assert!(text.contains(&format!("spectra_disk_usage_ratio{{agent_id=\"{id}\",hostname=\"web-1\",mount_point=\"/\"}} 0.145")), "{text}");
        assert!(
            text.contains("# HELP spectra_disk_usage_ratio space used, as df computes it"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "spectra_agent_up{{agent_id=\"{id}\",hostname=\"web-1\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains("spectra_http_requests_total{method=\"POST\",route=\"/api/v1/metrics\",status=\"200\"} 1"), "{text}");
        for q in ["0.5", "0.95", "0.99"] {
            assert!(
                text.contains(&format!("route=\"/api/v1/metrics\",quantile=\"{q}\"")),
                "{text}"
            );
        }
        assert_eq!(
            text.matches("# TYPE spectra_cpu_total_usage_ratio gauge")
                .count(),
            1
        );
    });
}

/// Every (method, path) the router declares, read from the API's source (`.route("PATH",
/// get(…).post(…))`), so the spec is compared with what is served, not with itself.
fn routes_in_the_router_source() -> std::collections::BTreeSet<(String, String)> {
    let sources = [
        include_str!("../src/api/mod.rs"),
        include_str!("../src/api/agent.rs"),
        include_str!("../src/api/admin.rs"),
        include_str!("../src/api/history.rs"),
        include_str!("../src/api/policies.rs"),
        include_str!("../src/api/quotas.rs"),
        include_str!("../src/api/governance.rs"),
        include_str!("../src/api/alerts.rs"),
        include_str!("../src/api/accounts.rs"),
        include_str!("../src/api/overview.rs"),
    ];
    let mut routes = std::collections::BTreeSet::new();
    for source in sources {
        for call in source.split(".route(").skip(1) {
            let path = call.split('"').nth(1).expect("a path literal");
            let handlers = &call[..call
                .find("\n        .")
                .unwrap_or(call.len())
                .min(call.find("\n}").unwrap_or(call.len()))];
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = handlers
                    .match_indices(&format!("{method}("))
                    .any(|(at, _)| at == 0 || !handlers.as_bytes()[at - 1].is_ascii_alphanumeric());
                if called {
                    routes.insert((method.to_uppercase(), path.replace("{*", "{")));
                }
            }
        }
    }
    assert!(routes.len() > 30, "the parser found the routes: {routes:?}");
    routes
}

#[tokio::test]
async fn openapi_documents_every_route_the_app_serves() {
    each_store!(|f| {
        let spec = f.get("/openapi.json", &f.viewer).await;
        assert_eq!(spec.status, StatusCode::OK);
        let paths = spec.body["paths"].as_object().expect("paths");
        let documented: std::collections::BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, operations)| {
                let operations = operations.as_object().expect("operations");
                operations
                    .keys()
                    .map(|m| (m.to_uppercase(), path.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(
            documented,
            routes_in_the_router_source(),
            "/openapi.json and the router's routes differ"
        );
        for (path, operations) in paths {
            let uri = path
                .replace("{id}", "x")
                .replace("{name}", "x")
                .replace("{subject}", "x");
            for method in operations.as_object().expect("operations").keys() {
                let method: Method = method.to_uppercase().parse().expect("method");
                let reply = f
                    .request(method.clone(), &uri, Some(&f.admin), b"{}".to_vec())
                    .await;
                // Served: whatever the answer, it is not "no such route".
                assert_ne!(reply.body["code"], "method_not_allowed", "{method} {path}");
                if reply.status == StatusCode::NOT_FOUND {
                    assert!(
                        !reply.text.contains("no route"),
                        "{method} {path} is documented but not served"
                    );
                }
                assert!(
                    operations[method.as_str().to_lowercase()]["responses"].is_object(),
                    "{method} {path}"
                );
            }
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_are_each_judged_on_their_own() {
    each_store!(
        |c| {
            c.limits.agent_requests_per_minute = 5;
        },
        |f| {
            let (a_id, a) = f.enroll("a").await;
            let (b_id, b) = f.enroll("b").await;
            let (_, twice) = gzip_batch(None, vec![cpu("b", 1.0, Utc::now())]);
            let mut uploads = Vec::new();
            for i in 0..10 {
                let (_, body) = gzip_batch(None, vec![cpu("a", f64::from(i), Utc::now())]);
                uploads.push((a.clone(), body));
            }
            uploads.push((b.clone(), twice.clone()));
            uploads.push((b.clone(), twice));
            let (_, other) = gzip_batch(None, vec![cpu("b", 2.0, Utc::now())]);
            uploads.push((b.clone(), other));
            let replies = futures_join_all(&f, uploads).await;
            let status_of = |token: &str| -> Vec<StatusCode> {
                replies
                    .iter()
                    .filter(|(t, _)| t == token)
                    .map(|(_, r)| r.status)
                    .collect()
            };
            let a_ok = status_of(&a)
                .iter()
                .filter(|s| **s == StatusCode::OK)
                .count();
            let a_limited = status_of(&a)
                .iter()
                .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
                .count();
            assert_eq!((a_ok, a_limited), (5, 5), "{:?}", status_of(&a));
            assert!(
                status_of(&b).iter().all(|s| *s == StatusCode::OK),
                "{:?}",
                status_of(&b)
            );
            let duplicates = replies
                .iter()
                .filter(|(_, r)| r.body["duplicate"] == true)
                .count();
            assert_eq!(duplicates, 1);
            let count = |id: String| {
                let store = f.backend.store.clone();
                async move {
                    store
                        .metrics_between(Some(&id), None, 0, i64::MAX)
                        .await
                        .expect("rows")
                        .len()
                }
            };
            assert_eq!(count(a_id).await, 5);
            assert_eq!(count(b_id).await, 2);
        }
    );
}

/// Sends every upload at once; returns (token, reply) pairs.
async fn futures_join_all(
    f: &Fixture,
    uploads: Vec<(String, Vec<u8>)>,
) -> Vec<(String, harness::Reply)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (token, body) in uploads {
        let app = f.app.clone();
        tasks.spawn(async move {
            use tower::ServiceExt;
            let request = axum::http::Request::post("/api/v1/metrics")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::from(body))
                .expect("request");
            let response = app.oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let reply = harness::Reply {
                status,
                headers: axum::http::HeaderMap::new(),
                body: serde_json::from_slice(&bytes).unwrap_or_default(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
                bytes: bytes.to_vec(),
            };
            (token, reply)
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn quotas_show_usage_from_the_newest_snapshots() {
    each_store!(|f| {
        let (_, agent) = f.enroll("files-1").await;
        let tree = tempfile::tempdir().expect("tree");
        std::fs::write(tree.path().join("a"), vec![1u8; 100_000]).expect("write");
        let mut old = scan_snapshot(tree.path(), "files-1");
        old.report.finished_at = Utc::now() - chrono::Duration::days(1);
        std::fs::write(tree.path().join("b"), vec![1u8; 300_000]).expect("write");
        let new = scan_snapshot(tree.path(), "files-1");
        for snapshot in [&old, &new] {
            let body = protocol::encode(snapshot, Compression::Gzip).expect("encode");
            assert_eq!(
                post_bytes(&f, "/api/v1/ingest", &agent, body).await.status,
                StatusCode::OK
            );
        }
        let owner = new.report.owners[0].user.clone().expect("owner name");
        let root = new.root();

        let user_uri = format!("/api/v1/quotas/user:{owner}");
        let root_uri = format!("/api/v1/quotas/root:{}", urlencode(&root));
        let limit = json!({"limit_bytes": 200_000});
        assert_error(
            &f.send(Method::PUT, &user_uri, &f.operator, &limit).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
        let set = f.send(Method::PUT, &user_uri, &f.admin, &limit).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.text);
        let expected = new.report.owners[0].bytes;
        assert_eq!(
            set.body["used_bytes"], expected,
            "the newest snapshot counts, once"
        );
        assert_eq!(set.body["over"], true);
        let set = f
            .send(
                Method::PUT,
                &root_uri,
                &f.admin,
                &json!({"limit_bytes": 10_000_000}),
            )
            .await;
        assert_eq!(
            set.body["used_bytes"], new.report.totals.disk_bytes,
            "{}",
            set.text
        );
        assert_eq!(set.body["over"], false);

        let (listed, pages) = f.every_page("/api/v1/quotas", 1).await;
        assert_eq!((listed.len(), pages), (2, 2), "{listed:?}");
        assert_ne!(listed[0]["subject"], listed[1]["subject"]);
        for (bad, code) in [
            ("/api/v1/quotas/group:staff", "invalid_input"),
            ("/api/v1/quotas/root:relative", "invalid_input"),
        ] {
            assert_error(
                &f.send(Method::PUT, bad, &f.admin, &limit).await,
                StatusCode::BAD_REQUEST,
                code,
            );
        }
        assert_error(
            &f.send(
                Method::PUT,
                &user_uri,
                &f.admin,
                &json!({"limit_bytes": -1}),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_input",
        );
        assert_eq!(
            f.send(Method::DELETE, &user_uri, &f.admin, &json!({}))
                .await
                .status,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            f.get(&user_uri, &f.viewer).await.status,
            StatusCode::NOT_FOUND
        );
    });
}

#[tokio::test]
async fn agents_page_in_the_database_and_filter_by_labels_there() {
    each_store!(|f| {
        // Hostnames out of order, two sharing one, labels with LIKE's own wildcards.
        let hosts = [
            ("web-2", json!({"env": "prod", "rack": "a_1"})),
            ("db-1", json!({"env": "prod", "rack": "a%1"})),
            ("web-1", json!({"env": "staging", "rack": "a_1"})),
            ("web-1", json!({"env": "prod", "rack": "b"})),
            ("cache-1", json!({"env": "production"})),
        ];
        for (i, (host, labels)) in hosts.iter().enumerate() {
            let body = json!({"enrollment_token": harness::ENROLL, "hostname": host,
                              "os": "linux", "version": "1", "machine_id": format!("m-{i}"),
                              "labels": labels});
            let reply = f.register(body).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let (all, pages) = f.every_page("/api/v1/agents", 2).await;
        assert_eq!(pages, 3);
        let order: Vec<&str> = all
            .iter()
            .map(|a| a["hostname"].as_str().expect("host"))
            .collect();
        assert_eq!(order, ["cache-1", "db-1", "web-1", "web-1", "web-2"]);
        let ids: std::collections::BTreeSet<&str> =
            all.iter().map(|a| a["id"].as_str().expect("id")).collect();
        assert_eq!(ids.len(), 5, "each agent once across the pages");

        let hosts_of = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|a| {
                    format!(
                        "{}:{}",
                        a["hostname"].as_str().unwrap_or(""),
                        a["labels"]["rack"].as_str().unwrap_or("")
                    )
                })
                .collect()
        };
        let (prod, _) = f.every_page("/api/v1/agents?label=env=prod", 1).await;
        assert_eq!(
            hosts_of(&prod),
            ["db-1:a%1", "web-1:b", "web-2:a_1"],
            "not production"
        );
        let (underscore, _) = f.every_page("/api/v1/agents?label=rack=a_1", 10).await;
        assert_eq!(
            hosts_of(&underscore),
            ["web-1:a_1", "web-2:a_1"],
            "_ is no wildcard"
        );
        let (percent, _) = f.every_page("/api/v1/agents?label=rack=a%251", 10).await;
        assert_eq!(hosts_of(&percent), ["db-1:a%1"], "% is no wildcard");
        let (both, _) = f
            .every_page("/api/v1/agents?label=env=prod,rack=a_1", 10)
            .await;
        assert_eq!(hosts_of(&both), ["web-2:a_1"]);

        let too_many = f.get("/api/v1/agents?limit=1001", &f.viewer).await;
        assert_eq!(
            too_many.status,
            StatusCode::BAD_REQUEST,
            "{}",
            too_many.text
        );
        let forged = f.get("/api/v1/agents?cursor=bm9wZQ", &f.viewer).await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.text);

        // The status counts in the database: enrolled, never heard from since.
        let status = f.get("/api/v1/status", &f.viewer).await;
        assert_eq!(status.status, StatusCode::OK, "{}", status.text);
        assert_eq!(status.body["agents"]["total"], 5, "{}", status.text);
        assert_eq!(status.body["agents"]["pending"], 0, "{}", status.text);
        let (_, token) = f.enroll("beating-1").await;
        let beat = f
            .request(
                Method::POST,
                "/api/v1/agent/heartbeat",
                Some(&token),
                vec![],
            )
            .await;
        assert_eq!(beat.status, StatusCode::OK);
        let status = f.get("/api/v1/status", &f.viewer).await;
        assert_eq!(status.body["agents"]["online"], 1, "{}", status.text);
        assert_eq!(status.body["agents"]["total"], 6, "{}", status.text);
        let agents = &status.body["agents"];
        let summed = ["online", "stale", "offline"]
            .iter()
            .map(|k| agents[k].as_i64().unwrap_or(0))
            .sum::<i64>();
        assert_eq!(summed, 6, "{}", status.text);
        assert_eq!(status.body["server"]["status"], "ready");
        assert_eq!(status.body["backends_total"], 0);
    });
}

#[tokio::test]
async fn metrics_can_be_scraped_without_a_token_only_when_the_server_says_so() {
    each_store!(|f| {
        let closed = f.request(Method::GET, "/metrics", None, vec![]).await;
        assert_eq!(closed.status, StatusCode::UNAUTHORIZED, "{}", closed.text);
    });
    each_store!(
        |config| {
            config.metrics_public = true;
        },
        |f| {
            let open = f.request(Method::GET, "/metrics", None, vec![]).await;
            assert_eq!(open.status, StatusCode::OK, "{}", open.text);
            assert!(
                open.text
                    .contains("# TYPE spectra_alert_evaluations_total counter")
            );
            let other = f.request(Method::GET, "/api/v1/agents", None, vec![]).await;
            assert_eq!(
                other.status,
                StatusCode::UNAUTHORIZED,
                "only /metrics opens"
            );
        }
    );
}
