//! The server's agent endpoints, over HTTP(S), and how each answer is to be taken.

use std::time::Duration;

use reqwest::StatusCode;
use spectra_core::policy::Policy;
use spectra_core::protocol::{AgentInfo, Command, CommandResult, Compression, Registration};

use crate::AgentError;
use crate::http::http_client;

/// How long one request may take (a long-poll adds its wait).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Most bytes the agent reads of one answer (the policies are the largest).
const MAX_ANSWER_BYTES: usize = 8 << 20;
/// Most bytes of an error answer kept for the log.
const MAX_ERROR_TEXT: usize = 2048;
/// The longest a server's `Retry-After` makes the agent wait: a server that asks for more
/// (or sends nonsense such as `u64::MAX`) is heard again after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
}

/// What to do with an upload after the server's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Stored (or already stored: batch ids make replays harmless).
    Done,
    /// The server is away, slow, failing or busy: keep it and try again later.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// The server will never take it (malformed, too large, a conflicting id): drop it.
    Refused { why: String },
    /// The agent's token is not accepted: keep it, and say so. `revoked` when the server
    /// does not know the token at all (401: deleted, or replaced by another enrollment), not
    /// merely holding the agent back (403: pending approval).
    Unauthorized { why: String, revoked: bool },
}

/// The server's answer to a file index batch.
#[derive(Debug)]
pub enum IndexAnswer {
    /// Applied (or applied before): the server's answer (`files`, `resync` on the last).
    Applied(serde_json::Value),
    /// The server does not hold the crawl this one is a delta against: send a full crawl.
    Resync(String),
    Failed(Delivery),
}

#[derive(Debug, serde::Deserialize)]
pub struct Enrolled {
    pub agent_id: String,
    pub agent_token: String,
    pub status: String,
}

impl Client {
    /// A client of `server`, trusting the certificate authorities in `ca_file` for https.
    pub fn new(server: &str, ca_file: Option<&std::path::Path>) -> Result<Client, AgentError> {
        Ok(Client {
            http: http_client(ca_file)?,
            server: server.to_owned(),
        })
    }

    /// Enrolls (or re-enrolls, proving itself with its current token).
    pub async fn enroll(
        &self,
        enrollment_token: &str,
        current_token: Option<&str>,
        info: &AgentInfo,
    ) -> Result<Enrolled, AgentError> {
        let registration = Registration {
            enrollment_token: enrollment_token.to_owned(),
            agent_token: current_token.map(str::to_owned),
            agent: info.clone(),
        };
        let reply = self
            .http
            .post(format!("{}/api/v1/agent/register", self.server))
            .json(&registration)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| AgentError::Server(format!("enrolling: {e}")))?;
        let status = reply.status();
        if !status.is_success() {
            let text = error_text(reply).await;
            return Err(AgentError::Server(format!("enrolling: {status}: {text}")));
        }
        decode(reply)
            .await
            .map_err(|e| AgentError::Server(format!("enrolling: {e}")))
    }

    pub async fn heartbeat(&self, token: &str) -> Delivery {
        let request = self
            .http
            .post(format!("{}/api/v1/agent/heartbeat", self.server))
            .bearer_auth(token);
        deliver(request).await
    }

    /// Sends one encoded metric batch.
    pub async fn send_batch(&self, token: &str, body: Vec<u8>) -> Delivery {
        self.post_gzip("/api/v1/metrics", token, body).await
    }

    /// Sends one encoded scan snapshot.
    pub async fn send_snapshot(&self, token: &str, body: Vec<u8>) -> Delivery {
        self.post_gzip("/api/v1/ingest", token, body).await
    }

    /// Sends one encoded telemetry batch.
    pub async fn send_telemetry(&self, token: &str, body: Vec<u8>) -> Delivery {
        self.post_gzip("/api/v1/telemetry", token, body).await
    }

    /// Sends one encoded file index batch.
    pub async fn send_index(&self, token: &str, body: Vec<u8>) -> IndexAnswer {
        let request = self
            .http
            .post(format!("{}/api/v1/index", self.server))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body);
        match request.timeout(REQUEST_TIMEOUT).send().await {
            Ok(reply) if reply.status().is_success() => match decode(reply).await {
                Ok(answer) => IndexAnswer::Applied(answer),
                Err(why) => IndexAnswer::Failed(Delivery::Retry { after: None, why }),
            },
            Ok(reply) if reply.status() == StatusCode::CONFLICT => {
                IndexAnswer::Resync(error_text(reply).await)
            }
            Ok(reply) => IndexAnswer::Failed(classify(reply).await),
            Err(e) => IndexAnswer::Failed(Delivery::Retry {
                after: None,
                why: e.to_string(),
            }),
        }
    }

    /// Sends one encoded plan report.
    pub async fn send_plan_report(&self, token: &str, body: Vec<u8>) -> Delivery {
        self.post_gzip("/api/v1/agent/plans", token, body).await
    }

    /// The server's policies (a policy that does not parse is skipped and logged).
    pub async fn policies(&self, token: &str) -> Result<Vec<Policy>, Delivery> {
        let reply = self
            .http
            .get(format!("{}/api/v1/policies", self.server))
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| Delivery::Retry {
                after: None,
                why: e.to_string(),
            })?;
        if !reply.status().is_success() {
            return Err(classify(reply).await);
        }
        let listed: serde_json::Value = decode(reply)
            .await
            .map_err(|why| Delivery::Retry { after: None, why })?;
        let records = listed["policies"].as_array().cloned().unwrap_or_default();
        Ok(records
            .into_iter()
            .filter_map(
                |record| match serde_json::from_value(record["body"].clone()) {
                    Ok(policy) => Some(policy),
                    Err(e) => {
                        tracing::warn!(policy = %record["name"], error = %e, "policy skipped");
                        None
                    }
                },
            )
            .collect())
    }

    /// Waits up to `wait` for the next command; `Ok(None)` when none came.
    pub async fn next_command(
        &self,
        token: &str,
        wait: Duration,
    ) -> Result<Option<Command>, Delivery> {
        let reply = self
            .http
            .get(format!("{}/api/v1/agent/command", self.server))
            .query(&[("wait", wait.as_secs())])
            .bearer_auth(token)
            .timeout(REQUEST_TIMEOUT + wait)
            .send()
            .await;
        match reply {
            Ok(reply) if reply.status() == StatusCode::NO_CONTENT => Ok(None),
            Ok(reply) if reply.status().is_success() => {
                decode(reply)
                    .await
                    .map(Some)
                    .map_err(|e| Delivery::Refused {
                        why: format!("a command that does not decode: {e}"),
                    })
            }
            Ok(reply) => Err(classify(reply).await),
            Err(e) => Err(Delivery::Retry {
                after: None,
                why: e.to_string(),
            }),
        }
    }

    pub async fn send_result(&self, token: &str, result: &CommandResult) -> Delivery {
        let body = match spectra_core::protocol::encode(result, Compression::Gzip) {
            Ok(body) => body,
            Err(e) => return Delivery::Refused { why: e.to_string() },
        };
        self.post_gzip("/api/v1/agent/command_result", token, body)
            .await
    }

    /// POSTs gzip'd JSON to `path` with the agent's token.
    async fn post_gzip(&self, path: &str, token: &str, body: Vec<u8>) -> Delivery {
        let request = self
            .http
            .post(format!("{}{path}", self.server))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(body);
        deliver(request).await
    }
}

