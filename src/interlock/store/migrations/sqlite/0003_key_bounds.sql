-- Whom an application may act for (explicit end-user ids and groups, both empty: anyone of its tenant
-- who holds no key of their own), and who created a key (forced: over the principal.s own existing keys).
ALTER TABLE api_keys ADD COLUMN act_for_ids TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN act_for_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN forced INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS api_keys_principal ON api_keys (tenant, principal_id);
