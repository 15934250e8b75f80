-- What usage and quotas need of a snapshot — its bytes by owner — kept as rows when it is
-- stored, so answering them no longer reads every newest snapshot's whole report. Snapshots
-- stored before this version have `owners_kept = 0`: their owners are still read from the
-- report.
CREATE TABLE snapshot_owners (
    snapshot_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    uid BIGINT,
    user_name TEXT,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);
CREATE INDEX snapshot_owners_by_snapshot ON snapshot_owners (snapshot_id);
CREATE INDEX snapshot_owners_by_agent ON snapshot_owners (agent_id);
ALTER TABLE snapshots ADD COLUMN owners_kept BIGINT NOT NULL DEFAULT 0;
