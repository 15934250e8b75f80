-- Batch ids belong to the agent that sent them: unique per agent, with a hash of the content
-- so that an id reused for other content is refused (409) instead of silently dropped.
CREATE TABLE metric_batches_v3 (
    agent_id TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    envelopes BIGINT NOT NULL,
    PRIMARY KEY (agent_id, batch_id)
);
INSERT INTO metric_batches_v3 (agent_id, batch_id, content_hash, received_at, envelopes)
    SELECT agent_id, batch_id, '', received_at, envelopes FROM metric_batches;
DROP TABLE metric_batches;
ALTER TABLE metric_batches_v3 RENAME TO metric_batches;
CREATE INDEX metric_batches_received ON metric_batches (received_at);

-- Snapshot ids stay global (they name a snapshot in the API), but a reuse is told apart.
ALTER TABLE snapshots ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';

-- Hours (start, ms) that received envelopes after their rollups may have been computed: the
-- next maintenance recomputes them. `marked_at` lets a recomputation clear only the marks
-- it saw, so a batch arriving during it is not lost.
CREATE TABLE rollup_dirty (
    hour BIGINT PRIMARY KEY,
    marked_at BIGINT NOT NULL
);

-- What happened to each agent's identity: enrollments, re-enrollments (with or without
-- proof), approvals, deregistrations. Kept after an agent is deregistered.
CREATE TABLE agent_events (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, at);

-- Failed authentications per subject (`token:ID`, `addr:IP`) and minute, shared by replicas.
CREATE TABLE auth_failures (
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    PRIMARY KEY (subject, window_start)
);

-- Go agents admitted by `--legacy-agents`: identified by hostname, unauthenticated.
ALTER TABLE agents ADD COLUMN legacy BIGINT NOT NULL DEFAULT 0;

-- The newest envelope per series: the Go agent sends one envelope per mount, interface and
-- sensor, so (agent, kind) alone would keep only the last of them.
DROP TABLE latest_metrics;
CREATE TABLE latest_metrics (
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    series TEXT NOT NULL,
    ts BIGINT NOT NULL,
    hostname TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (agent_id, kind, series)
);
