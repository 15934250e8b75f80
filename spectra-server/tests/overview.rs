//! `GET /api/v1/overview` on both stores: the tally, current values from the newest
//! samples, the CPU trend from rollups, and filters, search, sorting and paging done by the
//! server.

mod harness;

use axum::http::{Method, StatusCode};
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use spectra_core::protocol::{self, Compression, Envelope, MetricBatch};

use harness::Fixture;

fn envelope(kind: &str, host: &str, data: Value, at: chrono::DateTime<Utc>) -> Envelope {
    let mut envelope = Envelope::new(kind, host, data);
    envelope.timestamp = at;
    envelope
}

async fn upload(f: &Fixture, token: &str, envelopes: Vec<Envelope>) {
    let body =
        protocol::encode(&MetricBatch::new(None, envelopes), Compression::Gzip).expect("encode");
    let reply = f
        .request(Method::POST, "/api/v1/metrics", Some(token), body)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// Enrolls `host` with `labels` and `os`; its id and token.
async fn agent(f: &Fixture, host: &str, os: &str, labels: Value) -> (String, String) {
    let body = json!({"enrollment_token": harness::ENROLL, "hostname": host, "os": os,
                      "version": "1", "machine_id": format!("m-{host}"), "labels": labels});
    let reply = f.register(body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    (
        reply.body["agent_id"].as_str().expect("id").to_owned(),
        reply.body["agent_token"]
            .as_str()
            .expect("token")
            .to_owned(),
    )
}

fn hosts(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|i| i["hostname"].as_str().expect("hostname"))
        .collect()
}

#[tokio::test]
async fn one_request_tallies_the_fleet_and_pages_the_table_as_asked() {
    each_store!(|f| {
        let now = Utc::now();
        let fleet = [
            (
                "web-1",
                "linux",
                json!({"env": "prod", "role": "web"}),
                Some((12.0, 0.25, 40.0)),
            ),
            (
                "web-2",
                "linux",
                json!({"env": "prod", "role": "web"}),
                Some((87.5, 0.5, 91.0)),
            ),
            (
                "db-1",
                "linux",
                json!({"env": "prod", "role": "db"}),
                Some((55.0, 0.75, 10.0)),
            ),
            ("mac-1", "macos", json!({"env": "dev"}), None),
        ];
        let mut ids = std::collections::HashMap::new();
        for (host, os, labels, vitals) in &fleet {
            let (id, token) = agent(&f, host, os, labels.clone()).await;
            ids.insert(*host, id);
            if let Some((cpu, memory, disk)) = vitals {
                let earlier = now - Duration::minutes(10);
                upload(
                    &f,
                    &token,
                    vec![
                        envelope(
                            "cpu",
                            host,
                            json!({"total": {"usage_percent": cpu / 2.0}}),
                            earlier,
                        ),
                        envelope("cpu", host, json!({"total": {"usage_percent": cpu}}), now),
                        envelope(
                            "memory",
                            host,
                            json!({"total": 8_000_000_000u64, "used": (8e9 * memory) as u64}),
                            now,
                        ),
                        envelope(
                            "disk",
                            host,
                            json!({"mount_point": "/boot", "usage_percent": 99.0}),
                            now,
                        ),
                        envelope(
                            "disk",
                            host,
                            json!({"mount_point": "/", "usage_percent": disk}),
                            now,
                        ),
                    ],
                )
                .await;
            }
        }
        // A stale sample is not "now": db-1's memory came 20 minutes ago.
        let (_, old_token) = agent(&f, "old-1", "linux", json!({"env": "prod"})).await;
        upload(
            &f,
            &old_token,
            vec![envelope(
                "cpu",
                "old-1",
                json!({"total": {"usage_percent": 5.0}}),
                now - Duration::minutes(20),
            )],
        )
        .await;
        spectra_server::maintenance::roll_up(&f.state.store, &f.state.config.retention)
            .await
            .expect("rollup");

        let all = f.get("/api/v1/overview?limit=1000", &f.viewer).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.text);
        assert_eq!(all.body["agents"]["total"], 5);
        assert_eq!(all.body["agents"]["online"], 4, "{}", all.body["agents"]);
        assert_eq!(
            all.body["agents"]["offline"], 1,
            "mac-1 was never heard from: {}",
            all.body["agents"]
        );
        assert_eq!(all.body["os_values"], json!(["linux", "macos"]));
        assert_eq!(all.body["label_keys"], json!(["env", "role"]));
        assert_eq!(all.body["total_matching"], 5);
        let items = all.body["items"].as_array().expect("items");
        assert_eq!(hosts(items), ["db-1", "mac-1", "old-1", "web-1", "web-2"]);
        let web2 = &items[4];
        assert_eq!(web2["cpu_percent"], 87.5);
        assert_eq!(web2["memory_percent"], 50.0);
        assert_eq!(web2["disk_percent"], 91.0, "/ rather than the fuller /boot");
        assert_eq!(web2["disk_mount"], "/");
        assert_eq!(items[1]["cpu_percent"], Value::Null, "mac-1 sent nothing");
        assert_eq!(
            items[2]["cpu_percent"],
            Value::Null,
            "old-1's sample is not fresh"
        );
        let trend = web2["cpu_trend"].as_array().expect("trend");
        assert_eq!(trend.len(), 12);
        let points: Vec<f64> = trend.iter().filter_map(Value::as_f64).collect();
        // Two samples, in one or two buckets; a 5-minute boundary crossed since the upload
        // adds the open bucket, which the newest sample stands for.
        assert!(!points.is_empty() && points.len() <= 3, "{trend:?}");
        assert_eq!(
            trend.last().and_then(Value::as_f64),
            Some(87.5),
            "the newest bucket last: {trend:?}"
        );
        assert!(
            points.iter().all(|p| [43.75, 87.5].contains(p)),
            "{trend:?}"
        );

        let no_data = items[1]["cpu_trend"].as_array().expect("trend");
        assert!(
            no_data.iter().all(Value::is_null),
            "mac-1 sent nothing: {no_data:?}"
        );
        let stale = items[2]["cpu_trend"].as_array().expect("trend");
        assert_eq!(
            stale.last(),
            Some(&Value::Null),
            "old-1 has no fresh sample: {stale:?}"
        );

        let by_cpu = f
            .get("/api/v1/overview?sort=cpu&order=desc", &f.viewer)
            .await;
        assert_eq!(
            hosts(by_cpu.body["items"].as_array().expect("items")),
            ["web-2", "db-1", "web-1", "mac-1", "old-1"],
            "no value last"
        );
        let by_memory = f.get("/api/v1/overview?sort=memory", &f.viewer).await;
        assert_eq!(
            hosts(&by_memory.body["items"].as_array().expect("items")[..3]),
            ["web-1", "web-2", "db-1"]
        );

        let (paged, pages) = f
            .every_page("/api/v1/overview?sort=disk&order=desc", 2)
            .await;
        assert_eq!(pages, 3);
        assert_eq!(hosts(&paged), ["web-2", "web-1", "db-1", "mac-1", "old-1"]);

        let prod_web = f
            .get("/api/v1/overview?label=env=prod,role=web", &f.viewer)
            .await;
        assert_eq!(
            hosts(prod_web.body["items"].as_array().expect("items")),
            ["web-1", "web-2"]
        );
        assert_eq!(prod_web.body["total_matching"], 2);
        assert_eq!(
            prod_web.body["agents"]["total"], 5,
            "the tally is the fleet's, not the filter's"
        );
        let mac = f.get("/api/v1/overview?os=macos", &f.viewer).await;
        assert_eq!(
            hosts(mac.body["items"].as_array().expect("items")),
            ["mac-1"]
        );
        let search = f.get("/api/v1/overview?q=ROLE%3Ddb", &f.viewer).await;
        assert_eq!(
            hosts(search.body["items"].as_array().expect("items")),
            ["db-1"]
        );
        let by_id = f
            .get(
                &format!("/api/v1/overview?q={}", &ids["web-1"][..8]),
                &f.viewer,
            )
            .await;
        assert_eq!(
            hosts(by_id.body["items"].as_array().expect("items")),
            ["web-1"]
        );
        let offline = f.get("/api/v1/overview?status=offline", &f.viewer).await;
        assert_eq!(
            hosts(offline.body["items"].as_array().expect("items")),
            ["mac-1"]
        );
        assert_eq!(offline.body["next_cursor"], Value::Null);
        let none = f.get("/api/v1/overview?status=pending", &f.viewer).await;
        assert_eq!(none.body["items"], json!([]));

        for (query, field) in [
            ("sort=size", "sort:"),
            ("order=up", "order:"),
            ("status=gone", "status:"),
            ("label=env", "label:"),
            ("limit=0", "limit:"),
            ("cursor=zz", "cursor:"),
            ("colour=red", ""),
        ] {
            let reply = f.get(&format!("/api/v1/overview?{query}"), &f.viewer).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{query}: {}",
                reply.text
            );
            assert!(
                reply.body["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(field),
                "{query}: {}",
                reply.text
            );
        }
        let agent_token = f.get("/api/v1/overview", &old_token).await;
        assert_eq!(agent_token.status, StatusCode::FORBIDDEN);
    });
}
