-- Labels an agent reports at enrollment (`{"env": "prod", "arch": "x86_64"}`), to list and
-- filter agents by.
ALTER TABLE agents ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
