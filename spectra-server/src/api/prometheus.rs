//! `GET /metrics` in Prometheus' text format: the latest host metrics of every agent, and this
//! replica's own request counters and latency quantiles (each replica is scraped on its own).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{ApiError, AppState};
use crate::auth::Viewer;
use spectra_core::protocol::flatten::{Sample, samples, series_label};

/// Latency histogram bounds grow by this factor, so a quantile is exact to within it.
const GROWTH: f64 = 1.2;
const FIRST_BOUND_SECS: f64 = 1e-5;
const BOUNDS: usize = 96;

/// One route's traffic on this replica (quantiles exact to within 20 %).
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct RouteStats {
    pub route: String,
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Default)]
pub struct RequestStats {
    inner: Mutex<StatsInner>,
}

#[derive(Debug, Default)]
struct StatsInner {
    counts: BTreeMap<(String, String, u16), u64>,
    latencies: HashMap<String, Histogram>,
}

#[derive(Debug, Clone)]
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    sum_secs: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; BOUNDS + 1],
            count: 0,
            sum_secs: 0.0,
        }
    }
}

fn bound(index: usize) -> f64 {
    FIRST_BOUND_SECS * GROWTH.powi(i32::try_from(index).unwrap_or(i32::MAX))
}

impl Histogram {
    fn record(&mut self, secs: f64) {
        let index = (0..BOUNDS).find(|&i| secs <= bound(i)).unwrap_or(BOUNDS);
        self.buckets[index] += 1;
        self.count += 1;
        self.sum_secs += secs;
    }

    /// The upper bound of the bucket holding the `q` quantile.
    fn quantile(&self, q: f64) -> f64 {
        let rank = (q * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bound(index.min(BOUNDS - 1));
            }
        }
        bound(BOUNDS - 1)
    }
}

impl RequestStats {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        *inner
            .counts
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        inner
            .latencies
            .entry(route.to_owned())
            .or_default()
            .record(elapsed.as_secs_f64());
    }

    /// Per route: requests, server errors and latency quantiles since this replica started.
    pub fn routes(&self) -> Vec<RouteStats> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut routes: BTreeMap<&str, RouteStats> = BTreeMap::new();
        for ((_, route, status), n) in &inner.counts {
            let stats = routes.entry(route).or_insert_with(|| RouteStats {
                route: route.clone(),
                ..RouteStats::default()
            });
            stats.requests += n;
            if *status >= 500 {
                stats.server_errors += n;
            } else if *status >= 400 {
                stats.client_errors += n;
            }
        }
        routes
            .into_values()
            .map(|mut stats| {
                if let Some(histogram) = inner.latencies.get(&stats.route) {
                    stats.p50_ms = histogram.quantile(0.5) * 1000.0;
                    stats.p95_ms = histogram.quantile(0.95) * 1000.0;
                    stats.p99_ms = histogram.quantile(0.99) * 1000.0;
                }
                stats
            })
            .collect()
    }

    /// Latency quantile of `route`, in seconds (for tests and benchmarks).
    pub fn quantile(&self, route: &str, q: f64) -> Option<f64> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.latencies.get(route).map(|h| h.quantile(q))
    }

    fn write(&self, out: &mut String) {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        out.push_str("# HELP spectra_http_requests_total Requests served by this replica.\n");
        out.push_str("# TYPE spectra_http_requests_total counter\n");
        for ((method, route, status), n) in &inner.counts {
            let _ = writeln!(
                out,
                "spectra_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(method),
                escape(route)
            );
        }
        out.push_str(
            "# HELP spectra_http_request_duration_seconds Request latency on this replica.\n",
        );
        out.push_str("# TYPE spectra_http_request_duration_seconds summary\n");
        let routes: BTreeMap<_, _> = inner.latencies.iter().collect();
        for (route, histogram) in routes {
            let route = escape(route);
            for q in [0.5, 0.95, 0.99] {
                let _ = writeln!(
                    out,
                    "spectra_http_request_duration_seconds{{route=\"{route}\",quantile=\"{q}\"}} {}",
                    histogram.quantile(q)
                );
            }
            let _ = writeln!(
                out,
                "spectra_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                histogram.sum_secs
            );
            let _ = writeln!(
                out,
                "spectra_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count
            );
        }
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric name from free text: `[a-zA-Z0-9_]`, everything else `_`.
fn metric_name(parts: &[&str]) -> String {
    let mut name = String::from("spectra");
    for part in parts {
        name.push('_');
        name.extend(part.chars().map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        }));
    }
    name
}

