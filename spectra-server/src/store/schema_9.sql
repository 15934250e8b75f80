-- An unproven re-enrollment of an approved agent (the enrollment token alone, with approval
-- required) no longer touches that agent: it becomes a pending request of its own, a row
-- that names the agent it would replace. An admin approves the request (the agent's identity
-- then passes to it) or deletes it (rejected).
ALTER TABLE agents ADD COLUMN replaces TEXT;
-- The ids of approved requests, each naming the agent that took it over: what such an agent
-- spooled under the request's id before the approval is still its own.
CREATE TABLE agent_aliases (
    alias TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL
);
