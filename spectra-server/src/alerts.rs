//! Alerts on the server: every interval one replica evaluates the rules over the stored
//! series (claimed through the store, so each interval is evaluated once across replicas),
//! writes each alert's state and the notices it causes in one transaction, and senders
//! deliver the outbox — webhooks signed with HMAC-SHA256, email over SMTP — retrying with
//! backoff and recording every attempt.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use spectra_core::alert::{
    AlertState, CompiledAlertRule, Notice, Source, Target, Tracked, heartbeat_age, services_down,
    step, time_to_full,
};
use spectra_core::protocol::flatten::{self, Sample};
use uuid::Uuid;

use crate::config::{AlertSettings, ServeConfig};
use crate::store::{
    AgentRecord, AlertRecord, MetricRow, OutboxRow, Silence, Store, StoreError, millis,
};

/// Attempts at one notice before it is given up (backoff doubles from 2 s to 10 min: about
/// an hour and a half in all).
pub const MAX_ATTEMPTS: i64 = 14;
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// How long a sender holds a notice it is sending before another may take it.
const DELIVERY_LEASE: Duration = Duration::from_secs(60);
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Notices taken per round of the sender.
const DELIVERY_BATCH: usize = 100;
/// The header that carries `sha256=HEX` of the body under the webhook secret.
pub const SIGNATURE_HEADER: &str = "x-spectra-signature";

/// What one evaluation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evaluation {
    pub rules: usize,
    /// Series looked at, over all rules.
    pub series: usize,
    /// Alerts whose state changed.
    pub changed: usize,
    /// Notices queued (after silences).
    pub notices: usize,
    /// How long the evaluation took, reading and writing included.
    pub elapsed: Duration,
}

/// An alert as the lists show it: with the unit of its value (from its rule's condition and
/// core's metric schema) and the value as core formats it, so no client guesses.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct AlertView {
    #[serde(flatten)]
    pub alert: AlertRecord,
    /// `None` when its rule is gone (the alert is kept until it resolves).
    pub unit: Option<&'static str>,
    pub value_text: Option<String>,
}

/// The views of a page of alerts: one rule read per distinct rule in the page.
pub async fn views(store: &Store, alerts: Vec<AlertRecord>) -> Result<Vec<AlertView>, StoreError> {
    let mut units: HashMap<String, Option<spectra_core::metrics::Unit>> = HashMap::new();
    let mut views = Vec::with_capacity(alerts.len());
    for alert in alerts {
        if !units.contains_key(&alert.rule) {
            let unit = store.alert_rule(&alert.rule).await?.and_then(|record| {
                spectra_core::alert::Condition::parse(&record.rule.condition)
                    .ok()
                    .map(|condition| condition.unit())
            });
            units.insert(alert.rule.clone(), unit);
        }
        let unit = units.get(&alert.rule).copied().flatten();
        views.push(AlertView {
            unit: unit.map(spectra_core::metrics::Unit::as_str),
            value_text: unit
                .zip(alert.value)
                .map(|(unit, value)| unit.format(value)),
            alert,
        });
    }
    Ok(views)
}

/// One value of one series of a rule.
struct Observation<'a> {
    series: String,
    agent: Option<&'a AgentRecord>,
    value: Option<f64>,
}

/// The envelopes an evaluation reads, parsed once for all rules.
struct Latest {
    /// By agent and kind: the numeric samples and text leaves of its newest envelopes.
    samples: HashMap<(String, String), Vec<Sample>>,
    texts: HashMap<(String, String), Vec<flatten::Leaf>>,
}

fn latest(rows: Vec<MetricRow>, now: i64) -> Latest {
    let fresh_from = spectra_core::alert::fresh_from(now);
    let mut latest = Latest {
        samples: HashMap::new(),
        texts: HashMap::new(),
    };
    for row in rows.into_iter().filter(|row| row.ts >= fresh_from) {
        let Ok(data) = serde_json::from_str::<Value>(&row.data) else {
            continue;
        };
        let key = (row.agent_id, row.kind);
        if key.1 == "services" {
            latest
                .texts
                .entry(key.clone())
                .or_default()
                .extend(flatten::leaves(&data, flatten::SERIES_LIMITS));
        }
        latest
            .samples
            .entry(key)
            .or_default()
            .extend(flatten::samples(&data));
    }
    latest
}