/// One metric family of the exposition: its help, its type and its lines, each label set once.
#[derive(Debug)]
struct Family {
    help: String,
    kind: &'static str,
    lines: Vec<String>,
    label_sets: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct Exposition {
    families: BTreeMap<String, Family>,
}

impl Exposition {
    /// Adds `name{labels} value`. A label set the family already has (two processes of one
    /// name among the top ten) gets an `index` label, so no sample hides another.
    fn add(&mut self, name: &str, help: &str, kind: &'static str, labels: &str, value: f64) {
        let family = self
            .families
            .entry(name.to_owned())
            .or_insert_with(|| Family {
                help: help.to_owned(),
                kind,
                lines: Vec::new(),
                label_sets: HashMap::new(),
            });
        let seen = family.label_sets.entry(labels.to_owned()).or_insert(0);
        *seen += 1;
        let labels = if *seen == 1 {
            labels.to_owned()
        } else {
            format!("{labels},index=\"{}\"", *seen - 1)
        };
        family.lines.push(format!("{name}{{{labels}}} {value}"));
    }

    /// A counter without labels.
    fn add_counter(&mut self, name: &str, help: &str, value: f64) {
        let family = self
            .families
            .entry(name.to_owned())
            .or_insert_with(|| Family {
                help: help.to_owned(),
                kind: "counter",
                lines: Vec::new(),
                label_sets: HashMap::new(),
            });
        family.lines.push(format!("{name} {value}"));
    }