async fn deliver(request: reqwest::RequestBuilder) -> Delivery {
    match request.timeout(REQUEST_TIMEOUT).send().await {
        Ok(reply) if reply.status().is_success() => Delivery::Done,
        Ok(reply) => classify(reply).await,
        Err(e) => Delivery::Retry {
            after: None,
            why: e.to_string(),
        },
    }
}

/// What an unsuccessful answer means for the upload: retry server-side trouble and
/// throttling, keep (and report) what the token does not allow, drop what can never succeed.
async fn classify(reply: reqwest::Response) -> Delivery {
    let status = reply.status();
    let after = reply
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    let why = format!("{status}: {}", error_text(reply).await);
    match status {
        StatusCode::UNAUTHORIZED => Delivery::Unauthorized { why, revoked: true },
        StatusCode::FORBIDDEN => Delivery::Unauthorized {
            why,
            revoked: false,
        },
        StatusCode::TOO_MANY_REQUESTS | StatusCode::REQUEST_TIMEOUT => {
            Delivery::Retry { after, why }
        }
        s if s.is_server_error() => Delivery::Retry { after, why },
        _ => Delivery::Refused { why },
    }
}

/// The answer's JSON, read up to [`MAX_ANSWER_BYTES`]: a longer answer is an error, never an
/// allocation the server chose.
async fn decode<T: serde::de::DeserializeOwned>(mut reply: reqwest::Response) -> Result<T, String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = reply.chunk().await.map_err(|e| e.to_string())? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer is over {MAX_ANSWER_BYTES} bytes"));
        }
        bytes.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

/// The first [`MAX_ERROR_TEXT`] bytes of an error answer, for the log.
async fn error_text(mut reply: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_TEXT {
        match reply.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_ERROR_TEXT);
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server that answers every request with `status` and `size` bytes of spaces.
    fn answering(status: &'static str, size: usize) -> String {
        answering_with(status, "", size)
    }

    /// The same, with extra header lines (each ending in `\r\n`).
    fn answering_with(status: &'static str, headers: &'static str, size: usize) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let head = format!("HTTP/1.1 {status}\r\n{headers}content-length: {size}\r\n\r\n");
                let _ = stream.write_all(head.as_bytes());
                let chunk = [b' '; 65536];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if stream.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    left -= n;
                }
            }
        });
        format!("http://{address}")
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused_not_read() {
        let client = Client::new(&answering("200 OK", MAX_ANSWER_BYTES + 1), None).expect("client");
        match client.policies("token").await {
            Err(Delivery::Retry { why, .. }) => assert!(why.contains("over"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn error_texts_are_cut_for_the_log() {
        let client =
            Client::new(&answering("500 Internal Server Error", 1 << 20), None).expect("client");
        match client.heartbeat("token").await {
            Delivery::Retry { why, .. } => {
                assert!(why.len() < MAX_ERROR_TEXT + 100, "{}", why.len())
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_servers_retry_after_is_obeyed_up_to_a_cap() {
        for (header, expected) in [
            ("retry-after: 7\r\n", Some(Duration::from_secs(7))),
            (
                "retry-after: 18446744073709551615\r\n",
                Some(MAX_RETRY_AFTER),
            ),
            ("retry-after: 86400\r\n", Some(MAX_RETRY_AFTER)),
            ("retry-after: soon\r\n", None),
        ] {
            let client = Client::new(&answering_with("429 Too Many Requests", header, 0), None)
                .expect("client");
            match client.heartbeat("token").await {
                Delivery::Retry { after, .. } => assert_eq!(after, expected, "{header}"),
                other => panic!("{header}: {other:?}"),
            }
        }
    }
}