/// What evaluation and delivery work with: the store, the alert settings, and how long raw
/// rows are kept (a fit over a longer window reads rollups).
#[derive(Debug, Clone)]
pub struct Alerting {
    pub store: Arc<Store>,
    pub settings: AlertSettings,
    pub raw_retention: Duration,
    /// Evaluations this replica ran, counted by [`run`].
    pub evaluations: Arc<std::sync::atomic::AtomicU64>,
}

impl Alerting {
    pub fn new(store: Arc<Store>, config: &ServeConfig) -> Alerting {
        Alerting {
            store,
            settings: config.alerts.clone(),
            raw_retention: config.retention.raw,
            evaluations: Arc::default(),
        }
    }
}

/// Evaluates every rule at `now` if no replica has within the interval; `None` when another
/// one had.
pub async fn evaluate_if_due(
    state: &Alerting,
    now: DateTime<Utc>,
) -> Result<Option<Evaluation>, StoreError> {
    // A little under the interval, so that a replica's own timer never finds itself early.
    let gap = state.settings.interval.mul_f64(0.9);
    if !state.store.claim_alert_evaluation(now, gap).await? {
        return Ok(None);
    }
    evaluate(state, now).await.map(Some)
}

/// Evaluates every rule at `now`: states, and the notices their changes cause.
pub async fn evaluate(state: &Alerting, now: DateTime<Utc>) -> Result<Evaluation, StoreError> {
    let started = std::time::Instant::now();
    let store = &state.store;
    let now_ms = millis(now);
    let rules: Vec<CompiledAlertRule> = store
        .alert_rules()
        .await?
        .into_iter()
        .filter_map(|record| match record.rule.compile() {
            Ok(rule) => Some(rule),
            Err(e) => {
                tracing::warn!(rule = record.rule.name, error = %e, "alert rule skipped");
                None
            }
        })
        .collect();
    let agents = store.agents().await?;
    let needs = |source: Source| {
        rules
            .iter()
            .any(|r| r.condition.selector.source() == source && r.condition.fit_window.is_none())
    };
    let latest = if needs(Source::Metric) || needs(Source::Service) {
        latest(store.latest_metrics().await?, now_ms)
    } else {
        latest(Vec::new(), now_ms)
    };
    let quotas = if needs(Source::Quota) {
        crate::governance::evaluate_quotas(store, now).await?
    } else {
        Vec::new()
    };
    let silences = store.silences(now).await?;
    let mut known: HashMap<(String, String), AlertRecord> = store
        .alerts(None)
        .await?
        .into_iter()
        .map(|alert| ((alert.rule.clone(), alert.series.clone()), alert))
        .collect();

    let mut evaluation = Evaluation {
        rules: rules.len(),
        ..Evaluation::default()
    };
    let mut updates = Vec::new();
    let mut notices = Vec::new();
    for rule in &rules {
        let observations = observe(state, rule, &agents, &latest, &quotas, now).await?;
        evaluation.series += observations.len();
        let mut seen = Vec::with_capacity(observations.len());
        for observation in observations {
            let key = (rule.rule.name.clone(), observation.series.clone());
            let previous = known.remove(&key);
            seen.push(key.1);
            let holds = observation.value.is_some_and(|v| rule.condition.holds(v));
            advance(
                rule,
                previous,
                &observation,
                holds,
                now,
                &silences,
                &mut updates,
                &mut notices,
            );
        }
        // This rule's alerts whose series is gone (an agent deleted, a metric no longer
        // sent, a disk unmounted) no longer hold.
        let gone: Vec<(String, String)> = known
            .keys()
            .filter(|(name, series)| *name == rule.rule.name && !seen.contains(series))
            .cloned()
            .collect();
        for key in gone {
            let previous = known.remove(&key);
            let agent = previous
                .as_ref()
                .and_then(|p| p.agent_id.as_ref())
                .and_then(|id| agents.iter().find(|a| a.id == *id));
            let observation = Observation {
                series: key.1,
                agent,
                value: None,
            };
            advance(
                rule,
                previous,
                &observation,
                false,
                now,
                &silences,
                &mut updates,
                &mut notices,
            );
        }
    }
    evaluation.changed = updates.len();
    evaluation.notices = notices.len();
    if !store.apply_alert_updates(&updates, &notices, now).await? {
        // Another replica's evaluation changed these alerts meanwhile: its changes (and
        // notices) stand; the next interval reads them.
        tracing::info!("alert evaluation overtaken by another replica; nothing written");
        evaluation.changed = 0;
        evaluation.notices = 0;
    }
    evaluation.elapsed = started.elapsed();
    Ok(evaluation)
}

