//! Alerts through the router (`oneshot`) and the evaluator called with chosen times, on
//! SQLite and PostgreSQL.

mod harness;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use serde_json::json;
use spectra_core::protocol::{Envelope, MetricBatch};
use spectra_server::alerts::{Alerting, evaluate};
use spectra_server::store::Uploader;

fn alerting(state: &spectra_server::api::AppState) -> Alerting {
    Alerting::new(state.store.clone(), &state.config)
}

const HOOK: &str = "webhook:https://hooks.example.com/spectra";

#[tokio::test]
async fn rules_are_checked_and_roles_hold() {
    each_store!(
        |config| {
            config.alerts.webhook_secret = Some("s".into());
        },
        |f| {
            let rule = json!({"name": "hot", "condition": "cpu.total.usage_percent > 90 for 5m",
                          "notify": [HOOK]});
            let refused = f.post("/api/v1/alert-rules", &f.viewer, &rule).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN);
            let created = f.post("/api/v1/alert-rules", &f.admin, &rule).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
            assert_eq!(created.body["for_secs"], 300.0);
            assert_eq!(created.body["cooldown_secs"], 900.0, "core's default");
            let again = f.post("/api/v1/alert-rules", &f.admin, &rule).await;
            assert_eq!(again.status, StatusCode::CONFLICT);

            let bad = f
                .post(
                    "/api/v1/alert-rules",
                    &f.admin,
                    &json!({"name": "bad", "condition": "disk.usage_percent{mount_point=/} > 1"}),
                )
                .await;
            assert_eq!(bad.status, StatusCode::BAD_REQUEST);
            assert!(bad.text.contains("column 32"), "{}", bad.text);
            assert_eq!(
                bad.body["column"], 32,
                "the column as data, for a caret: {}",
                bad.text
            );
            assert!(
                bad.body["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("condition:"),
                "{}",
                bad.text
            );
            let email = f
                .post(
                    "/api/v1/alert-rules",
                    &f.admin,
                    &json!({"name": "mail", "condition": "cpu.total.usage_percent > 1",
                        "notify": ["email:ops@example.com"]}),
                )
                .await;
            assert_eq!(email.status, StatusCode::BAD_REQUEST, "no smtp_url here");
            assert!(email.text.contains("smtp_url"), "{}", email.text);
            let renamed = f
                .send(Method::PUT, "/api/v1/alert-rules/other", &f.admin, &rule)
                .await;
            assert_eq!(renamed.status, StatusCode::BAD_REQUEST);
            let replaced = f
                .send(
                    Method::PUT,
                    "/api/v1/alert-rules/hot",
                    &f.admin,
                    &json!({"name": "hot", "condition": "cpu.total.usage_percent > 95"}),
                )
                .await;
            assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.text);
            let read = f.get("/api/v1/alert-rules/hot", &f.viewer).await;
            assert_eq!(read.body["condition"], "cpu.total.usage_percent > 95");

            let silence = json!({"rule": "hot", "duration": "2h", "reason": "upgrade"});
            let refused = f.post("/api/v1/silences", &f.viewer, &silence).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN);
            let added = f.post("/api/v1/silences", &f.operator, &silence).await;
            assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
            assert!(
                added.body["created_by"]
                    .as_str()
                    .unwrap_or("")
                    .contains("operator")
            );
            let unnamed = f
                .post(
                    "/api/v1/silences",
                    &f.operator,
                    &json!({"duration": "1h", "reason": "x"}),
                )
                .await;
            assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
            let listed = f.get("/api/v1/silences", &f.viewer).await;
            assert_eq!(listed.body["items"][0]["reason"], "upgrade");
            let id = added.body["id"].as_str().unwrap_or_default().to_owned();
            let lifted = f
                .send(
                    Method::DELETE,
                    &format!("/api/v1/silences/{id}"),
                    &f.operator,
                    &json!({}),
                )
                .await;
            assert_eq!(lifted.status, StatusCode::NO_CONTENT);
            let gone = f.get("/api/v1/silences", &f.viewer).await;
            assert_eq!(gone.body["items"], json!([]));
            let deleted = f
                .send(
                    Method::DELETE,
                    "/api/v1/alert-rules/hot",
                    &f.admin,
                    &json!({}),
                )
                .await;
            assert_eq!(deleted.status, StatusCode::NO_CONTENT);
            let bad_state = f.get("/api/v1/alerts?state=burning", &f.viewer).await;
            assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
        }
    );
}

