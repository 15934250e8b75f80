//! Governance through `oneshot` on SQLite and PostgreSQL: real trees crawled by core's
//! `Crawl` over a real scan, uploaded as index batches; usage, stale files and teams checked
//! against what the test made (exact), and telemetry deciding staleness.

mod harness;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_core::index::{Baseline, Crawl};
use spectra_core::protocol::{
    self, AccessEvent, AccessOp, Compression, IndexBatch, TelemetryBatch,
};
use spectra_core::scan::{ScanOptions, Scanner};

use harness::Fixture;

const DAY: Duration = Duration::from_secs(86_400);

/// A file the test made: its owner key and what it should count for.
struct Made {
    owner: String,
    size: u64,
    disk: u64,
}

/// Writes `size` bytes at `path`, owned by `uid` when the test may give files away, last
/// read and modified `age` ago.
fn make(path: &Path, size: usize, uid: Option<u32>, age: Duration) -> Made {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(path, vec![7u8; size]).expect("write");
    if let Some(uid) = uid {
        std::os::unix::fs::chown(path, Some(uid), None).expect("chown");
    }
    let at = SystemTime::now() - age;
    let file = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    file.set_times(std::fs::FileTimes::new().set_accessed(at).set_modified(at))
        .expect("utimensat");
    let meta = std::fs::metadata(path).expect("stat");
    Made {
        owner: spectra_core::protocol::owner_key(
            name_in_passwd(meta.uid()).as_deref(),
            Some(meta.uid()),
        ),
        size: meta.size(),
        disk: meta.blocks() * 512,
    }
}

/// The name /etc/passwd gives `uid` (the test's own user; the other uids have none).
fn name_in_passwd(uid: u32) -> Option<String> {
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_owned())
        })
}

/// uids the test can give files to (none unless root), never names this host resolves.
fn other_uids() -> Vec<u32> {
    if rustix_is_root() {
        vec![4_000_001, 4_000_002]
    } else {
        Vec::new()
    }
}

fn rustix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Crawls `root` as `backend` against `base`; the batches and the baseline to keep.
fn crawl(backend: &str, root: &Path, base: Option<Baseline>) -> (Vec<IndexBatch>, Baseline) {
    let scanner = Scanner::new(ScanOptions::new(root)).expect("scanner");
    let mut crawl = Crawl::new(backend, root, base, 3).expect("crawl");
    let mut batches = Vec::new();
    let mut stream = scanner.stream(256);
    for record in &mut stream {
        batches.extend(crawl.add(&record));
    }
    let report = stream.finish().expect("scan");
    let (last, baseline) = crawl.finish(!report.partial);
    batches.extend(last);
    (batches, baseline)
}

async fn upload(f: &Fixture, token: &str, batches: &[IndexBatch]) -> Vec<Value> {
    let mut answers = Vec::new();
    for batch in batches {
        let body = protocol::encode(batch, Compression::Gzip).expect("encode");
        let reply = f
            .request(Method::POST, "/api/v1/index", Some(token), body)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        answers.push(reply.body);
    }
    answers
}

/// Owner → (files, size, disk) of what the test made and kept.
fn truth(files: &BTreeMap<PathBuf, Made>) -> BTreeMap<String, (i64, i64, i64)> {
    let mut out: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for made in files.values() {
        let row = out.entry(made.owner.clone()).or_default();
        row.0 += 1;
        row.1 += made.size as i64;
        row.2 += made.disk as i64;
    }
    out
}

async fn usage(f: &Fixture, query: &str) -> BTreeMap<String, (i64, i64, i64)> {
    let reply = f.get(&format!("/api/v1/usage?{query}"), &f.viewer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            (
                row["name"].as_str().unwrap_or("(none)").to_owned(),
                (
                    row["files"].as_i64().expect("files"),
                    row["size_bytes"].as_i64().expect("size"),
                    row["disk_bytes"].as_i64().expect("disk"),
                ),
            )
        })
        .collect()
}

