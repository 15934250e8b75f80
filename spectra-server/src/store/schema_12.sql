-- People who sign in to the web app. Passwords are argon2id PHC strings; a disabled user keeps
-- their row (and their name in the audit list) but cannot sign in.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Signed-in browsers. The cookie holds the session's secret; only its SHA-256 is stored, with
-- the CSRF token every state-changing request must echo. Shared by replicas.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    from_addr TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_name);

-- Who signed in, failed to, and changed whom: readable by admins.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    from_addr TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at, id);

-- One-time secrets such as the first-admin setup link (hashed).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The server replicas sharing this database: each writes its row as it runs maintenance,
-- so any replica's server health page lists them all.
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    version TEXT NOT NULL,
    listen TEXT NOT NULL
);
