//! Alerts: rules, each alert's state, silences, and the outbox of notices with every attempt
//! at delivering them.

use spectra_core::alert::{AlertRule, AlertState, Tracked};

use super::*;

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AlertRuleRecord {
    #[serde(flatten)]
    pub rule: AlertRule,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// One alert (a rule and one of its series) as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AlertRecord {
    pub rule: String,
    pub series: String,
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub state: AlertState,
    pub severity: String,
    pub value: Option<f64>,
    /// When the condition began to hold.
    pub since: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub notified_at: Option<DateTime<Utc>>,
    /// Whether its last notice was held back by a silence.
    pub silenced: bool,
    pub evaluated_at: DateTime<Utc>,
    /// Whether this episode's firing was announced (see [`Tracked::announced`]).
    #[serde(skip)]
    pub announced: bool,
}

impl AlertRecord {
    pub fn tracked(&self) -> Tracked {
        Tracked {
            state: self.state,
            since: millis(self.since),
            fired_at: self.fired_at.map(millis),
            resolved_at: self.resolved_at.map(millis),
            notified_at: self.notified_at.map(millis),
            announced: self.announced,
        }
    }
}

/// A silence: delivery for matching alerts is held back between `starts_at` and `ends_at`.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Silence {
    pub id: String,
    pub rule: Option<String>,
    pub agent_id: Option<String>,
    /// `key=value` of an agent label.
    pub label: Option<(String, String)>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub reason: String,
}

/// A notice waiting in (or gone through) the outbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxRow {
    pub id: String,
    pub rule: String,
    pub series: String,
    pub notice: String,
    pub channel: String,
    pub target: String,
    pub payload: String,
    pub attempts: i64,
}

/// One attempt at delivering a notice.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DeliveryAttempt {
    pub outbox_id: String,
    pub rule: String,
    pub notice: String,
    pub channel: String,
    pub target: String,
    pub attempt: i64,
    pub at: DateTime<Utc>,
    pub ok: bool,
    pub status: String,
}

const ALERT_COLUMNS: &str = "rule, series, agent_id, hostname, state, severity, value, since, \
                             fired_at, resolved_at, notified_at, announced, silenced, evaluated_at";

fn alert_of(row: &AnyRow) -> StoreResult<AlertRecord> {
    let state: String = row.try_get("state")?;
    let time = |column: &str| -> StoreResult<Option<DateTime<Utc>>> {
        Ok(row.try_get::<Option<i64>, _>(column)?.map(from_millis))
    };
    Ok(AlertRecord {
        rule: row.try_get("rule")?,
        series: row.try_get("series")?,
        agent_id: row.try_get("agent_id")?,
        hostname: row.try_get("hostname")?,
        state: AlertState::named(&state).ok_or_else(|| StoreError::Corrupt {
            what: "alert state",
            message: state.clone(),
        })?,
        severity: row.try_get("severity")?,
        value: row.try_get("value")?,
        since: from_millis(row.try_get("since")?),
        fired_at: time("fired_at")?,
        resolved_at: time("resolved_at")?,
        notified_at: time("notified_at")?,
        silenced: row.try_get::<i64, _>("silenced")? != 0,
        evaluated_at: from_millis(row.try_get("evaluated_at")?),
        announced: row.try_get::<i64, _>("announced")? != 0,
    })
}

const RULE_SELECT: &str = "SELECT spec, created_at, updated_at, updated_by FROM alert_rules";

fn rule_of(row: &AnyRow) -> StoreResult<AlertRuleRecord> {
    let spec: String = row.try_get("spec")?;
    Ok(AlertRuleRecord {
        rule: serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt {
            what: "alert rule",
            message: e.to_string(),
        })?,
        created_at: from_millis(row.try_get("created_at")?),
        updated_at: from_millis(row.try_get("updated_at")?),
        updated_by: row.try_get("updated_by")?,
    })
}

fn rule_spec(rule: &AlertRule) -> StoreResult<String> {
    serde_json::to_string(rule).map_err(|e| StoreError::Corrupt {
        what: "alert rule",
        message: e.to_string(),
    })
}

