//! Teams: which team each user belongs to (one team a user).

use super::*;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeamMember {
    pub user: String,
    pub team: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl Store {
    /// Every user with a team, by team then user.
    pub async fn team_members(&self) -> StoreResult<Vec<TeamMember>> {
        let rows: Vec<(String, String, i64, String)> = sqlx::query_as(
            "SELECT user_name, team, updated_at, updated_by FROM teams ORDER BY team, user_name",
        )
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user, team, at, by)| TeamMember {
                user,
                team,
                updated_at: from_millis(at),
                updated_by: by,
            })
            .collect())
    }

    /// The teams after `after` by name, at most `limit` (bounded by [`MAX_PAGE_SIZE`] + 1),
    /// each with its members by name.
    pub async fn teams_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<(String, Vec<String>)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT team, user_name FROM teams WHERE team IN (
                 SELECT DISTINCT team FROM teams WHERE $1 IS NULL OR team > $1
                 ORDER BY team LIMIT {})
             ORDER BY team, user_name",
            limit.min(MAX_PAGE_SIZE + 1)
        )))
        .bind(after)
        .fetch_all(self.reader())
        .await?;
        let mut teams: Vec<(String, Vec<String>)> = Vec::new();
        for (team, user) in rows {
            match teams.last_mut() {
                Some((last, members)) if *last == team => members.push(user),
                _ => teams.push((team, vec![user])),
            }
        }
        Ok(teams)
    }

    /// Puts `user` in `team` (moving them from any other).
    pub async fn set_team(
        &self,
        user: &str,
        team: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO teams (user_name, team, updated_at, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_name) DO UPDATE SET team = excluded.team,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(user)
        .bind(team)
        .bind(millis(now))
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes `user` out of `team`; false when they were not in it.
    pub async fn remove_from_team(&self, user: &str, team: &str) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM teams WHERE user_name = $1 AND team = $2")
            .bind(user)
            .bind(team)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
