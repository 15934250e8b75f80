//! What a probe of the server found, each as a test that failed before its fix: hostile
//! rules, approval takeover, late metrics, batch ids across agents, validation gaps, auth
//! throttling, signs of life, per-series history. Every test runs on SQLite and PostgreSQL.

mod harness;

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};
use spectra_server::auth::{MAX_FAILURES_PER_ADDRESS, MAX_FAILURES_PER_TOKEN};

use harness::Fixture;

fn upload(agent: Option<&str>, envelopes: Vec<Envelope>) -> (MetricBatch, Vec<u8>) {
    let batch = MetricBatch::new(agent.map(str::to_owned), envelopes);
    let body = protocol::encode(&batch, Compression::Gzip).expect("encode");
    (batch, body)
}

fn envelope(kind: &str, data: Value, at: chrono::DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(kind, "web-1", data);
    envelope.timestamp = at;
    envelope
}

async fn post_raw(f: &Fixture, uri: &str, token: &str, body: Vec<u8>) -> harness::Reply {
    f.request(Method::POST, uri, Some(token), body).await
}

fn policy(rule: &str) -> Value {
    json!({"name": "hostile", "rules": [rule], "action": "report"})
}

#[tokio::test]
async fn hostile_rules_are_positioned_errors_and_the_server_stays_up() {
    each_store!(|f| {
        let mut braces = "b".to_owned();
        for _ in 0..200 {
            braces = format!("{{a,{braces}}}");
        }
        let hostile = [
            format!("{}size > 1{}", "(".repeat(2000), ")".repeat(2000)),
            "not ".repeat(10_000) + "size > 1",
            "!".repeat(10_000) + "size > 1",
            vec!["size > 1"; 70_000].join(" and "),
            format!("name matches '{braces}'"),
        ];
        for rule in &hostile {
            let reply = f.post("/api/v1/policies", &f.operator, &policy(rule)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{}",
                &reply.text[..200.min(reply.text.len())]
            );
            let message = reply.body["message"].as_str().expect("message");
            assert!(
                message.contains("column"),
                "positioned: {}",
                &message[..200.min(message.len())]
            );
        }
        // The process is alive and answers the next request.
        let health = f.request(Method::GET, "/healthz", None, Vec::new()).await;
        assert_eq!(health.status, StatusCode::OK);
        let bad_destination = json!({"name": "m", "rules": ["size > 1"],
                                     "action": {"type": "move", "destination": "../../etc"}});
        let reply = f
            .post("/api/v1/policies", &f.operator, &bad_destination)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(reply.text.contains("action.destination"), "{}", reply.text);
        let empty_destination = json!({"name": "m", "rules": ["size > 1"],
                                       "action": {"type": "move", "destination": ""}});
        let reply = f
            .post("/api/v1/policies", &f.operator, &empty_destination)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    });
}

fn registration(machine_id: &str, hostname: &str, agent_token: Option<&str>) -> Value {
    let mut body = json!({"enrollment_token": harness::ENROLL, "hostname": hostname,
                          "os": "linux", "version": "1", "machine_id": machine_id});
    if let Some(token) = agent_token {
        body["agent_token"] = json!(token);
    }
    body
}

/// `POST /api/v1/agent/heartbeat` with `token`.
async fn heartbeat(f: &Fixture, token: &str) -> harness::Reply {
    f.request(Method::POST, "/api/v1/agent/heartbeat", Some(token), vec![])
        .await
}

/// Agent `id`'s event trail, and the kind of each event in order.
async fn event_kinds(f: &Fixture, id: &str) -> (harness::Reply, Vec<String>) {
    let events = f
        .get(&format!("/api/v1/agents/{id}/events"), &f.viewer)
        .await;
    let kinds = events.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["event"].as_str().expect("event").to_owned())
        .collect();
    (events, kinds)
}