/// One step of one alert: its new record (when anything about it changed) and its notices.
#[allow(clippy::too_many_arguments)]
fn advance(
    rule: &CompiledAlertRule,
    previous: Option<AlertRecord>,
    observation: &Observation<'_>,
    holds: bool,
    now: DateTime<Utc>,
    silences: &[Silence],
    updates: &mut Vec<(AlertRecord, Option<DateTime<Utc>>)>,
    notices: &mut Vec<OutboxRow>,
) {
    let before: Option<Tracked> = previous.as_ref().map(AlertRecord::tracked);
    let (after, notice) = step(
        before,
        holds,
        millis(now),
        rule.condition.for_duration,
        rule.cooldown,
    );
    let Some(after) = after else {
        return;
    };
    let active = after.state != AlertState::Resolved;
    let value_moved = previous
        .as_ref()
        .is_some_and(|p| p.value != observation.value);
    if Some(after) == before && notice.is_none() && !(active && value_moved) {
        return;
    }
    let silenced = notice.is_some() && silences.iter().any(|s| mutes(s, rule, observation, now));
    let record = AlertRecord {
        rule: rule.rule.name.clone(),
        series: observation.series.clone(),
        // A series whose agent is gone (deregistered) keeps naming it.
        agent_id: observation
            .agent
            .map(|a| a.id.clone())
            .or_else(|| previous.as_ref().and_then(|p| p.agent_id.clone())),
        hostname: observation
            .agent
            .map(|a| a.hostname.clone())
            .or_else(|| previous.as_ref().and_then(|p| p.hostname.clone())),
        state: after.state,
        severity: rule.rule.severity.as_str().to_owned(),
        value: observation.value,
        since: crate::store::from_millis(after.since),
        fired_at: after.fired_at.map(crate::store::from_millis),
        resolved_at: after.resolved_at.map(crate::store::from_millis),
        notified_at: after.notified_at.map(crate::store::from_millis),
        silenced: if notice.is_some() {
            silenced
        } else {
            previous.as_ref().is_some_and(|p| p.silenced)
        },
        evaluated_at: now,
        announced: after.announced,
    };
    if let Some(notice) = notice
        && !silenced
    {
        let payload = payload(rule, &record, notice);
        for target in &rule.notify {
            let id = Uuid::new_v4().to_string();
            let mut body = payload.clone();
            body["id"] = Value::from(id.clone());
            notices.push(OutboxRow {
                id,
                rule: record.rule.clone(),
                series: record.series.clone(),
                notice: notice_name(notice).to_owned(),
                channel: target.channel().to_owned(),
                target: target.address().to_owned(),
                payload: body.to_string(),
                attempts: 0,
            });
        }
    }
    updates.push((record, previous.map(|p| p.evaluated_at)));
}

fn notice_name(notice: Notice) -> &'static str {
    match notice {
        Notice::Firing => "firing",
        Notice::Resolved => "resolved",
    }
}

/// Whether `silence` holds back notices of this alert at `now`.
fn mutes(
    silence: &Silence,
    rule: &CompiledAlertRule,
    observation: &Observation<'_>,
    now: DateTime<Utc>,
) -> bool {
    let agent = observation.agent;
    silence.starts_at <= now
        && now < silence.ends_at
        && silence
            .rule
            .as_ref()
            .is_none_or(|name| *name == rule.rule.name)
        && silence
            .agent_id
            .as_ref()
            .is_none_or(|id| agent.is_some_and(|a| a.id == *id))
        && silence
            .label
            .as_ref()
            .is_none_or(|(key, value)| agent.is_some_and(|a| a.labels.get(key) == Some(value)))
}