async fn stale_paths(f: &Fixture, query: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/api/v1/stale?{query}&limit=2&cursor={c}"),
            None => format!("/api/v1/stale?{query}&limit=2"),
        };
        let reply = f.get(&uri, &f.viewer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        for item in reply.body["items"].as_array().expect("items") {
            out.push((
                item["path"].as_str().expect("path").to_owned(),
                item["decided_by"].as_str().expect("source").to_owned(),
            ));
        }
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test]
async fn the_index_gives_exact_usage_and_stale_files_across_crawls() {
    each_store!(|f| {
        let (_, agent) = f.enroll("files-1").await;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("data");
        let mut files = twelve_files(&root);
        let uids = other_uids();
        let uid = |i: usize| uids.get(i % (uids.len() + 1)).copied();
        let backend = "files-1:/data";
        let (batches, base) = crawl(backend, &root, None);
        assert_eq!(
            batches.iter().map(|b| b.entries.len()).collect::<Vec<_>>(),
            [3, 3, 3, 3, 0],
            "12 files in batches of 3, then the end alone"
        );
        assert!(batches[..4].iter().all(|b| b.end.is_none()) && batches[4].end.is_some());
        let answers = upload(&f, &agent, &batches).await;
        let last = answers.last().expect("answers");
        assert_eq!(last["files"], 12, "{last}");
        assert_eq!(last["resync"], false);
        assert_eq!(usage(&f, "group_by=user").await, truth(&files));

        // A replayed batch changes nothing.
        let replay = upload(&f, &agent, &batches[..1]).await;
        assert_eq!(replay[0]["duplicate"], true);
        assert_eq!(usage(&f, "group_by=user").await, truth(&files));

        // By backend: one row with everything.
        let all = truth(&files)
            .values()
            .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
        let by_backend = usage(&f, "group_by=backend").await;
        assert_eq!(by_backend.get(backend), Some(&all));

        // Stale: the files made 200 days ago, by atime, largest first, over pages of 2.
        let mut expected: Vec<(u64, String)> = files
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                let name = files.keys().nth(*i).expect("key");
                let n: usize = name.file_name().expect("name").to_str().expect("utf8")[1..]
                    .parse()
                    .expect("number");
                n % 2 == 0
            })
            .map(|(_, (path, made))| (made.size, path.display().to_string()))
            .collect();
        expected.sort_by(|a, b| b.cmp(a));
        let stale = stale_paths(&f, "days=90").await;
        assert_eq!(
            stale.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
            expected.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>()
        );
        assert!(
            stale.iter().all(|(_, source)| source == "atime"),
            "{stale:?}"
        );
        let big = stale_paths(&f, "days=90&min_size=9KB").await;
        assert_eq!(
            big.len(),
            expected.iter().filter(|(s, _)| *s >= 9000).count()
        );

        // An unchanged tree: one batch with nothing in it, and the same usage.
        let (same, base) = crawl(backend, &root, Some(base));
        assert_eq!(same.len(), 1);
        assert!(same[0].entries.is_empty() && same[0].removed.is_empty());
        upload(&f, &agent, &same).await;
        assert_eq!(usage(&f, "group_by=user").await, truth(&files));

        // Changes: one file grows, one is deleted, one is new; a delta crawl sends them.
        let grown = root.join("d0/f0");
        files.insert(grown.clone(), make(&grown, 50_000, uid(0), 200 * DAY));
        let gone = root.join("d1/f1");
        std::fs::remove_file(&gone).expect("remove");
        files.remove(&gone);
        let new = root.join("new/f99");
        files.insert(new.clone(), make(&new, 77, uid(1), DAY));
        let (delta, base) = crawl(backend, &root, Some(base));
        let sent: usize = delta.iter().map(|b| b.entries.len()).sum();
        assert_eq!(sent, 2, "the grown file and the new one");
        let answers = upload(&f, &agent, &delta).await;
        assert_eq!(answers.last().expect("end")["files"], 12);
        assert_eq!(usage(&f, "group_by=user").await, truth(&files));

        // A delta against a crawl the server did not apply last is refused whole.
        let (stale_delta, _) = crawl(backend, &root, Some(base_with_other_id(&base)));
        let body = protocol::encode(&stale_delta[0], Compression::Gzip).expect("encode");
        let reply = f
            .request(Method::POST, "/api/v1/index", Some(&agent), body)
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text);
        assert!(reply.text.contains("full crawl"), "{}", reply.text);

        // A full crawl (the agent lost its baseline) removes what it no longer saw.
        std::fs::remove_file(root.join("d2/f2")).expect("remove");
        files.remove(&root.join("d2/f2"));
        let (full, _) = crawl(backend, &root, None);
        let answers = upload(&f, &agent, &full).await;
        assert_eq!(answers.last().expect("end")["files"], 11);
        assert_eq!(usage(&f, "group_by=user").await, truth(&files));
    });
}

