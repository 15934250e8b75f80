-- Labels an agent reports at enrollment (`{"env": "prod", "arch": "x86_64"}`), to list and
-- filter agents by.
ALTER TABLE agents ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';

-- What agents' policy loops planned (and, where an agent's own configuration allowed it,
-- enforced): one row per agent and plan id, so a replayed report changes nothing.
CREATE TABLE plan_reports (
    agent_id TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    action TEXT NOT NULL,
    root TEXT NOT NULL,
    files BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    scan_partial BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    enforcement TEXT,
    PRIMARY KEY (agent_id, plan_id)
);
CREATE INDEX plan_reports_received ON plan_reports (received_at);