#[tokio::test]
async fn an_approved_identity_cannot_be_taken_with_the_enrollment_token_alone() {
    each_store!(
        |config| {
            config.approval = true;
        },
        |f| {
            let first = f.register(registration("m-1", "db-1", None)).await;
            assert_eq!(first.body["status"], "pending", "{}", first.text);
            let id = first.body["agent_id"].as_str().expect("id").to_owned();
            let real_token = first.body["agent_token"]
                .as_str()
                .expect("token")
                .to_owned();
            let approved = f
                .post(
                    &format!("/api/v1/agents/{id}/approve"),
                    &f.admin,
                    &json!({}),
                )
                .await;
            assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);

            // The real agent re-enrolls with its token: it keeps its approval.
            let proven = f
                .register(registration("m-1", "db-1", Some(&real_token)))
                .await;
            assert_eq!(proven.status, StatusCode::CREATED, "{}", proven.text);
            assert_eq!(proven.body["status"], "approved", "{}", proven.text);
            let real_token = proven.body["agent_token"]
                .as_str()
                .expect("token")
                .to_owned();

            // Someone with only the enrollment token: a pending request of its own; the real
            // agent is untouched and its token keeps working.
            let taken = f.register(registration("m-1", "evil", None)).await;
            assert_eq!(taken.status, StatusCode::CREATED, "{}", taken.text);
            assert_eq!(taken.body["status"], "pending", "{}", taken.text);
            let request = taken.body["agent_id"].as_str().expect("id").to_owned();
            assert_ne!(request, id, "a request is not the agent: {}", taken.text);
            let stolen = taken.body["agent_token"]
                .as_str()
                .expect("token")
                .to_owned();
            let (_, body) = upload(None, vec![envelope("cpu", json!({"usage": 1}), Utc::now())]);
            let refused = post_raw(&f, "/api/v1/metrics", &stolen, body.clone()).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
            let beat = heartbeat(&f, &real_token).await;
            assert_eq!(
                beat.status,
                StatusCode::OK,
                "the real agent goes on: {}",
                beat.text
            );
            assert_eq!(beat.body["status"], "approved", "{}", beat.text);
            let (_, real_body) = upload(
                Some(&id),
                vec![envelope("cpu", json!({"usage": 2}), Utc::now())],
            );
            let kept = post_raw(&f, "/api/v1/metrics", &real_token, real_body).await;
            assert_eq!(kept.status, StatusCode::OK, "{}", kept.text);
            let agent = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
            assert_eq!(agent.body["hostname"], "db-1", "{}", agent.text);
            assert_eq!(agent.body["approval"], "approved", "{}", agent.text);
            let listed = f.get(&format!("/api/v1/agents/{request}"), &f.viewer).await;
            assert_eq!(listed.body["approval"], "pending", "{}", listed.text);
            assert_eq!(listed.body["replaces"], id.as_str(), "{}", listed.text);
            assert_eq!(listed.body["hostname"], "evil", "{}", listed.text);

            // Trying again describes the same request anew rather than piling them up.
            let again = f.register(registration("m-1", "evil-2", None)).await;
            assert_eq!(again.body["agent_id"], request.as_str(), "{}", again.text);
            let stolen = again.body["agent_token"]
                .as_str()
                .expect("token")
                .to_owned();

            let (events, kinds) = event_kinds(&f, &id).await;
            assert_eq!(
                kinds,
                [
                    "enrolled",
                    "approved",
                    "re-enrolled",
                    "re-enrollment-requested",
                    "re-enrollment-requested"
                ],
                "{}",
                events.text
            );
            let detail = events.body["events"][3]["detail"].as_str().expect("detail");
            assert!(
                detail.contains(&request) && detail.contains("evil"),
                "{}",
                events.text
            );

            // The admin approves the request: it takes the identity over, the old token stops
            // working, and a batch spooled under the request's id is the agent's.
            let approved = f
                .post(
                    &format!("/api/v1/agents/{request}/approve"),
                    &f.admin,
                    &json!({}),
                )
                .await;
            assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
            let old = heartbeat(&f, &real_token).await;
            assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.text);
            let beat = heartbeat(&f, &stolen).await;
            assert_eq!(beat.status, StatusCode::OK, "{}", beat.text);
            assert_eq!(beat.body["agent_id"], id.as_str(), "{}", beat.text);
            let (_, spooled) = upload(
                Some(&request),
                vec![envelope("cpu", json!({"usage": 3}), Utc::now())],
            );
            let taken_over = post_raw(&f, "/api/v1/metrics", &stolen, spooled).await;
            assert_eq!(taken_over.status, StatusCode::OK, "{}", taken_over.text);
            let gone = f.get(&format!("/api/v1/agents/{request}"), &f.viewer).await;
            assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
            let agent = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
            assert_eq!(agent.body["hostname"], "evil-2", "{}", agent.text);
            assert_eq!(agent.body["approval"], "approved", "{}", agent.text);

            // A process still sending the replaced token is shown: the agent is failing
            // authentication, counted, with one event however often it retries.
            assert_eq!(agent.body["auth_failing"], true, "{}", agent.text);
            assert_eq!(agent.body["auth_failures"], 1, "{}", agent.text);
            let retried = heartbeat(&f, &real_token).await;
            assert_eq!(retried.status, StatusCode::UNAUTHORIZED, "{}", retried.text);
            let agent = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
            assert_eq!(agent.body["auth_failures"], 2, "{}", agent.text);
            let status = f.get("/api/v1/status", &f.viewer).await;
            assert_eq!(status.body["agents"]["failing_auth"], 1, "{}", status.text);
            let (events, kinds) = event_kinds(&f, &id).await;
            assert_eq!(
                kinds.iter().filter(|kind| *kind == "auth-failing").count(),
                1,
                "{}",
                events.text
            );
            let metrics = f.get("/metrics", &f.viewer).await;
            let failing_line = format!("spectra_agent_auth_failing{{agent_id=\"{id}\"");
            assert!(
                metrics
                    .text
                    .lines()
                    .any(|line| line.starts_with(&failing_line) && line.ends_with(" 1")),
                "{}",
                metrics.text
            );

            // A request that is rejected (deleted) changes nothing of the agent.
            let third = f.register(registration("m-1", "third", None)).await;
            let rejected = third.body["agent_id"].as_str().expect("id").to_owned();
            let deleted = f
                .request(
                    Method::DELETE,
                    &format!("/api/v1/agents/{rejected}"),
                    Some(&f.admin),
                    vec![],
                )
                .await;
            assert!(deleted.status.is_success(), "{}", deleted.text);
            let beat = heartbeat(&f, &stolen).await;
            assert_eq!(beat.status, StatusCode::OK, "{}", beat.text);
            let (events, kinds) = event_kinds(&f, &id).await;
            assert_eq!(
                &kinds[5..],
                [
                    "identity-replaced",
                    "auth-failing",
                    "re-enrollment-requested",
                    "re-enrollment-rejected"
                ],
                "{}",
                events.text
            );
        }
    );
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_a_bad_request_in_every_mode() {
    for legacy in [false, true] {
        each_store!(
            |config| {
                if legacy {
                    config.legacy_agents = vec!["0.0.0.0/0".parse().expect("net")];
                }
            },
            |f| {
                for body in ["null", "\"str\"", "123", "[1]", "true"] {
                    let reply = f
                        .request(
                            Method::POST,
                            "/api/v1/agent/register",
                            None,
                            body.as_bytes().to_vec(),
                        )
                        .await;
                    assert_eq!(
                        reply.status,
                        StatusCode::BAD_REQUEST,
                        "{body}: {}",
                        reply.text
                    );
                    let message = reply.body["message"].as_str().expect("message");
                    assert!(
                        message.contains("expected a JSON object"),
                        "{body}: {message}"
                    );
                }
            }
        );
    }
}