/// The JSON every channel carries (a webhook's body; an email's text is made from it).
fn payload(rule: &CompiledAlertRule, alert: &AlertRecord, notice: Notice) -> Value {
    let condition = &rule.condition;
    let value = alert
        .value
        .map_or_else(|| "no value".to_owned(), |v| format!("{v:.2}"));
    let place = alert
        .hostname
        .as_deref()
        .map_or_else(String::new, |host| format!(" on {host}"));
    let summary = match notice {
        Notice::Firing => format!(
            "[{}] {}: {} is {value}{place} ({})",
            rule.rule.severity.as_str().to_uppercase(),
            rule.rule.name,
            alert.series,
            condition
        ),
        Notice::Resolved => format!(
            "[RESOLVED] {}: {} is {value}{place}",
            rule.rule.name, alert.series
        ),
    };
    json!({
        "notice": notice_name(notice),
        "rule": rule.rule.name,
        "severity": rule.rule.severity,
        "condition": condition.source_text,
        "series": alert.series,
        "agent": alert.agent_id.as_ref().map(|id| json!({"id": id, "hostname": alert.hostname})),
        "value": alert.value,
        "state": alert.state,
        "since": alert.since,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "summary": summary,
    })
}

/// The series of `rule` and their values now.
async fn observe<'a>(
    state: &Alerting,
    rule: &CompiledAlertRule,
    agents: &'a [AgentRecord],
    latest: &Latest,
    quotas: &[crate::governance::QuotaUsage],
    now: DateTime<Utc>,
) -> Result<Vec<Observation<'a>>, StoreError> {
    let selector = &rule.condition.selector;
    let watched = || {
        agents
            .iter()
            .filter(|agent| rule.rule.scope.admits(&agent.id, &agent.labels))
    };
    let mut out = Vec::new();
    match selector.source() {
        Source::Heartbeat => {
            for agent in watched() {
                out.push(Observation {
                    series: agent.id.clone(),
                    agent: Some(agent),
                    value: Some(heartbeat_age(agent.last_seen, agent.registered_at, now)),
                });
            }
        }
        Source::Quota => {
            for quota in quotas {
                let backend = quota.quota.backend.as_deref().unwrap_or("all");
                let labels = [
                    ("subject".to_owned(), quota.quota.subject.clone()),
                    ("backend".to_owned(), backend.to_owned()),
                ];
                if selector.admits_labels(&labels) {
                    out.push(Observation {
                        series: format!("{}@{backend}", quota.quota.subject),
                        agent: None,
                        value: Some(quota.level.value()),
                    });
                }
            }
        }
        Source::Service => {
            for agent in watched() {
                let Some(leaves) = latest.texts.get(&(agent.id.clone(), "services".to_owned()))
                else {
                    continue;
                };
                for (name, down) in services_down(leaves, selector) {
                    out.push(Observation {
                        series: format!("{}/{name}", agent.id),
                        agent: Some(agent),
                        value: Some(down),
                    });
                }
            }
        }
        Source::Metric => match rule.condition.fit_window {
            None => {
                for agent in watched() {
                    let key = (agent.id.clone(), selector.kind.clone());
                    for sample in latest.samples.get(&key).into_iter().flatten() {
                        if selector.matches(sample) {
                            out.push(Observation {
                                series: format!("{}/{}", agent.id, sample.key()),
                                agent: Some(agent),
                                value: Some(sample.value),
                            });
                        }
                    }
                }
            }
            Some(window) => {
                let points = fit_points(state, rule, window, now).await?;
                for agent in watched() {
                    for ((id, field), points) in &points {
                        if *id == agent.id {
                            out.push(Observation {
                                series: format!("{id}/{field}"),
                                agent: Some(agent),
                                value: time_to_full(points, 100.0),
                            });
                        }
                    }
                }
            }
        },
    }
    Ok(out)
}

