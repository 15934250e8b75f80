-- One quota model: a subject (team:NAME, user:NAME, backend:NAME, or root:/PATH for roots
-- measured by snapshots), optionally on one backend ('' = every backend), with soft and hard
-- limits in bytes. Today's quotas become hard limits.
CREATE TABLE quota_limits (
    subject TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT '',
    soft_bytes BIGINT,
    hard_bytes BIGINT,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    PRIMARY KEY (subject, backend)
);
INSERT INTO quota_limits (subject, backend, soft_bytes, hard_bytes, updated_at, updated_by)
    SELECT subject, '', NULL, limit_bytes, updated_at, updated_by FROM quotas;
DROP TABLE quotas;

-- Where each quota stands now (ok, soft, hard) and since when; the alerts issue delivers
-- the changes.
CREATE TABLE quota_state (
    subject TEXT NOT NULL,
    backend TEXT NOT NULL,
    level TEXT NOT NULL,
    since BIGINT NOT NULL,
    used_bytes BIGINT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (subject, backend)
);

-- Every change of level, in order.
CREATE TABLE quota_crossings (
    subject TEXT NOT NULL,
    backend TEXT NOT NULL,
    level TEXT NOT NULL,
    previous TEXT NOT NULL,
    at BIGINT NOT NULL,
    used_bytes BIGINT NOT NULL,
    limit_bytes BIGINT
);
CREATE INDEX quota_crossings_at ON quota_crossings (at);
