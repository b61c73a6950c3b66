-- Approval requests: indexed columns for look-ups, the whole request as a JSON document.
-- ``version`` makes every change a compare-and-set, so two workers cannot both decide one request.
CREATE TABLE IF NOT EXISTS approvals (
    id        TEXT PRIMARY KEY,
    tenant    TEXT NOT NULL,
    state     TEXT NOT NULL,
    requester TEXT NOT NULL,
    created   DOUBLE PRECISION NOT NULL,
    due       DOUBLE PRECISION NOT NULL,
    version   BIGINT NOT NULL,
    doc       BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_state_due ON approvals (state, due);
CREATE INDEX IF NOT EXISTS approvals_tenant_created ON approvals (tenant, created);

-- MCP tool definitions pinned by digest: a changed description or schema is refused until re-approved.
CREATE TABLE IF NOT EXISTS tool_pins (
    name        TEXT PRIMARY KEY,
    server      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    definition  BYTEA NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at DOUBLE PRECISION NOT NULL
);
