//! What agents' policy loops report: their plans and enforcements.

use super::*;
use spectra_core::protocol::PlanReport;

/// A plan report as stored, with its agent and when it arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRecord {
    pub agent_id: String,
    #[serde(flatten)]
    pub report: PlanReport,
    pub received_at: DateTime<Utc>,
}

impl Store {
    /// Keeps `report` from `agent_id`; a report of a plan already reported changes nothing
    /// (false), except that an enforcement reported later is added.
    pub async fn record_plan(
        &self,
        agent_id: &str,
        report: &PlanReport,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let enforcement = report
            .enforcement
            .as_ref()
            .map(|e| serde_json::to_string(e).unwrap_or_default());
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO plan_reports (agent_id, plan_id, policy, action, root, files, bytes,
                                       scan_partial, created_at, received_at, enforcement)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (agent_id, plan_id) DO UPDATE
                 SET enforcement = COALESCE(plan_reports.enforcement, excluded.enforcement)",
        )
        .bind(agent_id)
        .bind(&report.plan_id)
        .bind(&report.policy)
        .bind(&report.action)
        .bind(&report.root)
        .bind(saturating_i64(report.files))
        .bind(saturating_i64(report.bytes))
        .bind(i64::from(report.scan_partial))
        .bind(millis(report.created_at))
        .bind(millis(now))
        .bind(enforcement)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Plan reports, newest first, of one agent or of all.
    pub async fn plans(&self, agent_id: Option<&str>) -> StoreResult<Vec<PlanRecord>> {
        let rows = sqlx::query(
            "SELECT agent_id, plan_id, policy, action, root, files, bytes, scan_partial,
                    created_at, received_at, enforcement
             FROM plan_reports WHERE $1 IS NULL OR agent_id = $1
             ORDER BY received_at DESC, plan_id LIMIT 1000",
        )
        .bind(agent_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(plan_from_row).collect()
    }
}

fn plan_from_row(row: &AnyRow) -> StoreResult<PlanRecord> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        what: "plan report",
        message: e.to_string(),
    };
    let enforcement: Option<String> = row.try_get("enforcement")?;
    Ok(PlanRecord {
        agent_id: row.try_get("agent_id")?,
        report: PlanReport {
            plan_id: row.try_get("plan_id")?,
            policy: row.try_get("policy")?,
            action: row.try_get("action")?,
            root: row.try_get("root")?,
            files: u64::try_from(row.try_get::<i64, _>("files")?).unwrap_or(0),
            bytes: u64::try_from(row.try_get::<i64, _>("bytes")?).unwrap_or(0),
            scan_partial: row.try_get::<i64, _>("scan_partial")? != 0,
            created_at: from_millis(row.try_get("created_at")?),
            enforcement: enforcement
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(corrupt)?,
        },
        received_at: from_millis(row.try_get("received_at")?),
    })
}