#[tokio::test]
async fn evaluation_moves_alerts_through_their_states_and_queues_each_notice_once() {
    each_store!(
        |config| {
            config.alerts.webhook_secret = Some("s".into());
        },
        |f| {
            let store = &f.state.store;
            let (id, _) = f.enroll("web-1").await;
            let rule = json!({"name": "hot", "condition": "cpu.total.usage_percent > 90 for 1m",
                          "notify": [HOOK, HOOK]});
            assert_eq!(
                f.post("/api/v1/alert-rules", &f.admin, &rule).await.status,
                StatusCode::CREATED
            );
            let agent = Uploader {
                id: id.clone(),
                last_seen: None,
            };
            let t0 = Utc::now();
            let send = |at: chrono::DateTime<Utc>, percent: f64| {
                let mut envelope =
                    Envelope::new("cpu", "web-1", json!({"total": {"usage_percent": percent}}));
                envelope.timestamp = at;
                MetricBatch::new(None, vec![envelope])
            };
            let outbox = || async {
                store
                    .due_notices(Utc::now() + Duration::days(1), 100)
                    .await
                    .expect("outbox")
            };
            store
                .ingest_batch(&agent, send(t0, 95.0), t0, 1000)
                .await
                .expect("ingest");
            let first = evaluate(&alerting(&f.state), t0).await.expect("evaluate");
            assert_eq!((first.rules, first.series, first.notices), (1, 1, 0));
            let alerts = f.get("/api/v1/alerts", &f.viewer).await;
            assert_eq!(
                alerts.body["items"][0]["state"], "pending",
                "{}",
                alerts.text
            );
            // Still pending within its minute; firing at it, with one notice per target.
            evaluate(&alerting(&f.state), t0 + Duration::seconds(59))
                .await
                .expect("evaluate");
            assert!(outbox().await.is_empty());
            let fired = evaluate(&alerting(&f.state), t0 + Duration::seconds(60))
                .await
                .expect("evaluate");
            assert_eq!(fired.notices, 2);
            let firing = f.get("/api/v1/alerts?state=firing", &f.viewer).await;
            assert_eq!(
                firing.body["items"][0]["series"],
                format!("{id}/total.usage_percent")
            );
            assert_eq!(firing.body["items"][0]["value"], 95.0);
            // Evaluating again changes nothing and queues nothing.
            let again = evaluate(&alerting(&f.state), t0 + Duration::seconds(61))
                .await
                .expect("evaluate");
            assert_eq!((again.changed, again.notices), (0, 0));
            assert_eq!(outbox().await.len(), 2);
            let notice: serde_json::Value =
                serde_json::from_str(&outbox().await[0].payload).expect("payload");
            assert_eq!(notice["notice"], "firing");
            assert_eq!(notice["rule"], "hot");

            // A stale read loses: an update carrying an old evaluated_at writes nothing.
            let current = store.alerts(None).await.expect("alerts").remove(0);
            let stale = (
                current.clone(),
                Some(current.evaluated_at - Duration::seconds(1)),
            );
            assert!(
                !store
                    .apply_alert_updates(&[stale], &[], Utc::now())
                    .await
                    .expect("apply")
            );
            let new_alert = (current.clone(), None);
            assert!(
                !store
                    .apply_alert_updates(&[new_alert], &[], Utc::now())
                    .await
                    .expect("apply")
            );

            let t1 = t0 + Duration::seconds(70);
            store
                .ingest_batch(&agent, send(t1, 20.0), t1, 1000)
                .await
                .expect("ingest");
            let resolved = evaluate(&alerting(&f.state), t1).await.expect("evaluate");
            assert_eq!(resolved.notices, 2);
            let state = f.get("/api/v1/alerts?rule=hot", &f.viewer).await;
            assert_eq!(state.body["items"][0]["state"], "resolved");
            assert_eq!(outbox().await.len(), 4);
        }
    );
}