#[tokio::test]
async fn late_metrics_reach_the_rollups() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let now = Utc::now();
        let (_, on_time) = upload(
            None,
            vec![envelope(
                "cpu",
                json!({"usage": 10.0}),
                now - chrono::Duration::minutes(2),
            )],
        );
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &agent, on_time)
                .await
                .status,
            StatusCode::OK
        );
        spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
            .await
            .expect("roll up");
        // An agent back from a three-hour outage replays what it kept.
        let late_at = now - chrono::Duration::hours(3);
        let (_, late) = upload(None, vec![envelope("cpu", json!({"usage": 90.0}), late_at)]);
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &agent, late).await.status,
            StatusCode::OK
        );
        spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
            .await
            .expect("roll up");
        for step in ["5m", "1h"] {
            let reply = f
                .get(
                    &format!(
                        "/api/v1/metrics/query?agent={id}&type=cpu&from=-4h&to=now&step={step}"
                    ),
                    &f.viewer,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            assert_ne!(reply.body["source"], "raw", "{}", reply.text);
            let points = reply.body["series"][0]["points"]
                .as_array()
                .expect("points");
            let highest = points
                .iter()
                .filter_map(|p| p["max"].as_f64())
                .fold(0.0, f64::max);
            assert_eq!(
                highest, 90.0,
                "step {step}: the late sample is in the rollups: {}",
                reply.text
            );
        }
        // Nothing is left to recompute.
        assert!(f.state.store.dirty_hours().await.expect("dirty").is_empty());
    });
}