    fn write(&self, out: &mut String) {
        for (name, family) in &self.families {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for line in &family.lines {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// What Prometheus gets of one sample: its family name, help, type and value, from core's
/// metric schema; a field the schema does not know keeps a name made from its path.
fn described(kind: &str, sample: &Sample) -> (String, String, &'static str, f64, Option<String>) {
    let dotted = format!("{kind}.{}", sample.path.join("."));
    match spectra_core::metrics::field(&dotted) {
        Some(field) => {
            let (name, scale) = field.prometheus();
            let key_label = field.wildcard_label().map(|label| {
                let key = sample.path.last().map_or("", String::as_str);
                format!(",{label}=\"{}\"", escape(key))
            });
            let kind = match field.kind {
                spectra_core::metrics::Kind::Counter => "counter",
                spectra_core::metrics::Kind::Gauge => "gauge",
            };
            (
                name,
                format!("{} ({}).", field.help, field.unit),
                kind,
                sample.value * scale,
                key_label,
            )
        }
        None => {
            let mut parts = vec![kind];
            parts.extend(sample.path.iter().map(String::as_str));
            if sample.path.is_empty() {
                parts.push("value");
            }
            let help = format!("{dotted}: a field outside Spectra's metric schema.");
            (metric_name(&parts), help, "gauge", sample.value, None)
        }
    }
}

/// `GET /metrics`: for a viewer token, or for anyone with `--metrics-public`.
pub(super) async fn exposition(
    State(state): State<AppState>,
    viewer: Result<Viewer, ApiError>,
) -> Result<impl IntoResponse, ApiError> {
    if !state.config.metrics_public {
        viewer?;
    }
    let mut exposition = Exposition::default();
    let now = chrono::Utc::now();
    for agent in state.store.agents().await? {
        let labels = format!(
            "agent_id=\"{}\",hostname=\"{}\"",
            escape(&agent.id),
            escape(&agent.hostname)
        );
        let online = agent
            .last_seen
            .is_some_and(|seen| now - seen <= crate::fleet::ONLINE_WITHIN);
        let help = format!(
            "1 when the agent was heard from within the last {} seconds, else 0.",
            crate::fleet::ONLINE_WITHIN.num_seconds()
        );
        exposition.add(
            "spectra_agent_up",
            &help,
            "gauge",
            &labels,
            f64::from(u8::from(online)),
        );
        exposition.add(
            "spectra_agent_auth_failing",
            "1 when a request carrying one of the agent's replaced tokens was refused within the \
             last 15 minutes (an old process or a copied token), else 0.",
            "gauge",
            &labels,
            f64::from(u8::from(crate::fleet::auth_failing(
                agent.auth_failed_at,
                now,
            ))),
        );
        if let Some(seen) = agent.last_seen {
            exposition.add(
                "spectra_agent_last_seen_timestamp_seconds",
                "When the agent was last heard from (seconds since the epoch).",
                "gauge",
                &labels,
                seen.timestamp_millis() as f64 / 1000.0,
            );
        }
    }
    for row in state.store.latest_metrics().await? {
        let Ok(data) = serde_json::from_str::<serde_json::Value>(&row.data) else {
            continue;
        };
        let base = format!(
            "agent_id=\"{}\",hostname=\"{}\"",
            escape(&row.agent_id),
            escape(&row.hostname)
        );
        let series = series_label(&data)
            .map(|(key, value)| format!(",{key}=\"{}\"", escape(&value)))
            .unwrap_or_default();
        exposition.add(
            "spectra_metric_timestamp_seconds",
            "When the newest envelope of a kind was taken (seconds since the epoch).",
            "gauge",
            &format!("{base},type=\"{}\"{series}", escape(&row.kind)),
            row.ts as f64 / 1000.0,
        );
        for sample in samples(&data) {
            let (name, help, kind, value, key_label) = described(&row.kind, &sample);
            let mut labels = base.clone();
            for (key, value) in &sample.labels {
                let _ = write!(labels, ",{key}=\"{}\"", escape(value));
            }
            labels.push_str(key_label.as_deref().unwrap_or(""));
            exposition.add(&name, &help, kind, &labels, value);
        }
    }
    // Every firing alert as 1 (pending and resolved ones are not exposed), so Prometheus'
    // own rules and dashboards can see what Spectra is alerting on.
    for alert in state
        .store
        .alerts(Some(spectra_core::alert::AlertState::Firing))
        .await?
    {
        let labels = format!(
            "rule=\"{}\",severity=\"{}\",series=\"{}\",agent_id=\"{}\",hostname=\"{}\"",
            escape(&alert.rule),
            escape(&alert.severity),
            escape(&alert.series),
            escape(alert.agent_id.as_deref().unwrap_or("")),
            escape(alert.hostname.as_deref().unwrap_or("")),
        );
        exposition.add(
            "spectra_alerts_firing",
            "1 for every alert that is firing.",
            "gauge",
            &labels,
            1.0,
        );
    }
    exposition.add_counter(
        "spectra_alert_evaluations_total",
        "Alert evaluations this replica ran.",
        state
            .alert_evaluations
            .load(std::sync::atomic::Ordering::Relaxed) as f64,
    );
    let mut out = String::new();
    exposition.write(&mut out);
    state.stats.write(&mut out);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_within_one_bucket() {
        let mut histogram = Histogram::default();
        for ms in 1..=100 {
            histogram.record(f64::from(ms) / 1000.0);
        }
        let p50 = histogram.quantile(0.5);
        let p99 = histogram.quantile(0.99);
        assert!((0.050..0.050 * GROWTH).contains(&p50), "p50 {p50}");
        assert!((0.099..0.099 * GROWTH).contains(&p99), "p99 {p99}");
        assert_eq!(histogram.count, 100);
    }

    #[test]
    fn names_and_labels_are_sanitized() {
        assert_eq!(
            metric_name(&["disk", "usage-percent"]),
            "spectra_disk_usage_percent"
        );
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