/// The points (seconds, value) of each (agent, series key) of a `time_to_full` rule over its
/// window: raw envelopes while the window is within raw retention, else 5-minute rollups.
async fn fit_points(
    state: &Alerting,
    rule: &CompiledAlertRule,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<BTreeMap<(String, String), Vec<(f64, f64)>>, StoreError> {
    let selector = &rule.condition.selector;
    let to = millis(now).saturating_add(1);
    let from = to.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let mut points: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    if window <= state.raw_retention {
        for row in state
            .store
            .metrics_between(
                rule.rule.scope.agent.as_deref(),
                Some(&selector.kind),
                from,
                to,
            )
            .await?
        {
            let Ok(data) = serde_json::from_str::<Value>(&row.data) else {
                continue;
            };
            for sample in flatten::samples(&data) {
                if selector.matches(&sample) {
                    points
                        .entry((row.agent_id.clone(), sample.key()))
                        .or_default()
                        .push((row.ts as f64 / 1000.0, sample.value));
                }
            }
        }
    } else {
        for agent in state.store.agents().await? {
            if !rule.rule.scope.admits(&agent.id, &agent.labels) {
                continue;
            }
            for rollup in state
                .store
                .rollups_between(
                    &agent.id,
                    &selector.kind,
                    crate::maintenance::ROLLUP_5M,
                    from,
                    to,
                )
                .await?
            {
                if selector.matches_key(&rollup.field) && rollup.samples > 0 {
                    points
                        .entry((agent.id.clone(), rollup.field.clone()))
                        .or_default()
                        .push((
                            rollup.bucket as f64 / 1000.0,
                            rollup.total / rollup.samples as f64,
                        ));
                }
            }
        }
    }
    Ok(points)
}

// ---- delivery ----

/// Sends the notices that are due; answers how many were attempted.
pub async fn deliver_due(state: &Alerting, mailer: &Mailer) -> Result<usize, StoreError> {
    let now = Utc::now();
    let due = state.store.due_notices(now, DELIVERY_BATCH).await?;
    let mut attempted = 0;
    for notice in due {
        if !state
            .store
            .claim_notice(&notice.id, now, DELIVERY_LEASE)
            .await?
        {
            continue;
        }
        attempted += 1;
        let result = match notice.channel.as_str() {
            "webhook" => send_webhook(&state.settings, &notice).await,
            "email" => mailer.send(&notice).await,
            other => Err(format!("unknown channel {other}")),
        };
        let finished = Utc::now();
        let (ok, status) = match &result {
            Ok(status) => (true, status.as_str()),
            Err(error) => (false, error.as_str()),
        };
        let retry_at = (!ok && notice.attempts + 1 < MAX_ATTEMPTS).then(|| {
            let backoff = Duration::from_secs(
                2u64.saturating_pow(u32::try_from(notice.attempts + 1).unwrap_or(u32::MAX)),
            )
            .min(MAX_BACKOFF);
            finished + chrono::Duration::from_std(backoff).unwrap_or_default()
        });
        if !ok {
            tracing::warn!(
                id = notice.id,
                channel = notice.channel,
                attempt = notice.attempts + 1,
                error = status,
                "alert delivery failed"
            );
        }
        state
            .store
            .record_delivery(&notice, ok, status, retry_at, finished)
            .await?;
    }
    Ok(attempted)
}

/// `sha256=HEX`: the HMAC-SHA256 of `body` under `secret`, as the signature header carries.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    format!("sha256={}", crate::auth::hex(&mac.finalize().into_bytes()))
}

/// Whether an address is one a webhook may not reach unless local targets are allowed.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_link_local() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_local(IpAddr::V4(v4)))
        }
    }
}

/// Where a webhook URL may be sent: its host resolved here, refused when local (unless
/// allowed); the request then goes to exactly these addresses (no second lookup).
async fn webhook_addresses(
    settings: &AlertSettings,
    url: &reqwest::Url,
) -> Result<(String, Vec<SocketAddr>), String> {
    let host = url.host_str().ok_or("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
    };
    if !settings.allow_local_targets
        && let Some(local) = addresses.iter().find(|a| is_local(a.ip()))
    {
        return Err(format!(
            "{host} is a loopback or link-local address ({}); set alert_allow_local_targets \
             to allow it",
            local.ip()
        ));
    }
    if addresses.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok((host, addresses))
}

