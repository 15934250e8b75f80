-- Storage quotas: a limit in bytes per subject (`user:NAME`, `root:PATH`).
CREATE TABLE quotas (
    subject TEXT PRIMARY KEY,
    limit_bytes BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
