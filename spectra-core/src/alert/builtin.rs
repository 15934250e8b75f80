//! The built-in series — what each observes and when a value is too old — so that every
//! server (or an embedder evaluating rules itself) computes them alike; the server only
//! gathers their inputs (agents' last contact, the newest `services` envelopes, quota levels).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Selector;
use crate::protocol::flatten::Leaf;

/// A metric envelope older than this is no longer a series' value: the series is absent and
/// its alerts resolve. An agent gone quiet is what `agent.heartbeat_age` is for.
pub const METRIC_FRESH_WITHIN: Duration = Duration::from_secs(15 * 60);

/// The oldest envelope time (milliseconds since the epoch) still fresh at `now_ms`.
pub fn fresh_from(now_ms: i64) -> i64 {
    let window = i64::try_from(METRIC_FRESH_WITHIN.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(window)
}

/// `agent.heartbeat_age`: seconds since the agent was last heard from (any authenticated
/// request), or since it registered when it never was.
pub fn heartbeat_age(
    last_seen: Option<DateTime<Utc>>,
    registered_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> f64 {
    let heard = last_seen.unwrap_or(registered_at);
    (now - heard).num_milliseconds() as f64 / 1000.0
}

/// `service.down{name=…}` over the leaves of one agent's newest `services` envelopes: per
/// unit the selector admits, its name and 1 when its `active_state` is not `active`, else 0.
pub fn services_down<'l>(
    leaves: &'l [Leaf],
    selector: &'l Selector,
) -> impl Iterator<Item = (&'l str, f64)> + 'l {
    leaves
        .iter()
        .filter(|leaf| leaf.path.last().is_some_and(|p| p == "active_state"))
        .filter(|leaf| selector.admits_labels(&leaf.labels))
        .map(|leaf| {
            let name = leaf
                .labels
                .iter()
                .find(|(key, _)| key == "name")
                .map_or("", |(_, v)| v.as_str());
            let down = leaf.value.to_string() != "active";
            (name, f64::from(u8::from(down)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::flatten;

    #[test]
    fn freshness_is_the_window_before_now_and_never_overflows() {
        let now = 1_000_000_000_000;
        assert_eq!(now - fresh_from(now), 15 * 60 * 1000);
        assert_eq!(fresh_from(i64::MIN), i64::MIN);
    }

    #[test]
    fn heartbeat_age_counts_from_the_last_contact_else_the_registration() {
        let registered = DateTime::from_timestamp(1_000, 0).expect("time");
        let seen = DateTime::from_timestamp(1_100, 0).expect("time");
        let now = DateTime::from_timestamp(1_130, 500_000_000).expect("time");
        assert_eq!(heartbeat_age(Some(seen), registered, now), 30.5);
        assert_eq!(heartbeat_age(None, registered, now), 130.5);
    }

    #[test]
    fn a_unit_is_down_unless_active_and_the_selector_picks_units() {
        let data = serde_json::json!({"services": [
            {"name": "nginx.service", "active_state": "active"},
            {"name": "cron.service", "active_state": "failed"},
            {"name": "ssh.service", "active_state": "inactive"},
        ]});
        let leaves = flatten::leaves(&data, flatten::SERIES_LIMITS);
        let every = Selector {
            kind: "service".into(),
            field: "down".into(),
            labels: vec![],
        };
        let down: Vec<(&str, f64)> = services_down(&leaves, &every).collect();
        assert_eq!(
            down,
            [
                ("nginx.service", 0.0),
                ("cron.service", 1.0),
                ("ssh.service", 1.0)
            ]
        );
        let cron = Selector {
            labels: vec![("name".into(), "cron.service".into())],
            ..every
        };
        assert_eq!(
            services_down(&leaves, &cron).collect::<Vec<_>>(),
            [("cron.service", 1.0)]
        );
    }
}