#[tokio::test]
async fn batch_ids_belong_to_their_agent() {
    each_store!(|f| {
        let (_, a) = f.enroll("a").await;
        let (b_id, b) = f.enroll("b").await;
        let (batch, body) = upload(
            None,
            vec![envelope("cpu", json!({"usage": 1.0}), Utc::now())],
        );
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &a, body.clone()).await.body["duplicate"],
            Value::Null
        );
        // B sends the same id (and content): it is B's own batch, stored.
        let reply = post_raw(&f, "/api/v1/metrics", &b, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            reply.body["duplicate"],
            Value::Null,
            "not taken for A's: {}",
            reply.text
        );
        let rows = f
            .state
            .store
            .metrics_between(Some(&b_id), None, 0, i64::MAX)
            .await
            .expect("rows");
        assert_eq!(rows.len(), 1);
        // A retries: a duplicate. A reuses the id for other content: a 409, nothing stored.
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &a, body).await.body["duplicate"],
            true
        );
        let mut other = batch.clone();
        other.envelopes[0].data = json!({"usage": 2.0});
        let other = protocol::encode(&other, Compression::Gzip).expect("encode");
        let reply = post_raw(&f, "/api/v1/metrics", &a, other).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
        assert!(
            reply.text.contains(&batch.batch_id.to_string()),
            "names the id: {}",
            reply.text
        );
    });
}

#[tokio::test]
async fn nul_bytes_and_empty_paths_are_refused_by_field() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let reply = f
            .post(
                &format!("/api/v1/agents/{id}/commands"),
                &f.operator,
                &json!({"kind": "disk_usage", "args": {"path": "/tmp\u{0}x"}}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(
            reply.text.contains("path") && reply.text.contains("NUL"),
            "{}",
            reply.text
        );
        for subject in ["root:/data%00x", "user:a%00b", "root:relative"] {
            let reply = f
                .send(
                    Method::PUT,
                    &format!("/api/v1/quotas/{subject}"),
                    &f.admin,
                    &json!({"limit_bytes": 10}),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{subject}: {}",
                reply.text
            );
            assert!(reply.text.contains("quota subject"), "{}", reply.text);
        }
        // root:/PATH works with its slashes as they are.
        let reply = f
            .send(
                Method::PUT,
                "/api/v1/quotas/root:/srv/data",
                &f.admin,
                &json!({"limit_bytes": 10}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            f.get("/api/v1/quotas/root:/srv/data", &f.viewer).await.body["subject"],
            "root:/srv/data"
        );
        for root in ["", "\u{0}"] {
            let dir = tempfile::tempdir().expect("tmp");
            let report =
                spectra_core::scan::Scanner::new(spectra_core::scan::ScanOptions::new(dir.path()))
                    .expect("scanner")
                    .scan()
                    .expect("scan");
            let mut snapshot =
                serde_json::to_value(protocol::Snapshot::new("web-1", report)).expect("json");
            snapshot["report"]["roots"] = json!([root]);
            let reply = f.post("/api/v1/ingest", &agent, &snapshot).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{root:?}: {}",
                reply.text
            );
            assert!(reply.text.contains("report.roots[0]"), "{}", reply.text);
        }
    });
}