/// An agent `files-1` that indexed 12 files under `DIR/data` (half 200 days old, owned by
/// the uids the test may use) as backend `files-1:/data`: the directory (kept while the test
/// runs), the files made, and the backend's name.
struct Indexed {
    dir: tempfile::TempDir,
    files: BTreeMap<PathBuf, Made>,
    backend: &'static str,
}

/// 12 files under `root` in three directories, of 1,000 to 12,000 bytes, every other one 200
/// days old, owned in turn by the uids the test may use.
fn twelve_files(root: &Path) -> BTreeMap<PathBuf, Made> {
    let uids = other_uids();
    let uid = |i: usize| uids.get(i % (uids.len() + 1)).copied();
    let mut files = BTreeMap::new();
    for i in 0..12usize {
        let path = root.join(format!("d{}/f{i}", i % 3));
        let age = if i % 2 == 0 { 200 * DAY } else { DAY };
        files.insert(path.clone(), make(&path, 1000 * (i + 1), uid(i), age));
    }
    files
}

async fn indexed(f: &Fixture) -> Indexed {
    let (_, agent) = f.enroll("files-1").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("data");
    let files = twelve_files(&root);
    let backend = "files-1:/data";
    let (batches, _) = crawl(backend, &root, None);
    let answers = upload(f, &agent, &batches).await;
    assert_eq!(answers.last().expect("answers")["files"], 12);
    Indexed {
        dir,
        files,
        backend,
    }
}

