CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL UNIQUE,
    hash         BYTEA NOT NULL,
    name         TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    roles        TEXT NOT NULL,
    groups_      TEXT NOT NULL,
    may_act_for  BOOLEAN NOT NULL,
    created      DOUBLE PRECISION NOT NULL,
    expires      DOUBLE PRECISION,
    revoked      DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS audit_log (
    seq          BIGINT PRIMARY KEY,
    request_id   TEXT NOT NULL,
    ts           DOUBLE PRECISION NOT NULL,
    tenant       TEXT,
    principal    TEXT,
    model        TEXT,
    status       INTEGER NOT NULL,
    refusal_code TEXT,
    leaf_hash    BYTEA NOT NULL,
    record       BYTEA NOT NULL,
    payload_hash BYTEA
);
CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log (request_id);
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant_ts ON audit_log (tenant, ts);

CREATE TABLE IF NOT EXISTS audit_payload (
    hash    BYTEA PRIMARY KEY,
    body    BYTEA NOT NULL,
    expires DOUBLE PRECISION
);

CREATE TABLE IF NOT EXISTS audit_checkpoint (
    tree_size BIGINT PRIMARY KEY,
    root_hash BYTEA NOT NULL,
    ts        DOUBLE PRECISION NOT NULL,
    key_id    TEXT NOT NULL,
    signature BYTEA NOT NULL
);

-- The Merkle frontier of the whole log, advanced in the same transaction as every append.
CREATE TABLE IF NOT EXISTS audit_frontier (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     BIGINT NOT NULL,
    frontier BYTEA NOT NULL
);

-- Sealed (AES-GCM) placeholder maps, one per conversation, with a time to live.
CREATE TABLE IF NOT EXISTS vault (
    conversation_id TEXT PRIMARY KEY,
    blob            BYTEA NOT NULL,
    expires         DOUBLE PRECISION NOT NULL
);