#[tokio::test]
async fn failed_authentications_are_throttled_per_token_and_per_address() {
    each_store!(|f| {
        let id = f.viewer.split('_').nth(1).expect("id").to_owned();
        let wrong = format!("spectra_{id}_{}", "0".repeat(64));
        for attempt in 1..=MAX_FAILURES_PER_TOKEN {
            let reply = f.get("/api/v1/agents", &wrong).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}: {}",
                reply.text
            );
        }
        let throttled = f.get("/api/v1/agents", &wrong).await;
        assert_eq!(
            throttled.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            throttled.text
        );
        assert_eq!(throttled.body["code"], "auth_throttled");
        let retry: u64 = throttled.headers["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("secs");
        assert!((1..=60).contains(&retry), "{retry}");
        // The real token is not locked out by someone else's guesses.
        assert_eq!(
            f.get("/api/v1/agents", &f.viewer).await.status,
            StatusCode::OK
        );

        // One address spraying token ids is stopped too, enrollment guesses included.
        let from: SocketAddr = "192.0.2.7:5555".parse().expect("addr");
        for attempt in 0..MAX_FAILURES_PER_ADDRESS {
            let reply = if attempt % 2 == 0 {
                let token = format!("Bearer spectra_{attempt:016x}_{}", "1".repeat(64));
                f.request_from(
                    from,
                    Method::GET,
                    "/api/v1/agents",
                    &[("authorization", &token)],
                    Vec::new(),
                )
                .await
            } else {
                let body = json!({"enrollment_token": "guess-guess-guess-1", "hostname": "x", "os": "l", "version": "1"});
                f.request_from(
                    from,
                    Method::POST,
                    "/api/v1/agent/register",
                    &[("content-type", "application/json")],
                    body.to_string().into_bytes(),
                )
                .await
            };
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "attempt {attempt}: {}",
                reply.text
            );
        }
        let token = format!("Bearer spectra_{:016x}_{}", 999, "1".repeat(64));
        let reply = f
            .request_from(
                from,
                Method::GET,
                "/api/v1/agents",
                &[("authorization", &token)],
                Vec::new(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            reply.text
        );
        let elsewhere: SocketAddr = "192.0.2.8:5555".parse().expect("addr");
        let reply = f
            .request_from(
                elsewhere,
                Method::GET,
                "/api/v1/agents",
                &[("authorization", &token)],
                Vec::new(),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "another address is not throttled: {}",
            reply.text
        );
    });
}

#[tokio::test]
async fn an_agent_that_only_uploads_is_online() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let before = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
        assert_eq!(before.body["status"], "offline", "{}", before.text);
        let (_, body) = upload(None, vec![envelope("cpu", json!({"usage": 1}), Utc::now())]);
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &agent, body).await.status,
            StatusCode::OK
        );
        let after = f.get(&format!("/api/v1/agents/{id}"), &f.viewer).await;
        assert_eq!(
            after.body["status"], "online",
            "an upload is a sign of life: {}",
            after.text
        );
    });
}

#[tokio::test]
async fn one_envelope_per_mount_is_one_series_per_mount() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let at = Utc::now() - chrono::Duration::seconds(30);
        let (_, body) = upload(
            None,
            vec![
                envelope(
                    "disk",
                    json!({"device": "/dev/vda", "mountpoint": "/", "disk_used": 100}),
                    at,
                ),
                envelope(
                    "disk",
                    json!({"device": "/dev/vdb", "mountpoint": "/home", "disk_used": 300}),
                    at,
                ),
            ],
        );
        assert_eq!(
            post_raw(&f, "/api/v1/metrics", &agent, body).await.status,
            StatusCode::OK
        );
        let reply = f
            .get(
                &format!("/api/v1/metrics/query?agent={id}&type=disk&from=-5m&step=1m"),
                &f.viewer,
            )
            .await;
        let fields: Vec<(String, f64)> = reply.body["series"]
            .as_array()
            .expect("series")
            .iter()
            .map(|s| {
                (
                    s["field"].as_str().expect("field").to_owned(),
                    s["points"][0]["mean"].as_f64().expect("mean"),
                )
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("disk_used{mountpoint=\"/\"}".to_owned(), 100.0),
                ("disk_used{mountpoint=\"/home\"}".to_owned(), 300.0),
            ],
            "{}",
            reply.text
        );
        let exposition = f.get("/metrics", &f.viewer).await.text;
        assert!(exposition.contains("mountpoint=\"/\"} 100"), "{exposition}");
        assert!(
            exposition.contains("mountpoint=\"/home\"} 300"),
            "both mounts, not only the last: {exposition}"
        );
    });
}

