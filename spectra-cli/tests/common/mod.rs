//! What every CLI test needs: run the real `spectra` binary, or a `spectra serve` process.
#![allow(dead_code)] // each test crate uses a different part

use std::process::{Command, Output};

pub fn spectra(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spectra"))
        .args(args)
        .output()
        .expect("run spectra")
}

/// `spectra token create` against `db`; the token it prints.
pub fn cli_token(db: &str, role: &str) -> String {
    let out = spectra(&[
        "token", "create", "--db", db, "--role", role, "--name", "cli",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A `spectra serve` process on a free port, killed when dropped.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
    pub stderr_log: std::path::PathBuf,
    /// The first-admin setup link, once the server has printed it.
    setup_link: std::sync::mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `spectra serve --listen 127.0.0.1:0 ARGS…` with `env` and waits until it says
    /// where it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)], log_dir: &std::path::Path) -> Self {
        ServerProcess::start_on("127.0.0.1:0", args, env, log_dir)
    }

    /// [`ServerProcess::start`] on `listen` (to come back where a stopped server was).
    pub fn start_on(
        listen: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log_dir: &std::path::Path,
    ) -> Self {
        use std::io::BufRead;
        let stderr_log = log_dir.join(format!("serve-{}.log", uuid::Uuid::new_v4().simple()));
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_spectra"));
        command
            .args(["serve", "--listen", listen])
            .args(args)
            .env_remove("SPECTRA_ENROLLMENT_TOKEN")
            .env_remove("SPECTRA_DB")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).expect("log file"));
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn spectra serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let (link_sender, setup_link) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(url) = line.strip_prefix("spectra serve: listening on ") {
                    let _ = sender.send(url.to_owned());
                }
                if let Some(link) = line.strip_prefix("spectra serve: create the first admin at ") {
                    let _ = link_sender.send(link.to_owned());
                }
            }
        });
        let url = receiver
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "spectra serve did not start: {}",
                    std::fs::read_to_string(&stderr_log).unwrap_or_default()
                )
            });
        ServerProcess {
            child,
            url,
            stderr_log,
            setup_link,
        }
    }

    /// The first-admin setup link the server printed (waits up to 10 s for it).
    pub fn setup_link(&self) -> Option<String> {
        self.setup_link
            .recv_timeout(std::time::Duration::from_secs(10))
            .ok()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends `signal` and waits (up to `within`) for the exit status.
    pub fn signal_and_wait(
        &mut self,
        signal: &str,
        within: std::time::Duration,
    ) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "spectra serve did not exit within {within:?} of SIG{signal}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client over rustls with ring, trusting `root` when given.
pub fn http_client(root: Option<rustls_pki_types::CertificateDer<'static>>) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(root) = root {
        roots.add(root).expect("root certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocols")
    .with_root_certificates(roots)
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("client")
}