impl Store {
    /// Every rule, by name (what an evaluation reads).
    pub async fn alert_rules(&self) -> StoreResult<Vec<AlertRuleRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!("{RULE_SELECT} ORDER BY name")))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(rule_of).collect()
    }

    /// One page of rules by name, after `after`.
    pub async fn alert_rules_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<AlertRuleRecord>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "{RULE_SELECT} WHERE name > $1 ORDER BY name LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        )))
        .bind(after.unwrap_or(""))
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(rule_of).collect()
    }

    pub async fn alert_rule(&self, name: &str) -> StoreResult<Option<AlertRuleRecord>> {
        let row = sqlx::query(AssertSqlSafe(format!("{RULE_SELECT} WHERE name = $1")))
            .bind(name)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(rule_of).transpose()
    }

    /// Creates the rule named `rule.name` in one statement; false (nothing written) when a
    /// rule of that name exists, however many replicas create it at once.
    pub async fn create_alert_rule(
        &self,
        rule: &AlertRule,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let spec = rule_spec(rule)?;
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO alert_rules (name, spec, created_at, updated_at, updated_by)
             VALUES ($1, $2, $3, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&rule.name)
        .bind(&spec)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inserted.rows_affected() == 1)
    }

    /// Creates or replaces the rule named `rule.name`; answers whether it is new.
    pub async fn put_alert_rule(
        &self,
        rule: &AlertRule,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let spec = rule_spec(rule)?;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE alert_rules SET spec = $2, updated_at = $3, updated_by = $4 WHERE name = $1",
        )
        .bind(&rule.name)
        .bind(&spec)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        let created = updated.rows_affected() == 0;
        if created {
            sqlx::query(
                "INSERT INTO alert_rules (name, spec, created_at, updated_at, updated_by)
                 VALUES ($1, $2, $3, $3, $4)",
            )
            .bind(&rule.name)
            .bind(&spec)
            .bind(millis(now))
            .bind(by)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(created)
    }

    /// Deletes a rule and its alerts (notices already in the outbox are still delivered).
    pub async fn delete_alert_rule(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM alert_rules WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM alerts WHERE rule = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Takes this interval's evaluation when the last one (by any replica) was at least
    /// `gap` ago; answers whether this caller is to evaluate.
    pub async fn claim_alert_evaluation(
        &self,
        now: DateTime<Utc>,
        gap: std::time::Duration,
    ) -> StoreResult<bool> {
        let gap = i64::try_from(gap.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE alert_clock SET evaluated_at = $1 WHERE id = 1 AND evaluated_at <= $2",
        )
        .bind(millis(now))
        .bind(millis(now).saturating_sub(gap))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    /// Every alert; `state` narrows them.
    pub async fn alerts(&self, state: Option<AlertState>) -> StoreResult<Vec<AlertRecord>> {
        let rows = match state {
            Some(state) => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = $1 ORDER BY rule, series"
                )))
                .bind(state.as_str())
                .fetch_all(self.reader())
                .await?
            }
            None => {
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY rule, series"
                )))
                .fetch_all(self.reader())
                .await?
            }
        };
        rows.iter().map(alert_of).collect()
    }

    /// One page of alerts in (rule, series) order after `after`, of `state` and `rule` when
    /// given.
    pub async fn alerts_page(
        &self,
        state: Option<AlertState>,
        rule: Option<&str>,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> StoreResult<Vec<AlertRecord>> {
        let mut sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE 1 = 1");
        let mut binds: Vec<String> = Vec::new();
        if let Some(state) = state {
            binds.push(state.as_str().to_owned());
            sql.push_str(&format!(" AND state = ${}", binds.len()));
        }
        if let Some(rule) = rule {
            binds.push(rule.to_owned());
            sql.push_str(&format!(" AND rule = ${}", binds.len()));
        }
        if let Some((rule, series)) = after {
            binds.push(rule.clone());
            binds.push(series.clone());
            let (r, s) = (binds.len() - 1, binds.len());
            sql.push_str(&format!(
                " AND (rule > ${r} OR (rule = ${r} AND series > ${s}))"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY rule, series LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for bind in binds {
            query = query.bind(bind);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter().map(alert_of).collect()
    }

    /// Writes an evaluation's changed alerts and the notices they cause, all or nothing, and
    /// only if no other evaluation changed any of these alerts since this one read them
    /// (each update carries the `evaluated_at` it read: `None` for an alert it saw none of).
    /// Answers false, writing nothing, when one had: a notice is queued only by the
    /// evaluation that made the change, however many replicas evaluate.
    pub async fn apply_alert_updates(
        &self,
        updates: &[(AlertRecord, Option<DateTime<Utc>>)],
        notices: &[OutboxRow],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if updates.is_empty() && notices.is_empty() {
            return Ok(true);
        }
        let mut tx = self.begin_write().await?;
        for (alert, read) in updates {
            let written = match read {
                None => sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO alerts ({ALERT_COLUMNS})
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                         ON CONFLICT (rule, series) DO NOTHING"
                ))),
                Some(_) => sqlx::query(
                    "UPDATE alerts SET agent_id = $3, hostname = $4, state = $5, severity = $6,
                         value = $7, since = $8, fired_at = $9, resolved_at = $10,
                         notified_at = $11, announced = $12, silenced = $13, evaluated_at = $14
                     WHERE rule = $1 AND series = $2 AND evaluated_at = $15",
                ),
            }
            .bind(&alert.rule)
            .bind(&alert.series)
            .bind(&alert.agent_id)
            .bind(&alert.hostname)
            .bind(alert.state.as_str())
            .bind(&alert.severity)
            .bind(alert.value)
            .bind(millis(alert.since))
            .bind(alert.fired_at.map(millis))
            .bind(alert.resolved_at.map(millis))
            .bind(alert.notified_at.map(millis))
            .bind(i64::from(alert.announced))
            .bind(i64::from(alert.silenced))
            .bind(millis(alert.evaluated_at));
            let written = match read {
                Some(read) => written.bind(millis(*read)),
                None => written,
            }
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if written != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        for notice in notices {
            sqlx::query(
                "INSERT INTO alert_outbox (id, rule, series, notice, channel, target, payload,
                                           created_at, attempts, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $8)",
            )
            .bind(&notice.id)
            .bind(&notice.rule)
            .bind(&notice.series)
            .bind(&notice.notice)
            .bind(&notice.channel)
            .bind(&notice.target)
            .bind(&notice.payload)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn add_silence(&self, silence: &Silence) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO silences (id, rule, agent_id, label_key, label_value, starts_at,
                                   ends_at, created_by, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&silence.id)
        .bind(&silence.rule)
        .bind(&silence.agent_id)
        .bind(silence.label.as_ref().map(|(key, _)| key.clone()))
        .bind(silence.label.as_ref().map(|(_, value)| value.clone()))
        .bind(millis(silence.starts_at))
        .bind(millis(silence.ends_at))
        .bind(&silence.created_by)
        .bind(&silence.reason)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Silences that have not ended by `now`, soonest ending first.
    /// Silences not yet ended at `now`, soonest ending first (every one: what an evaluation
    /// reads).
    pub async fn silences(&self, now: DateTime<Utc>) -> StoreResult<Vec<Silence>> {
        self.silences_page(now, None, usize::MAX).await
    }

    /// One page of them after the silence `after` names: (ends at, id).
    pub async fn silences_page(
        &self,
        now: DateTime<Utc>,
        after: Option<&(i64, String)>,
        limit: usize,
    ) -> StoreResult<Vec<Silence>> {
        let mut sql = "SELECT id, rule, agent_id, label_key, label_value, starts_at, ends_at,
                    created_by, reason
             FROM silences WHERE ends_at > $1"
            .to_owned();
        if after.is_some() {
            sql.push_str(" AND (ends_at > $2 OR (ends_at = $2 AND id > $3))");
        }
        sql.push_str(" ORDER BY ends_at, id");
        if limit != usize::MAX {
            sql.push_str(&format!(" LIMIT {}", limit.min(MAX_PAGE_SIZE + 1)));
        }
        let mut query = sqlx::query(AssertSqlSafe(sql)).bind(millis(now));
        if let Some((ends_at, id)) = after {
            query = query.bind(*ends_at).bind(id.clone());
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                let key: Option<String> = row.try_get("label_key")?;
                let value: Option<String> = row.try_get("label_value")?;
                Ok(Silence {
                    id: row.try_get("id")?,
                    rule: row.try_get("rule")?,
                    agent_id: row.try_get("agent_id")?,
                    label: key.zip(value),
                    starts_at: from_millis(row.try_get("starts_at")?),
                    ends_at: from_millis(row.try_get("ends_at")?),
                    created_by: row.try_get("created_by")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect()
    }

    pub async fn delete_silence(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM silences WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted > 0)
    }

    /// Notices due for an attempt at `now` that no sender holds, oldest first.
    pub async fn due_notices(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT id, rule, series, notice, channel, target, payload, attempts
             FROM alert_outbox
             WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1
               AND (claimed_until IS NULL OR claimed_until < $1)
             ORDER BY next_attempt_at, id LIMIT {limit}"
        )))
        .bind(millis(now))
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OutboxRow {
                    id: row.try_get("id")?,
                    rule: row.try_get("rule")?,
                    series: row.try_get("series")?,
                    notice: row.try_get("notice")?,
                    channel: row.try_get("channel")?,
                    target: row.try_get("target")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Holds a notice for `lease` so that no other sender (another replica) sends it
    /// meanwhile; answers whether this caller holds it.
    pub async fn claim_notice(
        &self,
        id: &str,
        now: DateTime<Utc>,
        lease: std::time::Duration,
    ) -> StoreResult<bool> {
        let until = millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(0));
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE alert_outbox SET claimed_until = $2
             WHERE id = $1 AND delivered_at IS NULL AND failed_at IS NULL
               AND (claimed_until IS NULL OR claimed_until < $3)",
        )
        .bind(id)
        .bind(until)
        .bind(millis(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(claimed == 1)
    }

    /// Records an attempt and what follows it: delivered (`ok`), another attempt at `retry_at`,
    /// or (neither) given up.
    pub async fn record_delivery(
        &self,
        notice: &OutboxRow,
        ok: bool,
        status: &str,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let attempt = notice.attempts + 1;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO alert_deliveries (outbox_id, attempt, at, ok, status)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&notice.id)
        .bind(attempt)
        .bind(millis(now))
        .bind(i64::from(ok))
        .bind(status)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE alert_outbox SET attempts = $2, last_status = $3, claimed_until = NULL,
                 delivered_at = $4, failed_at = $5, next_attempt_at = $6
             WHERE id = $1",
        )
        .bind(&notice.id)
        .bind(attempt)
        .bind(status)
        .bind(ok.then(|| millis(now)))
        .bind((!ok && retry_at.is_none()).then(|| millis(now)))
        .bind(retry_at.map_or(millis(now), millis))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of delivery attempts, newest first (ties: by notice, then latest attempt),
    /// after the attempt `after` names: (at, outbox id, attempt).
    pub async fn deliveries(
        &self,
        after: Option<&(i64, String, i64)>,
        limit: usize,
    ) -> StoreResult<Vec<DeliveryAttempt>> {
        let mut sql = "SELECT d.outbox_id, o.rule, o.notice, o.channel, o.target, d.attempt, d.at,
                    d.ok, d.status
             FROM alert_deliveries d JOIN alert_outbox o ON o.id = d.outbox_id"
            .to_owned();
        if after.is_some() {
            sql.push_str(
                " WHERE d.at < $1 OR (d.at = $1 AND d.outbox_id > $2)
                   OR (d.at = $1 AND d.outbox_id = $2 AND d.attempt < $3)",
            );
        }
        sql.push_str(&format!(
            " ORDER BY d.at DESC, d.outbox_id, d.attempt DESC LIMIT {}",
            limit.min(MAX_PAGE_SIZE + 1)
        ));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some((at, outbox, attempt)) = after {
            query = query.bind(*at).bind(outbox.clone()).bind(*attempt);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryAttempt {
                    outbox_id: row.try_get("outbox_id")?,
                    rule: row.try_get("rule")?,
                    notice: row.try_get("notice")?,
                    channel: row.try_get("channel")?,
                    target: row.try_get("target")?,
                    attempt: row.try_get("attempt")?,
                    at: from_millis(row.try_get("at")?),
                    ok: row.try_get::<i64, _>("ok")? != 0,
                    status: row.try_get("status")?,
                })
            })
            .collect()
    }
}
