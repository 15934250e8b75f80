-- Access telemetry, cheaper to add to (every event writes a row of each):
-- * `access_daily` is keyed user first. The per-user queries read a prefix of the key, so
--   the separate index on the user (one more B-tree written a row) goes.
-- * On SQLite both tables are WITHOUT ROWID: the key's B-tree holds the row, one B-tree
--   written a row instead of a table and its key's index. (PostgreSQL keeps a heap and an
--   index whatever; there the marker below is a comment.)
CREATE TABLE access_daily_by_user (
    user_name TEXT NOT NULL,
    backend TEXT NOT NULL,
    path_hash BIGINT NOT NULL,
    day BIGINT NOT NULL,
    path TEXT NOT NULL,
    events BIGINT NOT NULL,
    reads BIGINT NOT NULL,
    bytes_read BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (user_name, backend, path_hash, day)
) /* sqlite: WITHOUT ROWID */;
INSERT INTO access_daily_by_user (user_name, backend, path_hash, day, path, events, reads,
                                  bytes_read, last_access)
    SELECT user_name, backend, path_hash, day, path, events, reads, bytes_read, last_access
    FROM access_daily;
DROP TABLE access_daily;
ALTER TABLE access_daily_by_user RENAME TO access_daily;

CREATE TABLE file_access_by_key (
    backend TEXT NOT NULL,
    path_hash BIGINT NOT NULL,
    last_access BIGINT NOT NULL,
    PRIMARY KEY (backend, path_hash)
) /* sqlite: WITHOUT ROWID */;
INSERT INTO file_access_by_key (backend, path_hash, last_access)
    SELECT backend, path_hash, last_access FROM file_access;
DROP TABLE file_access;
ALTER TABLE file_access_by_key RENAME TO file_access;