async fn send_webhook(settings: &AlertSettings, notice: &OutboxRow) -> Result<String, String> {
    let secret = settings
        .webhook_secret
        .as_deref()
        .ok_or("no alert_webhook_secret is set: webhooks are always signed")?;
    let url = reqwest::Url::parse(&notice.target).map_err(|e| format!("bad URL: {e}"))?;
    let (host, addresses) = webhook_addresses(settings, &url).await?;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WEBHOOK_TIMEOUT)
        .resolve_to_addrs(
            host.trim_start_matches('[').trim_end_matches(']'),
            &addresses,
        )
        .user_agent(concat!("spectra-server/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let answer = client
        .post(url)
        .header("content-type", "application/json")
        .header(
            SIGNATURE_HEADER,
            signature(secret, notice.payload.as_bytes()),
        )
        .header("x-spectra-delivery", &notice.id)
        .body(notice.payload.clone())
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = answer.status();
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

/// Email over SMTP, when `smtp_url` is set.
pub struct Mailer {
    transport: Option<(
        lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
        lettre::message::Mailbox,
    )>,
}

/// Says whether email is set up, never how (the URL may hold a password).
impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("configured", &self.transport.is_some())
            .finish()
    }
}

impl Mailer {
    /// The error never repeats the URL: it may hold a password.
    pub fn new(settings: &AlertSettings) -> Result<Mailer, String> {
        let (Some(url), Some(from)) = (&settings.smtp_url, &settings.smtp_from) else {
            return Ok(Mailer { transport: None });
        };
        let not_smtp = || {
            "smtp_url: not an SMTP URL (smtps://user:password@host:465, or \
             smtp://…:587?tls=required for STARTTLS)"
                .to_owned()
        };
        let mut builder = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url)
            .map_err(|_| not_smtp())?
            .timeout(Some(WEBHOOK_TIMEOUT));
        if let Some(ca_file) = &settings.smtp_ca_file {
            builder = builder.tls(
                smtp_tls_with_ca(url, ca_file)
                    .map_err(|e| if e.is_empty() { not_smtp() } else { e })?,
            );
        }
        let transport = builder.build();
        let from = from
            .parse()
            .map_err(|e| format!("smtp_from {from:?}: {e}"))?;
        Ok(Mailer {
            transport: Some((transport, from)),
        })
    }

    async fn send(&self, notice: &OutboxRow) -> Result<String, String> {
        use lettre::AsyncTransport;
        let (transport, from) = self
            .transport
            .as_ref()
            .ok_or("no smtp_url is set: email cannot be sent")?;
        let payload: Value =
            serde_json::from_str(&notice.payload).map_err(|e| format!("payload: {e}"))?;
        let subject = payload["summary"]
            .as_str()
            .unwrap_or("spectra alert")
            .to_owned();
        let body = serde_json::to_string_pretty(&payload).unwrap_or_default();
        let to = notice
            .target
            .parse()
            .map_err(|e| format!("address {:?}: {e}", notice.target))?;
        let message = lettre::Message::builder()
            .from(from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n\n{body}\n",
                payload["summary"].as_str().unwrap_or("")
            ))
            .map_err(|e| format!("message: {e}"))?;
        let answer = transport
            .send(message)
            .await
            .map_err(|e| format!("SMTP: {e}"))?;
        Ok(format!("SMTP {}", answer.code()))
    }
}

/// The TLS of `url` (`smtps`: TLS from the start; `?tls=required|opportunistic`: STARTTLS)
/// trusting `ca_file` besides the public roots. An empty error: the URL does not parse.
fn smtp_tls_with_ca(
    url: &str,
    ca_file: &std::path::Path,
) -> Result<lettre::transport::smtp::client::Tls, String> {
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let parsed = reqwest::Url::parse(url).map_err(|_| String::new())?;
    let host = parsed.host_str().ok_or_else(String::new)?.to_owned();
    let pem =
        std::fs::read(ca_file).map_err(|e| format!("smtp_ca_file {}: {e}", ca_file.display()))?;
    let certificate = Certificate::from_pem(&pem)
        .map_err(|e| format!("smtp_ca_file {}: {e}", ca_file.display()))?;
    let parameters = TlsParameters::builder(host)
        .add_root_certificate(certificate)
        .build_rustls()
        .map_err(|e| format!("smtp_ca_file {}: {e}", ca_file.display()))?;
    let mode = parsed
        .query_pairs()
        .find(|(key, _)| key == "tls")
        .map(|(_, value)| value.into_owned());
    Ok(match (parsed.scheme(), mode.as_deref()) {
        ("smtps", _) => Tls::Wrapper(parameters),
        (_, Some("required")) => Tls::Required(parameters),
        (_, Some("opportunistic")) => Tls::Opportunistic(parameters),
        _ => Tls::None,
    })
}

