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
        AgentProcess::start_named("agent", server, dir, config)
    }

    /// An agent whose state and configuration are `dir/NAME-state` and `dir/NAME.toml`.
    fn start_named(name: &str, server: &str, dir: &Path, config: &str) -> AgentProcess {
        let state = dir.join(format!("{name}-state"));
        let config_path = dir.join(format!("{name}.toml"));
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

    /// Sends what a stopped agent left in its spool, with `--once` and every collector off.
    fn send_the_rest(&self, server: &str) {
        let off: String = spectra_core::collect::names()
            .into_iter()
            .map(|n| format!("{n} = 'off'\n"))
            .collect();
        let once_config = self.state.with_file_name("once.toml");
        std::fs::write(&once_config, format!("[collectors]\n{off}")).expect("config");
        let once = Command::new(env!("CARGO_BIN_EXE_spectra"))
            .args(["agent", "--once", "--server", server])
            .arg("--state-dir")
            .arg(&self.state)
            .arg("--config")
            .arg(&once_config)
            .output()
            .expect("agent --once");
        assert!(
            once.status.success(),
            "{}",
            String::from_utf8_lossy(&once.stderr)
        );
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

/// A server over `db` with the policy "logs" (delete every `.log`), an admin token and a
/// client.
async fn hub_with_a_log_policy(dir: &Path, db: &str) -> (ServerProcess, String, reqwest::Client) {
    let admin = cli_token(db, "admin");
    let server = ServerProcess::start(&["--db", db], &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)], dir);
    let client = http_client(None);
    let created = client
        .post(format!("{}/api/v1/policies", server.url))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "logs", "rules": ["extension == 'log'"], "action": "delete",
                      "limits": {"max_fraction": 1.0}}),
        )
        .send()
        .await
        .expect("create policy");
    assert!(created.status().is_success(), "{}", created.status());
    (server, admin, client)
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
    let scanned = dir.path().join("scanned");
    std::fs::create_dir_all(scanned.join("sub")).expect("mkdir");
    std::fs::write(scanned.join("sub/data.bin"), vec![7u8; 50_000]).expect("write");
    let agent = AgentProcess::start(
        &server.url,
        dir.path(),
        &config(&format!(
            "diagnostics = ['tcp_connect', 'disk_usage']\nroots = ['/usr/share']\n\
             labels = {{ env = 'prod' }}\n\
             [[scan]]\nroot = '{}'\nevery = '1h'",
            scanned.display()
        )),
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
    let described = get(format!("/api/v1/agents/{id}")).await;
    assert_eq!(
        described["capabilities"],
        json!(["cpu", "memory", "tcp_connect", "disk_usage"]),
        "the enabled collectors that work here and the accepted diagnostics: {described}"
    );

    // The scheduled scan arrives as a snapshot, and growth reads it.
    agent.wait_for("the scan's snapshot sent", |s| s.snapshots_sent >= 1);
    let snapshots = get(format!("/api/v1/snapshots?agent={id}")).await;
    let list = snapshots["snapshots"].as_array().expect("snapshots");
    assert_eq!(list.len(), 1, "{snapshots}");
    assert_eq!(list[0]["root"], scanned.display().to_string());
    assert_eq!(list[0]["files"], 1, "{snapshots}");
    let growth = get(format!("/api/v1/growth?agent={id}")).await;
    assert_eq!(
        growth["series"][0]["points"][0]["apparent_bytes"]
            .as_i64()
            .map(|b| b >= 50_000),
        Some(true),
        "{growth}"
    );

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

    // Another machine with the same hostname is another agent.
    let twin = AgentProcess::start_named(
        "twin",
        &server.url,
        dir.path(),
        &config("machine_id = 'a-different-machine'\nlabels = { env = 'staging' }"),
    );
    let twin_status = twin.wait_for("the twin reports", |s| s.envelopes_sent >= 1);
    assert_ne!(twin_status.agent_id, id);
    assert_eq!(twin_status.hostname, status.hostname);
    let agents = get("/api/v1/agents".into()).await;
    let listed = agents.to_string();
    assert!(
        listed.contains(&id) && listed.contains(&twin_status.agent_id),
        "{agents}"
    );
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
    agent.send_the_rest(&format!("http://{listen}"));
    let last = agent.status().expect("status");
    assert_eq!(last.spool_batches, 0, "{last:?}");
    assert_eq!(last.envelopes_sent, last.envelopes_spooled, "{last:?}");
    let stored = stored_envelopes(&db, &id).await;
    assert_eq!(
        stored as u64, last.envelopes_sent,
        "every envelope the agent sent is stored once"
    );
}

