-- Agents whose requests fail authentication. A token replaced by an enrollment or a hand-over
-- is remembered (by its public id only) for a while, so that a request still carrying it is
-- attributed to its agent: the agent's record then says when and from where its refused
-- requests came, and how many.
CREATE TABLE revoked_agent_tokens (
    token_id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL,
    revoked_at BIGINT NOT NULL
);
CREATE INDEX revoked_agent_tokens_by_agent ON revoked_agent_tokens (agent_id);
CREATE INDEX revoked_agent_tokens_by_time ON revoked_agent_tokens (revoked_at);
ALTER TABLE agents ADD COLUMN auth_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN auth_failed_at BIGINT;
ALTER TABLE agents ADD COLUMN auth_failed_from TEXT;