#[tokio::test]
async fn teams_and_quotas_follow_the_index() {
    each_store!(|f| {
        let Indexed {
            dir: _dir,
            files,
            backend,
        } = indexed(&f).await;
        // Teams: usage by team is the sum of its users'; stale narrows to a team.
        let owners: Vec<String> = truth(&files).keys().cloned().collect();
        let reply = f
            .send(
                Method::PUT,
                &format!("/api/v1/teams/vision/members/{}", owners[0]),
                &f.admin,
                &json!({}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let by_team = usage(&f, "group_by=team").await;
        assert_eq!(by_team.get("vision"), truth(&files).get(&owners[0]));
        if owners.len() > 1 {
            let rest = owners[1..]
                .iter()
                .filter_map(|o| truth(&files).get(o).copied())
                .fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
            assert_eq!(by_team.get("(none)"), Some(&rest));
        }
        let team_stale = stale_paths(&f, "days=90&team=vision").await;
        let all_stale = stale_paths(&f, "days=90").await;
        let of_owner = |path: &str| files.get(Path::new(path)).map(|m| m.owner.clone());
        assert_eq!(
            team_stale,
            all_stale
                .iter()
                .filter(|(p, _)| of_owner(p).as_deref() == Some(owners[0].as_str()))
                .cloned()
                .collect::<Vec<_>>()
        );
        let reply = f.get("/api/v1/teams", &f.viewer).await;
        assert_eq!(reply.body["items"][0]["team"], "vision", "{}", reply.text);
        let reply = f
            .send(
                Method::PUT,
                "/api/v1/teams/vision/members/x",
                &f.viewer,
                &json!({}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "viewers read only");

        // Quotas: one model for teams, users and backends, with soft and hard limits; each
        // change of level is recorded, and the team is marked in the answers that show it.
        let used = truth(&files)[&owners[0]].2;
        let team_quota = "/api/v1/quota/team:vision";
        let reply = f
            .send(
                Method::PUT,
                team_quota,
                &f.admin,
                &json!({"soft": used - 1, "hard": "1TB"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            (
                &reply.body["level"],
                &reply.body["used_bytes"],
                &reply.body["source"]
            ),
            (&json!("soft"), &json!(used), &json!("index")),
            "{}",
            reply.text
        );
        assert_eq!(reply.body["over"], false);
        assert!(reply.body["since"].is_string(), "{}", reply.text);
        let reply = f
            .send(
                Method::PUT,
                team_quota,
                &f.admin,
                &json!({"soft": used - 2, "hard": used - 1}),
            )
            .await;
        assert_eq!(reply.body["level"], "hard", "{}", reply.text);
        assert_eq!(reply.body["over"], true);
        let reply = f.get("/api/v1/usage?group_by=team", &f.viewer).await;
        let vision = reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|row| row["name"] == "vision")
            .cloned()
            .expect("vision");
        assert_eq!(vision["quota"]["level"], "hard", "{vision}");
        let reply = f.get("/api/v1/teams/vision", &f.viewer).await;
        assert_eq!(reply.body["quota"]["level"], "hard", "{}", reply.text);
        let reply = f
            .send(Method::PUT, team_quota, &f.admin, &json!({"hard": "1TB"}))
            .await;
        assert_eq!(reply.body["level"], "ok", "{}", reply.text);
        let crossings = f
            .state
            .store
            .quota_crossings(chrono::DateTime::UNIX_EPOCH)
            .await
            .expect("crossings");
        let levels: Vec<(&str, &str)> = crossings
            .iter()
            .filter(|c| c.subject == "team:vision")
            .map(|c| (c.previous.as_str(), c.level.as_str()))
            .collect();
        assert_eq!(levels, [("ok", "soft"), ("soft", "hard"), ("hard", "ok")]);
        // A backend's quota, and a user's quota on one backend only.
        let reply = f
            .send(
                Method::PUT,
                &format!("/api/v1/quota/backend:{}", urlencode(backend)),
                &f.admin,
                &json!({"hard": 1}),
            )
            .await;
        assert_eq!(reply.body["level"], "hard", "{}", reply.text);
        assert_eq!(reply.body["used_bytes"], all_disk(&files));
        let reply = f
            .send(
                Method::PUT,
                &format!("/api/v1/quota/user:{}?backend=elsewhere", owners[0]),
                &f.admin,
                &json!({"hard": 1}),
            )
            .await;
        assert_eq!(
            (
                &reply.body["used_bytes"],
                &reply.body["level"],
                &reply.body["source"]
            ),
            (&json!(0), &json!("ok"), &json!("snapshots")),
            "a backend the index does not have: no index to count, and no snapshots: {}",
            reply.text
        );
        for (body, field) in [
            (json!({"soft": 10, "hard": 5}), "soft"),
            (json!({}), "soft, hard"),
            (json!({"hard": "lots"}), "hard"),
            (json!({"hard": -1}), "hard"),
        ] {
            let reply = f.send(Method::PUT, team_quota, &f.admin, &body).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{body}: {}",
                reply.text
            );
            assert!(reply.text.contains(field), "{body}: {}", reply.text);
        }
    });
}

#[tokio::test]
async fn backends_growth_and_every_list_page_and_bad_input_is_named() {
    each_store!(|f| {
        let Indexed {
            backend, dir: _dir, ..
        } = indexed(&f).await;
        // Backends and growth.
        let reply = f.get("/api/v1/backends", &f.viewer).await;
        assert_eq!(reply.body["items"][0]["name"], backend, "{}", reply.text);
        assert_eq!(reply.body["items"][0]["files"], 12);
        let reply = f
            .get(
                &format!("/api/v1/growth?backend={}&period=30d", urlencode(backend)),
                &f.viewer,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["points"][0]["files"], 12, "{}", reply.text);

        // Every list pages through its cursors to what one answer gives.
        for (user, team) in [("zed", "zeta"), ("otto", "ops"), ("vera", "vision")] {
            let reply = f
                .send(
                    Method::PUT,
                    &format!("/api/v1/teams/{team}/members/{user}"),
                    &f.admin,
                    &json!({}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
        for path in [
            "/api/v1/teams",
            "/api/v1/usage?group_by=user",
            "/api/v1/usage?group_by=team",
            "/api/v1/backends",
        ] {
            let whole = f.get(path, &f.viewer).await;
            let whole = whole.body["items"].as_array().expect("items").clone();
            assert!(!whole.is_empty(), "{path}: {whole:?}");
            assert_eq!(f.every_page(path, 1).await.0, whole, "{path}");
        }
        let teams = f.every_page("/api/v1/teams", 1).await.0;
        let names: Vec<_> = teams.iter().map(|t| t["team"].as_str()).collect();
        assert_eq!(names, [Some("ops"), Some("vision"), Some("zeta")]);

        // Bad input says what and where.
        let reply = f.get("/api/v1/stale?min_size=lots", &f.viewer).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.text.contains("min_size"), "{}", reply.text);
        let reply = f.get("/api/v1/stale?cursor=nope", &f.viewer).await;
        assert!(reply.text.contains("cursor"), "{}", reply.text);
        let reply = f.get("/api/v1/usage?group_by=planet", &f.viewer).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    });
}

/// The owner key of the file at `path`, as the agent files it.
fn files_owner(path: &str) -> String {
    let uid = std::fs::metadata(path).expect("stat").uid();
    spectra_core::protocol::owner_key(name_in_passwd(uid).as_deref(), Some(uid))
}

fn all_disk(files: &BTreeMap<PathBuf, Made>) -> u64 {
    files.values().map(|made| made.disk).sum()
}

fn base_with_other_id(base: &Baseline) -> Baseline {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("b");
    base.save(&path).expect("save");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[8] ^= 0xff;
    std::fs::write(&path, bytes).expect("write");
    Baseline::load(&path).expect("load").expect("some")
}

fn urlencode(text: &str) -> String {
    text.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn telemetry_decides_staleness_and_is_applied_once() {
    each_store!(|f| {
        let (_, agent) = f.enroll("files-2").await;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("t");
        let old = root.join("old.bin");
        let read = root.join("read.bin");
        let statted = root.join("statted.bin");
        for path in [&old, &read, &statted] {
            make(path, 5000, None, 300 * DAY);
        }
        let (batches, _) = crawl("files-2:/t", &root, None);
        upload(&f, &agent, &batches).await;
        assert_eq!(stale_paths(&f, "days=90").await.len(), 3);

        let event = |op, path: &Path| AccessEvent::new(op, path).with_user("ana").with_bytes(4096);
        let batch = TelemetryBatch::new(vec![
            event(AccessOp::Read, &read),
            event(AccessOp::Read, &read),
            // A stat does not make a file fresh.
            event(AccessOp::Stat, &statted),
        ]);
        let body = protocol::encode(&batch, Compression::Gzip).expect("encode");
        let reply = f
            .request(
                Method::POST,
                "/api/v1/telemetry",
                Some(&agent),
                body.clone(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["events"], 3);
        let again = f
            .request(Method::POST, "/api/v1/telemetry", Some(&agent), body)
            .await;
        assert_eq!(again.body["duplicate"], true, "{}", again.text);
        // Another batch adds to the same file's, user's and day's aggregate.
        let more = TelemetryBatch::new(vec![event(AccessOp::Read, &read)]);
        let reply = f
            .request(
                Method::POST,
                "/api/v1/telemetry",
                Some(&agent),
                protocol::encode(&more, Compression::Gzip).expect("encode"),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

        let stale = stale_paths(&f, "days=90").await;
        let names: std::collections::BTreeSet<(String, String)> = stale
            .iter()
            .map(|(path, source)| {
                let name = path.rsplit('/').next().unwrap_or_default();
                (name.to_owned(), source.clone())
            })
            .collect();
        let expected: std::collections::BTreeSet<(String, String)> = [
            ("old.bin".to_owned(), "atime".to_owned()),
            ("statted.bin".to_owned(), "atime".to_owned()),
        ]
        .into();
        assert_eq!(
            names, expected,
            "the read file is fresh, the stat did not count"
        );
        assert!(!stale.iter().any(|(p, _)| p.ends_with("read.bin")));
        // A year from now everything is stale again, and the read file says telemetry decided.
        let reply = f.get("/api/v1/stale?days=0", &f.viewer).await;
        let read_item = reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|item| {
                item["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("read.bin"))
            })
            .cloned()
            .expect("the read file, stale after 0 days");
        assert_eq!(read_item["decided_by"], "telemetry");

        let users = usage(&f, "group_by=user").await;
        assert!(users.contains_key("ana"), "ana read something: {users:?}");
        let reply = f.get("/api/v1/usage?group_by=user", &f.viewer).await;
        let ana = reply.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|row| row["name"] == "ana")
            .cloned()
            .expect("ana");
        assert!(ana["last_access"].is_string(), "{ana}");

        // Everything ana read, and everything the files' owner owns.
        let reply = f.get("/api/v1/user/ana", &f.viewer).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let reads = &reply.body["read"][0];
        assert_eq!(
            (
                &reads["backend"],
                &reads["files"],
                &reads["events"],
                &reads["reads"],
                &reads["bytes_read"]
            ),
            (
                &json!("files-2:/t"),
                &json!(2),
                &json!(4),
                &json!(3),
                &json!(12288)
            ),
            "{}",
            reply.text
        );
        assert_eq!(reply.body["owned"], json!([]));
        assert_eq!(
            reply.body["recently_used"].as_array().map(Vec::len),
            Some(2)
        );
        let owner = stale[0].0.clone();
        let owner = files_owner(&owner);
        let reply = f.get(&format!("/api/v1/user/{owner}"), &f.viewer).await;
        assert_eq!(reply.body["owned"][0]["files"], 3, "{}", reply.text);
        assert_eq!(
            reply.body["largest_files"].as_array().map(Vec::len),
            Some(3)
        );
        let reply = f.get("/api/v1/user/nobody-at-all", &f.viewer).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);

        // An event outside every indexed root of this agent is refused, naming it.
        let outside = TelemetryBatch::new(vec![
            event(AccessOp::Read, &read),
            event(AccessOp::Read, Path::new("/elsewhere/x")),
        ]);
        let body = protocol::encode(&outside, Compression::None).expect("encode");
        let reply = f
            .request(Method::POST, "/api/v1/telemetry", Some(&agent), body)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
        assert!(reply.text.contains("events[1]"), "{}", reply.text);
        // Viewers cannot upload.
        let reply = f
            .request(
                Method::POST,
                "/api/v1/telemetry",
                Some(&f.viewer),
                b"{}".to_vec(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    });
}

#[tokio::test]
async fn quotas_without_an_index_sum_the_newest_snapshots_owners() {
    use spectra_core::protocol::{self, Compression, Snapshot};
    use spectra_core::scan::OwnerUsage;
    each_store!(|f| {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("f"), b"data").expect("write");
        let mut report = Scanner::new(ScanOptions::new(dir.path()))
            .expect("scanner")
            .scan()
            .expect("scan");
        let owner = |uid: u32, user: &str, bytes: u64| OwnerUsage {
            uid: Some(uid),
            user: Some(user.to_owned()),
            count: 1,
            bytes,
        };
        for (host, alice) in [("a", 3_000), ("b", 4_000)] {
            let (_, token) = f.enroll(host).await;
            report.owners = vec![owner(1000, "alice", alice), owner(1001, "bob", 7)];
            let body = protocol::encode(&Snapshot::new(host, report.clone()), Compression::Gzip)
                .expect("encode");
            let sent = f
                .request(Method::POST, "/api/v1/ingest", Some(&token), body)
                .await;
            assert_eq!(sent.status, StatusCode::OK, "{}", sent.text);
        }
        // An older snapshot of host a does not count: only the newest of each (agent, root).
        let reply = f
            .send(
                Method::PUT,
                "/api/v1/quota/user:alice",
                &f.admin,
                &json!({"hard": 5000}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(
            (
                &reply.body["used_bytes"],
                &reply.body["level"],
                &reply.body["source"]
            ),
            (&json!(7_000), &json!("hard"), &json!("snapshots")),
            "{}",
            reply.text
        );
        let (listed, _) = f.every_page("/api/v1/quota", 10).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["used_bytes"], 7_000);
    });
}