/// Evaluates every interval and delivers the outbox every second, until shutdown.
pub async fn run(state: Alerting, mailer: Mailer) {
    let evaluating = {
        let state = state.clone();
        async move {
            let mut tick = tokio::time::interval(state.settings.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match evaluate_if_due(&state, Utc::now()).await {
                    Ok(Some(done)) => {
                        state
                            .evaluations
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        tracing::debug!(
                            rules = done.rules,
                            series = done.series,
                            changed = done.changed,
                            notices = done.notices,
                            elapsed_ms = done.elapsed.as_secs_f64() * 1000.0,
                            "alert rules evaluated"
                        )
                    }
                    Ok(None) => tracing::debug!("alert rules evaluated by another replica"),
                    Err(e) => tracing::warn!(error = %e, "alert evaluation failed; will retry"),
                }
            }
        }
    };
    let delivering = async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = deliver_due(&state, &mailer).await {
                tracing::warn!(error = %e, "alert delivery failed; will retry");
            }
        }
    };
    tokio::join!(evaluating, delivering);
}

/// The longest a silence may last.
pub const MAX_SILENCE: Duration = Duration::from_secs(366 * 24 * 3600);

/// A silence as asked for, before it is checked.
#[derive(Debug, Clone)]
pub struct SilenceRequest {
    pub rule: Option<String>,
    pub agent: Option<String>,
    /// `key=value`: agents carrying this label.
    pub label: Option<String>,
    /// How long from now, e.g. `2h`.
    pub duration: String,
    pub reason: String,
}

/// The silence `request` asks for, made by `by` at `now`; or what is wrong with it, naming
/// the field: it names a rule, an agent or a label, says why, and lasts 1 s to 366 days.
pub fn silence(request: SilenceRequest, by: String, now: DateTime<Utc>) -> Result<Silence, String> {
    if request.rule.is_none() && request.agent.is_none() && request.label.is_none() {
        return Err("rule, agent, label: a silence names at least one of them".into());
    }
    if request.reason.trim().is_empty() {
        return Err("reason: say why".into());
    }
    let label = match &request.label {
        None => None,
        Some(text) => Some(
            text.split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("label: {text:?} is not key=value"))?,
        ),
    };
    let duration = spectra_core::units::parse_duration(&request.duration)
        .map_err(|e| format!("duration: {e}"))?;
    if duration.is_zero() || duration > MAX_SILENCE {
        return Err("duration: from 1s to 366d".into());
    }
    Ok(Silence {
        id: Uuid::new_v4().to_string(),
        rule: request.rule,
        agent_id: request.agent,
        label,
        starts_at: now,
        ends_at: now + chrono::Duration::from_std(duration).unwrap_or_default(),
        created_by: by,
        reason: request.reason,
    })
}

/// Checks a rule as the API stores it: it compiles, and its targets can be served here.
pub fn check_rule(
    settings: &AlertSettings,
    rule: &spectra_core::alert::AlertRule,
) -> Result<CompiledAlertRule, String> {
    let compiled = rule.compile().map_err(|e| e.to_string())?;
    for target in &compiled.notify {
        match target {
            Target::Webhook(_) if settings.webhook_secret.is_none() => {
                return Err(
                    "notify: webhooks are signed, and this server has no secret to sign \
                            with: start it with --alert-webhook-secret SECRET (or \
                            SPECTRA_ALERT_WEBHOOK_SECRET, or alert_webhook_secret in its \
                            configuration file)"
                        .into(),
                );
            }
            Target::Email(_) if settings.smtp_url.is_none() => {
                return Err(
                    "notify: this server has no SMTP server to send email with: start \
                            it with --smtp-url URL (or SPECTRA_SMTP_URL, or smtp_url in its \
                            configuration file)"
                        .into(),
                );
            }
            _ => {}
        }
    }
    Ok(compiled)
}