#[tokio::test]
async fn triggers_take_the_go_admins_parameters() {
    each_store!(|f| {
        let (id, _) = f.enroll("web-1").await;
        let queued = |reply: &harness::Reply| reply.body["diagnostic"].clone();
        let trigger = |uri: &str| {
            let uri = uri.to_owned();
            let f = &f;
            async move {
                f.request(Method::POST, &uri, Some(&f.operator), Vec::new())
                    .await
            }
        };
        let reply =
            trigger("/admin/trigger_network?hostname=web-1&action=connect&target=10.0.0.5:443")
                .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
        assert_eq!(
            queued(&reply),
            json!({"kind": "tcp_connect", "args": {"host": "10.0.0.5", "port": 443}})
        );
        let reply = trigger(&format!(
            "/admin/trigger_network?agent_id={id}&action=traceroute&target=example.org"
        ))
        .await;
        assert_eq!(queued(&reply)["kind"], "traceroute", "{}", reply.text);
        let reply =
            trigger("/admin/trigger_network?hostname=web-1&action=ping&target=127.0.0.1").await;
        assert_eq!(queued(&reply)["kind"], "ping", "{}", reply.text);
        let reply = trigger("/admin/trigger_network?hostname=web-1&action=bogus").await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(reply.text.contains("bogus"), "{}", reply.text);
        let reply = trigger("/admin/trigger_disk?hostname=web-1&path=/etc&top_n=5").await;
        assert_eq!(
            queued(&reply),
            json!({"kind": "disk_usage", "args": {"path": "/etc", "top": 5}}),
            "{}",
            reply.text
        );
        let reply = trigger("/admin/trigger_logs?hostname=web-1").await;
        assert_eq!(
            queued(&reply)["args"]["severity"],
            "error",
            "the Go agent asks for errors: {}",
            reply.text
        );
        let reply = trigger("/admin/trigger_logs?hostname=web-1&colour=red").await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "unknown parameters are refused: {}",
            reply.text
        );
        let reply = f
            .post(
                "/admin/trigger_disk",
                &f.operator,
                &json!({"agent_id": id, "top_n": 3, "extra": 1}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "unknown fields too: {}",
            reply.text
        );
        let reply = f
            .post(
                "/admin/trigger_disk",
                &f.operator,
                &json!({"agent_id": id, "top_n": 3}),
            )
            .await;
        assert_eq!(queued(&reply)["args"]["top"], 3, "{}", reply.text);
    });
}

#[tokio::test]
async fn command_results_may_be_gzip_and_bad_gzip_says_so() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        let queued = f
            .post(
                &format!("/api/v1/agents/{id}/commands"),
                &f.operator,
                &json!({"kind": "netstat"}),
            )
            .await;
        let command_id = queued.body["id"].as_str().expect("id").to_owned();
        let poll = f.get("/api/v1/agent/command?wait=0", &agent).await;
        assert_eq!(
            poll.body["command_id"],
            command_id.as_str(),
            "{}",
            poll.text
        );
        let result =
            json!({"command_id": command_id, "status": "succeeded", "output": {"sockets": []}});
        let broken = protocol::encode(&json!({"command_id": 5}), Compression::Gzip).expect("gzip");
        let reply = post_raw(&f, "/api/v1/agent/command_result", &agent, broken).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(reply.text.contains("gunzipped"), "{}", reply.text);
        let gzipped = protocol::encode(&result, Compression::Gzip).expect("gzip");
        let reply = post_raw(&f, "/api/v1/agent/command_result", &agent, gzipped).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            f.get(&format!("/api/v1/commands/{command_id}"), &f.viewer)
                .await
                .body["status"],
            "succeeded"
        );
    });
}

#[tokio::test]
async fn unknown_parameters_and_fields_are_refused_by_name() {
    each_store!(|f| {
        let (id, agent) = f.enroll("web-1").await;
        for uri in [
            format!("/api/v1/metrics/query?agent={id}&type=cpu&stepp=5m"),
            format!("/api/v1/growth?agent={id}&perod=30d"),
            "/api/v1/snapshots?agnt=x".to_owned(),
        ] {
            let reply = f.get(&uri, &f.viewer).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{uri}: {}",
                reply.text
            );
            assert!(
                reply.text.contains("unknown field"),
                "{uri}: {}",
                reply.text
            );
        }
        let reply = f
            .get("/api/v1/agent/command?wait=0&colour=red", &agent)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        let reply = f
            .get("/api/v1/agent/command?wait=0&hostname=web-1", &agent)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::NO_CONTENT,
            "hostname is the Go agent's: {}",
            reply.text
        );
        let reply = f
            .post(
                "/api/v1/tokens",
                &f.admin,
                &json!({"role": "viewer", "rol": "admin"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        let reply = f
            .send(
                Method::PUT,
                "/api/v1/quotas/user:alice",
                &f.admin,
                &json!({"limit_bytes": 1, "soft": true}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    });
}
