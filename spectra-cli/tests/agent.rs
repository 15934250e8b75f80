//! `spectra agent` against a real `spectra serve` on loopback: metrics arrive, commands run
//! under the agent's own rules, and nothing is lost while the server is away — including
//! across a SIGKILL of the agent.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spectra_agent::Status;

use common::{ServerProcess, cli_token, http_client};

const ENROLL: &str = "agent-test-enrollment-0123";

/// A running `spectra agent` with its state directory; killed when dropped.
struct AgentProcess {
    child: Child,
    state: PathBuf,
    log: PathBuf,
}

impl AgentProcess {
    fn start(server: &str, dir: &Path, config: &str) -> AgentProcess {
        let state = dir.join("agent-state");
        let config_path = dir.join("agent.toml");
        std::fs::write(&config_path, config).expect("config");
        let log = dir.join(format!("agent-{}.log", uuid::Uuid::new_v4().simple()));
        let child = Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args(["agent", "--server", server, "--enroll-token", ENROLL])
            .arg("--state-dir")
            .arg(&state)
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn spectra agent");
        AgentProcess { child, state, log }
    }

    fn status(&self) -> Option<Status> {
        Status::load(&self.state).ok()
    }

    /// Waits (up to a minute) until the status satisfies `done`.
    fn wait_for(&self, what: &str, done: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.status().filter(&done) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "agent: {what} did not happen; status {:?}; log:\n{}",
                self.status(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Fast schedules so a test sees batches within seconds; two collectors only.
fn config(extra: &str) -> String {
    let mut off: Vec<String> = spectra_core::collect::names()
        .into_iter()
        .filter(|n| !["cpu", "memory"].contains(n))
        .map(|n| format!("{n} = 'off'"))
        .collect();
    off.push("cpu = '1s'".into());
    off.push("memory = '1s'".into());
    format!(
        "batch_max_age = '1s'\nheartbeat = '1s'\n{extra}\n[collectors]\n{}\n",
        off.join("\n")
    )
}

async fn stored_envelopes(db: &str, agent_id: &str) -> usize {
    let store = spectra_server::store::open(db)
        .await
        .expect("open the store");
    store
        .metrics_between(Some(agent_id), None, 0, i64::MAX)
        .await
        .expect("rows")
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reports_and_runs_only_the_commands_it_allows() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let agent = AgentProcess::start(
        &server.url,
        dir.path(),
        &config("diagnostics = ['tcp_connect', 'disk_usage']\nroots = ['/usr/share']"),
    );
    let status = agent.wait_for("four envelopes sent", |s| s.envelopes_sent >= 4);
    let id = status.agent_id.clone();
    let identity = std::fs::metadata(agent.state.join("identity.json")).expect("identity");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(identity.permissions().mode() & 0o777, 0o600);

    let client = http_client(None);
    let get = |path: String| {
        let (client, admin, url) = (client.clone(), admin.clone(), server.url.clone());
        async move {
            let reply = client
                .get(format!("{url}{path}"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("get");
            assert!(reply.status().is_success(), "{path}: {}", reply.status());
            reply.json::<Value>().await.expect("json")
        }
    };
    let history = get(format!("/api/v1/metrics/query?agent={id}&type=cpu")).await;
    let series = history["series"].as_array().expect("series");
    assert!(!series.is_empty(), "cpu samples are queryable: {history}");
    let agents = get("/api/v1/agents".into()).await;
    assert!(agents.to_string().contains(&id), "{agents}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let queue = |diagnostic: Value| {
        let (client, admin, url, id) = (
            client.clone(),
            admin.clone(),
            server.url.clone(),
            id.clone(),
        );
        async move {
            let reply = client
                .post(format!("{url}/api/v1/agents/{id}/commands"))
                .bearer_auth(&admin)
                .json(&diagnostic)
                .send()
                .await
                .expect("queue");
            assert!(reply.status().is_success(), "{}", reply.status());
            reply.json::<Value>().await.expect("json")["id"]
                .as_str()
                .expect("command id")
                .to_owned()
        }
    };
    let finished = |command: String| async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let record = get(format!("/api/v1/commands/{command}")).await;
            if record["finished_at"].is_string() {
                return record;
            }
            assert!(Instant::now() < deadline, "command not finished: {record}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let connect =
        queue(json!({"kind": "tcp_connect", "args": {"host": "127.0.0.1", "port": port}})).await;
    let record = finished(connect).await;
    assert_eq!(record["status"], "succeeded", "{record}");
    assert_eq!(record["result"]["output"]["connected"], true, "{record}");

    // Not in the agent's list, and a disk usage outside its roots: refused, with the reason.
    for refused in [
        json!({"kind": "netstat"}),
        json!({"kind": "disk_usage", "args": {"path": "/etc"}}),
    ] {
        let record = finished(queue(refused.clone()).await).await;
        assert_eq!(record["status"], "failed", "{record}");
        assert_eq!(record["result"]["code"], "refused", "{record}");
        assert!(
            record["result"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{record}"
        );
    }
    let du = finished(
        queue(json!({"kind": "disk_usage", "args": {"path": "/usr/share", "top": 3}})).await,
    )
    .await;
    assert_eq!(du["status"], "succeeded", "{du}");
    assert_eq!(
        du["result"]["output"]["largest_files"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "{du}"
    );
    let status = agent.wait_for("the refusals counted", |s| s.commands_refused >= 2);
    assert!(status.commands_run >= 2, "{status:?}");
    drop(listener);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_while_the_server_is_away_or_the_agent_is_killed() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let env = [("SPECTRA_ENROLLMENT_TOKEN", ENROLL)];
    let mut server = ServerProcess::start(&["--db", &db], &env, dir.path());
    let listen = server.url.trim_start_matches("http://").to_owned();
    let agent = AgentProcess::start(&server.url, dir.path(), &config(""));
    let status = agent.wait_for("a first batch sent", |s| s.batches_sent >= 1);
    let id = status.agent_id.clone();

    // The server goes away: the agent keeps collecting into its spool.
    let stopped = server.signal_and_wait("TERM", Duration::from_secs(30));
    assert!(stopped.success(), "{stopped:?}");
    let away = agent.wait_for("three batches spooled", |s| s.spool_batches >= 3);
    assert!(
        away.last_error.is_some(),
        "the failure is reported: {away:?}"
    );

    // SIGKILL with a non-empty spool: the next run resumes it.
    let mut agent = agent;
    agent.child.kill().expect("kill");
    agent.child.wait().expect("wait");
    let spooled_files = std::fs::read_dir(agent.state.join("spool"))
        .expect("spool")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "batch"))
        })
        .count();
    assert!(
        spooled_files >= 3,
        "{spooled_files} batches left in the spool"
    );

    let _server = ServerProcess::start_on(&listen, &["--db", &db], &env, dir.path());
    drop(agent);
    let agent = AgentProcess::start(&format!("http://{listen}"), dir.path(), &config(""));
    agent.wait_for("the spool drained", |s| {
        // The batch sent before the outage, and at least the three spooled during it.
        s.spool_batches == 0 && s.batches_sent > 3
    });
    // Stop it and send the last in-memory batch with --once (collectors off): then every
    // envelope the agent counted as spooled is on the server, exactly once.
    let mut agent = agent;
    let pid = agent.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let exited = agent.child.wait().expect("wait");
    assert!(exited.success(), "{exited:?}");
    let off: String = spectra_core::collect::names()
        .into_iter()
        .map(|n| format!("{n} = 'off'\n"))
        .collect();
    let once_config = dir.path().join("once.toml");
    std::fs::write(&once_config, format!("[collectors]\n{off}")).expect("config");
    let once = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["agent", "--once", "--server", &format!("http://{listen}")])
        .arg("--state-dir")
        .arg(&agent.state)
        .arg("--config")
        .arg(&once_config)
        .output()
        .expect("agent --once");
    assert!(
        once.status.success(),
        "{}",
        String::from_utf8_lossy(&once.stderr)
    );
    let last = agent.status().expect("status");
    assert_eq!(last.spool_batches, 0, "{last:?}");
    assert_eq!(last.envelopes_sent, last.envelopes_spooled, "{last:?}");
    let stored = stored_envelopes(&db, &id).await;
    assert_eq!(
        stored as u64, last.envelopes_sent,
        "every envelope the agent sent is stored once"
    );
}
