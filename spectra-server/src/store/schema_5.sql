-- Governance: the file index, access telemetry and teams.

-- Storage locations the file index knows: an agent's root (`host:/data`) or a name its
-- configuration gives. Totals are kept up to date as the index changes.
CREATE TABLE backends (
    name TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    root TEXT NOT NULL,
    -- The last crawl applied whole: a delta crawl must name it as its base.
    applied_crawl TEXT,
    -- The crawl being received, if any.
    pending_crawl TEXT,
    last_crawl_at BIGINT,
    last_complete_crawl_at BIGINT,
    files BIGINT NOT NULL DEFAULT 0,
    apparent_bytes BIGINT NOT NULL DEFAULT 0,
    disk_bytes BIGINT NOT NULL DEFAULT 0
);

-- One row per file, keyed by the SHA-256 prefix of its exact path bytes.
CREATE TABLE file_index (
    backend TEXT NOT NULL,
    path_hash BIGINT NOT NULL,
    path TEXT NOT NULL,
    size BIGINT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    mtime BIGINT,
    atime BIGINT,
    uid BIGINT,
    gid BIGINT,
    ino BIGINT,
    owner TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    -- When a crawl last wrote the row; an unchanged row was also seen by every later
    -- complete crawl of its backend (a delta crawl does not rewrite it).
    last_crawled BIGINT NOT NULL,
    seen_crawl TEXT NOT NULL,
    PRIMARY KEY (backend, path_hash)
);
CREATE INDEX file_index_size ON file_index (size, backend, path_hash);
CREATE INDEX file_index_owner ON file_index (owner, size);

-- Usage per backend and owner, changed by every index write (never computed by a scan).
CREATE TABLE index_usage (
    backend TEXT NOT NULL,
    owner TEXT NOT NULL,
    files BIGINT NOT NULL,
    apparent_bytes BIGINT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    PRIMARY KEY (backend, owner)
);

-- Each backend's totals at the end of each day it was crawled: growth series.
CREATE TABLE index_growth (
    backend TEXT NOT NULL,
    day BIGINT NOT NULL,
    files BIGINT NOT NULL,
    apparent_bytes BIGINT NOT NULL,
    disk_bytes BIGINT NOT NULL,
    PRIMARY KEY (backend, day)
);

-- Index batches applied, so a retried one is applied once.
CREATE TABLE index_batches (
    batch_id TEXT PRIMARY KEY,
    crawl_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE INDEX index_batches_crawl ON index_batches (crawl_id);

-- User → team.
CREATE TABLE teams (
    user_name TEXT PRIMARY KEY,
    team TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX teams_team ON teams (team);

-- Access telemetry per file, user and day.
CREATE TABLE access_daily (
    backend TEXT NOT NULL,
    path_hash BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    day BIGINT NOT NULL,
    path TEXT NOT NULL,
    events BIGINT NOT NULL,
    reads BIGINT NOT NULL,
    bytes_read BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (backend, path_hash, user_name, day)
);
CREATE INDEX access_daily_user ON access_daily (user_name);

-- The last use (a read, write, open or create: not a stat or listing) of each file and by
-- each user, kept up to date as telemetry arrives.
CREATE TABLE file_access (
    backend TEXT NOT NULL,
    path_hash BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (backend, path_hash)
);
CREATE TABLE user_access (
    backend TEXT NOT NULL,
    user_name TEXT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (backend, user_name)
);

CREATE TABLE telemetry_batches (
    batch_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    events BIGINT NOT NULL,
    received_at BIGINT NOT NULL
);
