-- Alert rules, as the API took them (JSON of spectra_core::alert::AlertRule).
CREATE TABLE alert_rules (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- One alert per rule and series, in its last state (spectra_core::alert::Tracked).
CREATE TABLE alerts (
    rule TEXT NOT NULL,
    series TEXT NOT NULL,
    agent_id TEXT,
    hostname TEXT,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    value DOUBLE PRECISION,
    since BIGINT NOT NULL,
    fired_at BIGINT,
    resolved_at BIGINT,
    notified_at BIGINT,
    announced BIGINT NOT NULL,
    -- Whether the last notice was held back by a silence.
    silenced BIGINT NOT NULL,
    evaluated_at BIGINT NOT NULL,
    PRIMARY KEY (rule, series)
);
CREATE INDEX alerts_state ON alerts (state);

-- The one row that says when rules were last evaluated: a replica evaluates only when its
-- conditional update of this row succeeds, so each interval is evaluated once.
CREATE TABLE alert_clock (
    id BIGINT PRIMARY KEY,
    evaluated_at BIGINT NOT NULL
);
INSERT INTO alert_clock (id, evaluated_at) VALUES (1, 0);

-- Silences mute delivery (not evaluation) for a rule, an agent or a label until ends_at.
CREATE TABLE silences (
    id TEXT PRIMARY KEY,
    rule TEXT,
    agent_id TEXT,
    label_key TEXT,
    label_value TEXT,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);

-- Notices to deliver, written in the evaluation's transaction; a sender claims a row for a
-- lease before it sends, so a restart or another replica picks up what was not delivered.
CREATE TABLE alert_outbox (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    series TEXT NOT NULL,
    notice TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_status TEXT
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at);

-- Every attempt at a delivery, with the answer.
CREATE TABLE alert_deliveries (
    outbox_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    ok BIGINT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (outbox_id, attempt)
);
