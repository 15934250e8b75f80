-- One schema for both databases: only types both read the same way (TEXT, BIGINT, DOUBLE
-- PRECISION), times as milliseconds since the epoch, ids as text.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    os TEXT NOT NULL,
    version TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    machine_id TEXT UNIQUE,
    approved BIGINT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_seen BIGINT,
    last_snapshot_id TEXT,
    last_snapshot_at BIGINT
);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    agent_id TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX tokens_agent ON tokens (agent_id);

CREATE TABLE metric_batches (
    batch_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    envelopes BIGINT NOT NULL
);
CREATE INDEX metric_batches_received ON metric_batches (received_at);

CREATE TABLE metrics (
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts BIGINT NOT NULL,
    hostname TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX metrics_series ON metrics (agent_id, kind, ts);
CREATE INDEX metrics_ts ON metrics (ts);

-- The newest envelope of each (agent, kind), kept on ingest so /metrics reads one row each.
CREATE TABLE latest_metrics (
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts BIGINT NOT NULL,
    hostname TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (agent_id, kind)
);

CREATE TABLE metric_rollups (
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    resolution BIGINT NOT NULL,
    field TEXT NOT NULL,
    bucket BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    total DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (agent_id, kind, resolution, field, bucket)
);
CREATE INDEX metric_rollups_bucket ON metric_rollups (resolution, bucket);

CREATE TABLE rollup_progress (
    resolution BIGINT PRIMARY KEY,
    done_until BIGINT NOT NULL
);

CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    root TEXT NOT NULL,
    taken_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    apparent_bytes BIGINT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    files BIGINT NOT NULL,
    dirs BIGINT NOT NULL,
    partial BIGINT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX snapshots_series ON snapshots (agent_id, root, taken_at);

CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE commands (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    diagnostic TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    claimed_at BIGINT,
    finished_at BIGINT,
    result TEXT
);
CREATE INDEX commands_queue ON commands (agent_id, status, created_at);

CREATE TABLE agent_rates (
    agent_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (agent_id, window_start)
);