#[tokio::test]
async fn built_in_series_cover_services_and_quiet_agents() {
    use spectra_core::collect::{Metric, Service};
    each_store!(|f| {
        let store = &f.state.store;
        let (id, _) = f.enroll("web-1").await;
        for (name, condition) in [
            ("nginx down", r#"service.down{name="nginx.service"} == 1"#),
            ("quiet", "agent.heartbeat_age > 10m"),
        ] {
            let rule = json!({"name": name, "condition": condition});
            assert_eq!(
                f.post("/api/v1/alert-rules", &f.admin, &rule).await.status,
                StatusCode::CREATED
            );
        }
        let agent = Uploader {
            id: id.clone(),
            last_seen: None,
        };
        let unit = |name: &str, active: &str| Service {
            name: name.into(),
            load_state: "loaded".into(),
            active_state: active.into(),
            sub_state: "dead".into(),
            description: String::new(),
        };
        let t0 = Utc::now();
        let services = Metric::Services(vec![
            unit("nginx.service", "failed"),
            unit("sshd.service", "active"),
        ])
        .into_envelope("web-1")
        .expect("envelope");
        store
            .ingest_batch(&agent, MetricBatch::new(None, vec![services]), t0, 1000)
            .await
            .expect("ingest");
        let done = evaluate(&alerting(&f.state), t0).await.expect("evaluate");
        assert_eq!(done.series, 2, "one unit named, one agent");
        let firing = f.get("/api/v1/alerts?state=firing", &f.viewer).await;
        assert_eq!(
            firing.body["items"][0]["rule"], "nginx down",
            "{}",
            firing.text
        );
        assert_eq!(
            firing.body["items"][0]["series"],
            format!("{id}/nginx.service")
        );
        assert_eq!(
            firing.body["items"].as_array().map(Vec::len),
            Some(1),
            "{}",
            firing.text
        );
        // Eleven minutes of silence from the agent: quiet; the services envelope is then too
        // old to be a value, and its alert resolves.
        evaluate(&alerting(&f.state), t0 + Duration::minutes(16))
            .await
            .expect("evaluate");
        let quiet = f.get("/api/v1/alerts?rule=quiet", &f.viewer).await;
        assert_eq!(quiet.body["items"][0]["state"], "firing", "{}", quiet.text);
        let nginx = f.get("/api/v1/alerts?rule=nginx%20down", &f.viewer).await;
        assert_eq!(
            nginx.body["items"][0]["state"], "resolved",
            "{}",
            nginx.text
        );
    });
}

#[tokio::test]
async fn webhooks_to_local_addresses_are_refused_and_the_attempt_recorded() {
    each_store!(
        |config| {
            config.alerts.webhook_secret = Some("s".into());
        },
        |f| {
            let store = &f.state.store;
            let (id, _) = f.enroll("web-1").await;
            let rule = json!({"name": "hot", "condition": "cpu.total.usage_percent > 90",
                          "notify": ["webhook:http://127.0.0.1:9/hook",
                                     "webhook:http://169.254.169.254/latest",
                                     "webhook:http://[::1]:9/hook"]});
            assert_eq!(
                f.post("/api/v1/alert-rules", &f.admin, &rule).await.status,
                StatusCode::CREATED
            );
            let agent = Uploader {
                id,
                last_seen: None,
            };
            let envelope = Envelope::new("cpu", "web-1", json!({"total": {"usage_percent": 99.0}}));
            let now = Utc::now();
            store
                .ingest_batch(&agent, MetricBatch::new(None, vec![envelope]), now, 1000)
                .await
                .expect("ingest");
            assert_eq!(
                evaluate(&alerting(&f.state), now)
                    .await
                    .expect("evaluate")
                    .notices,
                3
            );
            let mailer =
                spectra_server::alerts::Mailer::new(&f.state.config.alerts).expect("mailer");
            let attempted = spectra_server::alerts::deliver_due(&alerting(&f.state), &mailer)
                .await
                .expect("deliver");
            assert_eq!(attempted, 3);
            let deliveries = f.get("/api/v1/alert-deliveries", &f.viewer).await;
            let attempts = deliveries.body["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert_eq!(attempts.len(), 3, "{}", deliveries.text);
            for attempt in &attempts {
                assert_eq!(attempt["ok"], false);
                let status = attempt["status"].as_str().unwrap_or_default();
                assert!(
                    status.contains("loopback or link-local")
                        && status.contains("alert_allow_local_targets"),
                    "{status}"
                );
            }
            // Refused notices are retried later (the setting may change), not sent now.
            assert!(
                store
                    .due_notices(Utc::now(), 10)
                    .await
                    .expect("due")
                    .is_empty()
            );
        }
    );
}

#[test]
fn signatures_are_hmac_sha256_of_the_body() {
    // RFC 4231, test case 2.
    assert_eq!(
        spectra_server::alerts::signature("Jefe", b"what do ya want for nothing?"),
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[tokio::test]
async fn fits_over_windows_past_raw_retention_read_the_rollups() {
    each_store!(
        |config| {
            config.retention.raw = std::time::Duration::from_secs(2 * 3600);
        },
        |f| {
            let store = &f.state.store;
            let (id, _) = f.enroll("web-1").await;
            let rule = json!({"name": "filling",
                          "condition": "time_to_full(disk.usage_percent{mount_point=\"/data\"}, 3h) < 12h"});
            assert_eq!(
                f.post("/api/v1/alert-rules", &f.admin, &rule).await.status,
                StatusCode::CREATED
            );
            let agent = Uploader {
                id,
                last_seen: None,
            };
            let now = Utc::now();
            // 1 % every 10 minutes over the last three hours: 57 % now, full in about 7 hours.
            let envelopes: Vec<Envelope> = (0..18)
                .map(|step| {
                    let mut envelope = Envelope::new(
                        "disk",
                        "web-1",
                        json!({"mount_point": "/data", "usage_percent": 40.0 + f64::from(step)}),
                    );
                    envelope.timestamp = now - Duration::minutes(170 - 10 * i64::from(step));
                    envelope
                })
                .collect();
            store
                .ingest_batch(&agent, MetricBatch::new(None, envelopes), now, 1000)
                .await
                .expect("ingest");
            spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
                .await
                .expect("rollups");
            // Raw rows kept for a minute only: what is left to fit is the rollups.
            let mut short = (*f.state.config).clone();
            short.retention.raw = std::time::Duration::from_secs(60);
            let pruning = spectra_server::api::AppState::new(store.clone(), short);
            spectra_server::maintenance::prune(
                &pruning.store,
                &pruning.config.retention,
                pruning.config.command_timeout,
            )
            .await
            .expect("prune");
            let raw = store
                .metrics_between(None, Some("disk"), 0, i64::MAX)
                .await
                .expect("raw");
            assert!(raw.len() <= 1, "raw rows left: {}", raw.len());
            evaluate(&alerting(&f.state), now).await.expect("evaluate");
            let firing = f.get("/api/v1/alerts?state=firing", &f.viewer).await;
            let eta = firing.body["items"][0]["value"]
                .as_f64()
                .expect("a fit from the rollups");
            assert!((eta / 3600.0 - 7.2).abs() < 0.5, "{eta} s");
        }
    );
}

#[tokio::test]
async fn every_alert_list_pages_in_the_database() {
    each_store!(|f| {
        let store = &f.state.store;
        // Five rules, created in no particular order: listed by name, two a page.
        for name in ["e", "b", "d", "a", "c"] {
            let rule = json!({"name": name, "condition": "cpu.total.usage_percent > 90"});
            let created = f.post("/api/v1/alert-rules", &f.admin, &rule).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        }
        let (rules, pages) = f.every_page("/api/v1/alert-rules", 2).await;
        let names: Vec<&str> = rules
            .iter()
            .map(|r| r["name"].as_str().expect("name"))
            .collect();
        assert_eq!((names, pages), (vec!["a", "b", "c", "d", "e"], 3));

        // Three hot agents: five rules × three series = 15 alerts; one rule's, a page of two.
        let now = Utc::now();
        for host in ["web-1", "web-2", "web-3"] {
            let (id, _) = f.enroll(host).await;
            let agent = Uploader {
                id,
                last_seen: None,
            };
            let envelope = Envelope::new("cpu", host, json!({"total": {"usage_percent": 99.0}}));
            store
                .ingest_batch(&agent, MetricBatch::new(None, vec![envelope]), now, 1000)
                .await
                .expect("ingest");
        }
        let done = evaluate(&alerting(&f.state), now).await.expect("evaluate");
        assert_eq!(done.series, 15);
        let (alerts, pages) = f.every_page("/api/v1/alerts", 4).await;
        assert_eq!((alerts.len(), pages), (15, 4));
        let keys: Vec<(String, String)> = alerts
            .iter()
            .map(|a| {
                (
                    a["rule"].as_str().expect("rule").to_owned(),
                    a["series"].as_str().expect("series").to_owned(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "in (rule, series) order, each once");
        let (of_c, _) = f.every_page("/api/v1/alerts?rule=c&state=firing", 2).await;
        assert_eq!(of_c.len(), 3);
        assert!(
            of_c.iter()
                .all(|a| a["rule"] == "c" && a["state"] == "firing")
        );
        let (pending, _) = f.every_page("/api/v1/alerts?state=pending", 2).await;
        assert!(pending.is_empty(), "no `for`: firing at once");

        // Silences: by end, then id.
        for (hours, rule) in [(3, "a"), (1, "b"), (2, "c")] {
            let silence =
                json!({"rule": rule, "duration": format!("{hours}h"), "reason": "upgrade"});
            let added = f.post("/api/v1/silences", &f.operator, &silence).await;
            assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        }
        let (silences, pages) = f.every_page("/api/v1/silences", 1).await;
        let rules: Vec<&str> = silences
            .iter()
            .map(|s| s["rule"].as_str().expect("rule"))
            .collect();
        assert_eq!((rules, pages), (vec!["b", "c", "a"], 3));

        // A second create of one name is a conflict, decided by the store's one insert.
        let again = f
            .post(
                "/api/v1/alert-rules",
                &f.admin,
                &json!({"name": "a", "condition": "cpu.total.usage_percent > 1"}),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
        let kept = f.get("/api/v1/alert-rules/a", &f.viewer).await;
        assert_eq!(
            kept.body["condition"], "cpu.total.usage_percent > 90",
            "{}",
            kept.text
        );
    });
}