/// What the fault-injecting proxy does with each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Fault {
    Pass = 0,
    Error500 = 1,
    Hang = 2,
    Reset = 3,
    Slow = 4,
}

/// A loopback TCP proxy in front of `upstream` whose behaviour can be switched; a switch
/// closes the connections opened under the previous behaviour.
struct FaultProxy {
    address: std::net::SocketAddr,
    mode: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl FaultProxy {
    fn start(upstream: std::net::SocketAddr) -> FaultProxy {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        let mode = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(Fault::Pass as u8));
        let shared = mode.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mode = shared.clone();
                std::thread::spawn(move || {
                    let started_as = mode.load(Ordering::SeqCst);
                    let unchanged = || mode.load(Ordering::SeqCst) == started_as;
                    let mut client = client;
                    let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
                    match started_as {
                        m if m == Fault::Error500 as u8 => {
                            let mut request = [0u8; 65536];
                            let _ = client.read(&mut request);
                            let _ = client.write_all(
                                b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                            );
                        }
                        m if m == Fault::Hang as u8 => {
                            while unchanged() {
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                        m if m == Fault::Reset as u8 => {}
                        _ => {
                            let slow = started_as == Fault::Slow as u8;
                            let Ok(server) = std::net::TcpStream::connect(upstream) else {
                                return;
                            };
                            let _ = server.set_read_timeout(Some(Duration::from_millis(100)));
                            let pipe = move |mut from: std::net::TcpStream,
                                        mut to: std::net::TcpStream,
                                        mode: std::sync::Arc<std::sync::atomic::AtomicU8>| {
                                let mut buffer = [0u8; 16384];
                                while mode.load(Ordering::SeqCst) == started_as {
                                    match from.read(&mut buffer) {
                                        Ok(0) => break,
                                        Ok(n) => {
                                            if slow {
                                                std::thread::sleep(Duration::from_millis(300));
                                            }
                                            if to.write_all(&buffer[..n]).is_err() {
                                                break;
                                            }
                                        }
                                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                                        Err(_) => break,
                                    }
                                }
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            };
                            let (c2, s2) = (
                                client.try_clone().expect("clone"),
                                server.try_clone().expect("clone"),
                            );
                            let back = mode.clone();
                            let upstream_to_client = std::thread::spawn(move || pipe(s2, c2, back));
                            pipe(client, server, mode);
                            let _ = upstream_to_client.join();
                        }
                    }
                });
            }
        });
        FaultProxy { address, mode }
    }

    fn set(&self, fault: Fault) {
        self.mode
            .store(fault as u8, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), what `/proc/PID/stat` counts in.
fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf (libc-bin)");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

/// CPU time (user + system) of process `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_network_loses_nothing_and_costs_no_spin() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let upstream: std::net::SocketAddr = server
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("server address");
    let proxy = FaultProxy::start(upstream);
    let via_proxy = format!("http://{}", proxy.address);
    let mut agent = AgentProcess::start(&via_proxy, dir.path(), &config(""));
    let before = agent.wait_for("a first batch sent", |s| s.batches_sent >= 1);
    let id = before.agent_id.clone();

    let pid = agent.child.id();
    let ticks_before = cpu_ticks(pid);
    let faulty = Instant::now();
    for fault in [
        Fault::Error500,
        Fault::Hang,
        Fault::Reset,
        Fault::Slow,
        Fault::Error500,
    ] {
        proxy.set(fault);
        std::thread::sleep(Duration::from_secs(2));
        assert!(
            agent.child.try_wait().expect("wait").is_none(),
            "the agent survives {fault:?}"
        );
    }
    let spent = cpu_ticks(pid) - ticks_before;
    let wall = faulty.elapsed().as_secs_f64();
    // A spinning agent would spend about `wall` seconds of CPU.
    let share = spent as f64 / clock_ticks_per_second() / wall;
    assert!(
        share < 0.2,
        "the agent spent {share:.2} of a core during the faults"
    );

    proxy.set(Fault::Pass);
    let seen = agent.wait_for("the spool drained through the proxy", |s| {
        s.spool_batches == 0 && s.batches_sent > before.batches_sent + 2
    });
    assert_eq!(seen.batches_refused, 0, "{seen:?}");
    let pid = agent.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    assert!(agent.child.wait().expect("wait").success());
    // What SIGTERM spooled goes out with --once, straight to the server.
    agent.send_the_rest(&via_proxy);
    let last = agent.status().expect("status");
    assert_eq!(last.envelopes_sent, last.envelopes_spooled, "{last:?}");
    assert_eq!(stored_envelopes(&db, &id).await as u64, last.envelopes_sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_configuration() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let only_cpu = config("").replace("memory = '1s'", "memory = 'off'");
    let agent = AgentProcess::start(&server.url, dir.path(), &only_cpu);
    let status = agent.wait_for("cpu samples sent", |s| s.envelopes_sent >= 2);
    let store = spectra_server::store::open(&db).await.expect("store");
    let memory = || async {
        store
            .metrics_between(Some(&status.agent_id), Some("memory"), 0, i64::MAX)
            .await
            .expect("rows")
            .len()
    };
    assert_eq!(memory().await, 0, "memory is off");
    std::fs::write(agent.state.with_file_name("agent.toml"), config("")).expect("config");
    let pid = agent.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while memory().await == 0 {
        assert!(
            Instant::now() < deadline,
            "no memory samples after SIGHUP; log:\n{}",
            std::fs::read_to_string(&agent.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut agent = agent;
    assert!(
        agent.child.try_wait().expect("wait").is_none(),
        "still running"
    );
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    assert!(log.contains("configuration reloaded"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_loop_plans_everywhere_and_enforces_only_where_the_agent_allows() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let (server, admin, client) = hub_with_a_log_policy(dir.path(), &db).await;
    let (protected, scratch) = (dir.path().join("protected"), dir.path().join("scratch"));
    for root in [&protected, &scratch] {
        std::fs::create_dir_all(root.join("logs")).expect("mkdir");
        std::fs::write(root.join("logs/old.log"), b"old log line\n").expect("write");
        std::fs::write(root.join("keep.txt"), b"kept").expect("write");
    }

    let agent = AgentProcess::start(
        &server.url,
        dir.path(),
        &config(&format!(
            "roots = ['{}', {{ path = '{}', enforce = true }}]",
            protected.display(),
            scratch.display()
        )),
    );
    let status = agent.wait_for("two plans reported", |s| s.plans_sent >= 2);
    assert_eq!(status.plans_enforced, 1, "{status:?}");

    // The server cannot turn enforcement on: only the root the agent marks is acted on.
    assert!(protected.join("logs/old.log").exists());
    assert!(!scratch.join("logs/old.log").exists(), "quarantined");
    assert!(scratch.join("keep.txt").exists() && protected.join("keep.txt").exists());

    let reply = client
        .get(format!(
            "{}/api/v1/plans?agent={}",
            server.url, status.agent_id
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("plans");
    let plans: Value = reply.json().await.expect("json");
    let plans = plans["plans"].as_array().expect("plans").clone();
    assert_eq!(plans.len(), 2, "{plans:?}");
    for plan in &plans {
        assert_eq!(
            (plan["policy"].as_str(), plan["files"].as_u64()),
            (Some("logs"), Some(1))
        );
        let enforced = &plan["enforcement"];
        if plan["root"] == scratch.display().to_string() {
            assert_eq!(
                enforced["quarantined"].as_array().map(Vec::len),
                Some(1),
                "{plan}"
            );
        } else {
            assert!(enforced.is_null(), "{plan}");
        }
    }
    // The agent's own audit log has the enforcement, hash-chained.
    let audit = agent.state.join("policy/audit.jsonl");
    let records = spectra_core::policy::audit::verify(&audit).expect("audit chain");
    assert_eq!(records, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_one_shot_scan_sends_a_snapshot_and_plans_the_servers_policies() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let (server, admin, client) = hub_with_a_log_policy(dir.path(), &db).await;
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("logs")).expect("mkdir");
    std::fs::write(tree.join("logs/old.log"), b"old\n").expect("write");
    std::fs::write(tree.join("keep.txt"), b"kept").expect("write");
    let state = dir.path().join("one-shot");
    let scan = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spectra"));
        command
            .args(["scan", "--format", "json", "--server", &server.url])
            .args(["--enroll-token", ENROLL, "--analyze"])
            .arg("--state-dir")
            .arg(&state)
            .args(extra)
            .arg(&tree)
            .env_remove("SPECTRA_SERVER");
        command.output().expect("spectra scan")
    };
    let dry = scan(&[]);
    let stderr = String::from_utf8_lossy(&dry.stderr);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        stderr.contains("snapshot") && stderr.contains("1 files"),
        "{stderr}"
    );
    assert!(
        tree.join("logs/old.log").exists(),
        "a dry run changes nothing"
    );
    let enforced = scan(&["--enforce"]);
    let stderr = String::from_utf8_lossy(&enforced.stderr);
    assert!(enforced.status.success(), "{stderr}");
    assert!(stderr.contains("enforced: 1 moved"), "{stderr}");
    assert!(!tree.join("logs/old.log").exists() && tree.join("keep.txt").exists());

    let status = Status::load(&state).expect("status");
    let get = |path: String| {
        let (client, admin) = (client.clone(), admin.clone());
        async move {
            client
                .get(path)
                .bearer_auth(&admin)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let snapshots = get(format!(
        "{}/api/v1/snapshots?agent={}",
        server.url, status.agent_id
    ))
    .await;
    assert_eq!(
        snapshots["snapshots"].as_array().map(Vec::len),
        Some(2),
        "{snapshots}"
    );
    let plans = get(format!(
        "{}/api/v1/plans?agent={}",
        server.url, status.agent_id
    ))
    .await;
    let plans = plans["plans"].as_array().expect("plans").clone();
    assert_eq!(plans.len(), 2, "{plans:?}");
    assert_eq!(
        plans
            .iter()
            .filter(|p| p["enforcement"].is_object())
            .count(),
        1,
        "{plans:?}"
    );

    let bare = Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(["scan", "--enforce"])
        .arg(&tree)
        .env_remove("SPECTRA_SERVER")
        .output()
        .expect("spectra scan");
    assert_eq!(bare.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bare.stderr).contains("--policy FILE or --server URL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_says_so() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let env = [("SPECTRA_ENROLLMENT_TOKEN", ENROLL)];
    let mut server = ServerProcess::start(&["--db", &db], &env, dir.path());
    let listen = server.url.trim_start_matches("http://").to_owned();
    // Room for about three batches of cpu and memory samples.
    let agent = AgentProcess::start(&server.url, dir.path(), &config("spool_max_bytes = 3000"));
    agent.wait_for("a first batch sent", |s| s.batches_sent >= 1);
    assert!(
        server
            .signal_and_wait("TERM", Duration::from_secs(30))
            .success()
    );
    let full = agent.wait_for("batches dropped", |s| s.batches_dropped >= 2);
    // The spool's rule: never over its bound, unless one batch alone is larger.
    assert!(
        full.spool_bytes <= 3000 || full.spool_batches == 1,
        "bounded: {full:?}"
    );
    assert!(full.spool_batches >= 1, "{full:?}");
    let _server = ServerProcess::start_on(&listen, &["--db", &db], &env, dir.path());
    let back = agent.wait_for("the rest drained", |s| {
        s.spool_batches == 0 && s.batches_dropped == 0
    });
    let log = std::fs::read_to_string(&agent.log).unwrap_or_default();
    assert!(
        log.contains("spool full: dropped the oldest batches"),
        "{log}"
    );
    assert!(
        log.contains("the full spool had dropped batches"),
        "reported on return: {log}"
    );
    assert!(back.batches_sent > full.batches_sent);
}

/// Prometheus' own linter on a real server's `/metrics` after a real agent has sent every
/// collector it has: names, units, `# HELP` and `# TYPE` from core's metric schema. Needs
/// `promtool` (Debian's `prometheus`; `.ci/run` installs it): without it this test fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_exposition_passes_promtool() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let working = spectra_core::collect::Sampler::new()
        .capabilities()
        .into_iter()
        .filter(|c| c.supported)
        .count();
    let agent = AgentProcess::start(&server.url, dir.path(), "batch_max_age = '1s'\n");
    agent.wait_for("every working collector's first sample sent", |s| {
        s.envelopes_sent >= working as u64
    });
    let exposition = http_client(None)
        .get(format!("{}/metrics", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for family in [
        "spectra_memory_total_bytes",
        "spectra_agent_up",
        "spectra_cpu_total_usage_ratio",
    ] {
        assert!(
            exposition.contains(&format!("# TYPE {family} gauge")),
            "{family}:\n{exposition}"
        );
    }
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package) is needed for this test");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write");
    let checked = promtool.wait_with_output().expect("promtool");
    let problems = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && problems.trim().is_empty(),
        "promtool found problems:\n{problems}"
    );
}

/// With `--approval`, a second agent presenting an approved agent's machine id with the
/// enrollment token alone (a reinstalled host, or someone holding the token) is a pending
/// request of its own: the real agent, a real process, keeps being heard from with its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unproven_re_enrollment_leaves_the_running_agent_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db, "--approval"],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let client = http_client(None);
    let agent_view = |id: String| {
        let (client, admin, url) = (client.clone(), admin.clone(), server.url.clone());
        async move {
            client
                .get(format!("{url}/api/v1/agents/{id}"))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("get")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let same_host = config("machine_id = 'one-host'\nhostname = 'db-1'");
    let real = AgentProcess::start_named("real", &server.url, dir.path(), &same_host);
    let id = real
        .wait_for("enrolled", |s| !s.agent_id.is_empty())
        .agent_id;
    let approved = client
        .post(format!("{}/api/v1/agents/{id}/approve", server.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("approve");
    assert!(approved.status().is_success(), "{}", approved.status());

    let other = config("machine_id = 'one-host'\nhostname = 'intruder'");
    let second = AgentProcess::start_named("second", &server.url, dir.path(), &other);
    let request = second
        .wait_for("enrolled as a request", |s| !s.agent_id.is_empty())
        .agent_id;
    assert_ne!(request, id, "a request of its own");
    let requested = agent_view(request.clone()).await;
    assert_eq!(requested["replaces"], id.as_str(), "{requested}");
    assert_eq!(requested["approval"], "pending", "{requested}");

    // The real agent is heard from after the request, with its own token, still approved.
    let since = agent_view(id.clone()).await["last_seen"].clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    let now = loop {
        let now = agent_view(id.clone()).await;
        if now["last_seen"] != since {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the real agent went quiet: {now}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(now["approval"], "approved", "{now}");
    assert_eq!(now["hostname"], "db-1", "{now}");
    drop((real, second));
}

/// An agent whose token the server no longer knows (an admin deleted it) and that holds an
/// enrollment token enrolls again by itself, keeping what it had spooled, and goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_whose_token_is_revoked_enrolls_again_by_itself() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("hub.db").display().to_string();
    let admin = cli_token(&db, "admin");
    let server = ServerProcess::start(
        &["--db", &db],
        &[("SPECTRA_ENROLLMENT_TOKEN", ENROLL)],
        dir.path(),
    );
    let agent = AgentProcess::start(&server.url, dir.path(), &config(""));
    let first = agent.wait_for("a first batch sent", |s| s.batches_sent >= 1);
    let deleted = http_client(None)
        .delete(format!("{}/api/v1/agents/{}", server.url, first.agent_id))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let again = agent.wait_for("enrolled again under a new id", |s| {
        !s.agent_id.is_empty() && s.agent_id != first.agent_id
    });
    // What was spooled under the deleted identity can never be stored: dropped and counted,
    // and the new identity's batches go through.
    let sending = agent.wait_for("sending again", |s| {
        s.batches_sent > again.batches_sent && s.spool_batches == 0
    });
    assert_eq!(sending.agent_id, again.agent_id);
    assert!(
        stored_envelopes(&db, &again.agent_id).await > 0,
        "the new identity's envelopes are stored"
    );
}
