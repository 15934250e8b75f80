//! SQLite's writes of the file index and of access telemetry, on the writer thread
//! (`sqlite_writer`): each batch in a savepoint of the group's transaction, row by row
//! through prepared statements. Several batches committed together write a page their rows
//! share once: random keys touch pages all over the tables, and a 10,000-event telemetry batch
//! alone rewrote most of `access_daily`'s leaves in the WAL.
//! A statement here is a call into SQLite on this thread, so one row a statement costs
//! nothing more than many rows a statement would, and needs no statement journal.
//!
//! What a batch does is decided in `index` and `telemetry`, whose SQL text this shares with
//! the PostgreSQL writer there; this file only runs it.

use rusqlite::{Connection, OptionalExtension, named_params, params};

use super::index::{
    ADD_BACKEND_TOTALS, ADD_USAGE, COUNT_CRAWL_BATCHES, Claim, CrawlState, DAY_MS,
    DELETE_EMPTY_USAGE, DELETE_UNSEEN, FINISH_CRAWL, INDEX_COLUMN_NAMES, INDEX_COLUMNS,
    INSERT_BACKEND, INSERT_INDEX_BATCH, ON_CONFLICT_UPDATE, RECORD_GROWTH, RECOUNT_BACKEND,
    SELECT_CRAWL_STATE, TAKE_BACKEND, UNSEEN_USAGE, UsageChanges, claim, missing_batches,
    removes_unseen,
};
use super::sqlite_writer::{PendingIndex, PendingTelemetry};
use super::telemetry::{Aggregate, INSERT_TELEMETRY_BATCH};
use super::*;

// A statement run once a row binds its parameters by position, which SQLite numbers in the
// order they first appear (not by the digits of `$N`): these, and the row statements made
// from `placeholders`, name theirs in order (tested below). The others bind by name.
const SELECT_ROW: &str =
    "SELECT owner, size, disk_bytes FROM file_index WHERE backend = $1 AND path_hash = $2";
const DELETE_ROW: &str = "DELETE FROM file_index WHERE backend = $1 AND path_hash = $2";

/// Applies an index batch; the writer keeps what it wrote only when it was applied (a
/// duplicate or a refused crawl is rolled back to its savepoint).
pub(super) fn write_index(tx: &Connection, job: &PendingIndex) -> StoreResult<IndexOutcome> {
    let batch = &job.batch;
    let backend = batch.backend.as_str();
    let crawl = batch.crawl_id.to_string();
    let now = millis(job.now);
    let fresh = tx
        .prepare_cached(INSERT_INDEX_BATCH)?
        .execute(named_params! {
            "$1": batch.batch_id.to_string(),
            "$2": crawl,
            "$3": i64::from(batch.seq),
            "$4": now,
        })?;
    if fresh == 0 {
        return Ok(IndexOutcome::Duplicate);
    }
    let state: Option<CrawlState> = tx
        .prepare_cached(SELECT_CRAWL_STATE)?
        .query_row(named_params! {"$1": backend}, |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    let root = batch.root.to_string_lossy();
    let write_backend = |sql: &str| -> rusqlite::Result<usize> {
        tx.prepare_cached(sql)?
            .execute(named_params! {"$1": backend, "$2": job.agent.id, "$3": root, "$4": crawl})
    };
    match claim(state, &job.agent, batch) {
        Claim::Refuse(why) => return Ok(IndexOutcome::Resync(why)),
        Claim::Create => {
            write_backend(INSERT_BACKEND)?;
            for sql in RECOUNT_BACKEND {
                tx.prepare_cached(sql)?
                    .execute(named_params! {"$1": backend})?;
            }
            1
        }
        Claim::Take => write_backend(TAKE_BACKEND)?,
        Claim::Continue => 0,
    };
    let mut changes = UsageChanges::default();
    write_rows(tx, job, &crawl, &mut changes)?;
    let Some(end) = &batch.end else {
        apply_usage(tx, backend, &changes)?;
        return Ok(IndexOutcome::Applied {
            files: None,
            resync: false,
        });
    };
    let received: i64 = tx
        .prepare_cached(COUNT_CRAWL_BATCHES)?
        .query_row(named_params! {"$1": crawl}, |row| row.get(0))?;
    if let Some(why) = missing_batches(&crawl, received, end) {
        return Ok(IndexOutcome::Resync(why));
    }
    if removes_unseen(batch, end) {
        let mut unseen = tx.prepare_cached(UNSEEN_USAGE)?;
        let mut rows = unseen.query(named_params! {"$1": backend, "$2": crawl})?;
        while let Some(row) = rows.next()? {
            let owner: String = row.get(0)?;
            changes.remove(
                &owner,
                Totals {
                    files: row.get(1)?,
                    apparent_bytes: row.get(2)?,
                    disk_bytes: row.get(3)?,
                },
            );
        }
        tx.prepare_cached(DELETE_UNSEEN)?
            .execute(named_params! {"$1": backend, "$2": crawl})?;
    }
    let totals = apply_usage(tx, backend, &changes)?;
    let resync = u64::try_from(totals.files).ok() != Some(end.files);
    let finished = millis(end.finished_at);
    tx.prepare_cached(FINISH_CRAWL)?.execute(named_params! {
        "$1": backend,
        "$2": (!resync).then_some(&crawl),
        "$3": finished,
        "$4": i64::from(end.complete),
    })?;
    tx.prepare_cached(RECORD_GROWTH)?.execute(named_params! {
        "$1": backend,
        "$2": finished.div_euclid(DAY_MS) * DAY_MS,
        "$3": totals.files,
        "$4": totals.apparent_bytes,
        "$5": totals.disk_bytes,
    })?;
    Ok(IndexOutcome::Applied {
        files: Some(totals.files),
        resync,
    })
}

/// The batch's files (new ones inserted; known ones looked up, so their old values leave the
/// usage, and rewritten) and its removals.
fn write_rows(
    tx: &Connection,
    job: &PendingIndex,
    crawl: &str,
    changes: &mut UsageChanges,
) -> StoreResult<()> {
    let backend = job.batch.backend.as_str();
    let now = millis(job.now);
    let values = format!("INSERT INTO file_index ({INDEX_COLUMN_NAMES}) VALUES {}", {
        placeholders(1, INDEX_COLUMNS)
    });
    let mut insert = tx.prepare_cached(&format!(
        "{values} ON CONFLICT (backend, path_hash) DO NOTHING"
    ))?;
    let mut rewrite = tx.prepare_cached(&format!("{values} {ON_CONFLICT_UPDATE}"))?;
    let mut lookup = tx.prepare_cached(SELECT_ROW)?;
    let mut known = |hash: i64| -> rusqlite::Result<Option<(String, Totals)>> {
        lookup
            .query_row(params![backend, hash], |row| {
                Ok((
                    row.get(0)?,
                    Totals {
                        files: 1,
                        apparent_bytes: row.get(1)?,
                        disk_bytes: row.get(2)?,
                    },
                ))
            })
            .optional()
    };
    for row in &job.rows.rows {
        let columns = params![
            backend,
            row.path_hash,
            row.path,
            row.size,
            row.disk_bytes,
            row.mtime,
            row.atime,
            row.uid,
            row.gid,
            row.ino,
            row.owner,
            now,
            now,
            crawl
        ];
        if insert.execute(columns)? == 0 {
            if let Some((owner, totals)) = known(row.path_hash)? {
                changes.remove(&owner, totals);
            }
            rewrite.execute(columns)?;
        }
        changes.add(&row.owner, row.totals());
    }
    let mut delete = tx.prepare_cached(DELETE_ROW)?;
    for &hash in &job.rows.removed {
        if let Some((owner, totals)) = known(hash)? {
            changes.remove(&owner, totals);
            delete.execute(params![backend, hash])?;
        }
    }
    Ok(())
}

/// Adds `changes` to the backend's usage by owner and to its totals; answers the totals.
fn apply_usage(tx: &Connection, backend: &str, changes: &UsageChanges) -> StoreResult<Totals> {
    let (changed, sum) = changes.nonzero();
    let mut add = tx.prepare_cached(ADD_USAGE)?;
    for (owner, change) in changed {
        add.execute(named_params! {
            "$1": backend,
            "$2": owner,
            "$3": change.files,
            "$4": change.apparent_bytes,
            "$5": change.disk_bytes,
        })?;
    }
    tx.prepare_cached(DELETE_EMPTY_USAGE)?
        .execute(named_params! {"$1": backend})?;
    Ok(tx.prepare_cached(ADD_BACKEND_TOTALS)?.query_row(
        named_params! {
            "$1": backend,
            "$2": sum.files,
            "$3": sum.apparent_bytes,
            "$4": sum.disk_bytes,
        },
        |row| {
            Ok(Totals {
                files: row.get(0)?,
                apparent_bytes: row.get(1)?,
                disk_bytes: row.get(2)?,
            })
        },
    )?)
}

/// Adds a telemetry batch's aggregates once by its id.
pub(super) fn write_telemetry(
    tx: &Connection,
    job: &PendingTelemetry,
) -> StoreResult<TelemetryOutcome> {
    let rows = &job.rows;
    let fresh = tx
        .prepare_cached(INSERT_TELEMETRY_BATCH)?
        .execute(named_params! {
            "$1": rows.batch_id,
            "$2": job.agent.id,
            "$3": rows.events as i64,
            "$4": millis(job.now),
        })?;
    if fresh == 0 {
        return Ok(TelemetryOutcome::Duplicate);
    }
    let mut daily = tx.prepare_cached(&Aggregate::Daily.upsert(1))?;
    for ((backend, hash, user, day), row) in &rows.daily {
        daily.execute(params![
            backend,
            hash,
            user,
            day,
            row.path,
            row.events,
            row.reads,
            row.bytes_read,
            row.last_access
        ])?;
    }
    let mut file = tx.prepare_cached(&Aggregate::File.upsert(1))?;
    for ((backend, hash), at) in &rows.files {
        file.execute(params![backend, hash, at])?;
    }
    let mut user = tx.prepare_cached(&Aggregate::User.upsert(1))?;
    for ((backend, name), at) in &rows.users {
        user.execute(params![backend, name, at])?;
    }
    Ok(TelemetryOutcome::Stored {
        events: rows.events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_bound_by_position_name_their_parameters_in_order() {
        let conn = Connection::open_in_memory().expect("database");
        for (_, sql) in super::super::migrate::SCHEMA {
            conn.execute_batch(&super::super::migrate::schema_for("sqlite", sql))
                .expect("schema");
        }
        let row = format!(
            "INSERT INTO file_index ({INDEX_COLUMN_NAMES}) VALUES {}",
            placeholders(1, INDEX_COLUMNS)
        );
        let statements = [
            format!("{row} ON CONFLICT (backend, path_hash) DO NOTHING"),
            format!("{row} {ON_CONFLICT_UPDATE}"),
            SELECT_ROW.to_owned(),
            DELETE_ROW.to_owned(),
            Aggregate::Daily.upsert(1),
            Aggregate::File.upsert(1),
            Aggregate::User.upsert(1),
        ];
        for sql in statements {
            let statement = conn.prepare(&sql).expect(&sql);
            for index in 1..=statement.parameter_count() {
                assert_eq!(
                    statement.parameter_name(index),
                    Some(format!("${index}").as_str()),
                    "{sql}"
                );
            }
        }
    }
}
