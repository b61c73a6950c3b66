CREATE TABLE IF NOT EXISTS api_keys (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL UNIQUE,
    hash         BLOB NOT NULL,
    name         TEXT NOT NULL,
    principal_id TEXT NOT NULL,
    kind         TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    roles        TEXT NOT NULL,
    groups_      TEXT NOT NULL,
    may_act_for  INTEGER NOT NULL,
    created      REAL NOT NULL,
    expires      REAL,
    revoked      REAL
);

CREATE TABLE IF NOT EXISTS audit_log (
    seq          INTEGER PRIMARY KEY,
    request_id   TEXT NOT NULL,
    ts           REAL NOT NULL,
    tenant       TEXT,
    principal    TEXT,
    model        TEXT,
    status       INTEGER NOT NULL,
    refusal_code TEXT,
    leaf_hash    BLOB NOT NULL,
    record       BLOB NOT NULL,
    payload_hash BLOB
);
CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log (request_id);
CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts);
CREATE INDEX IF NOT EXISTS audit_log_tenant_ts ON audit_log (tenant, ts);

CREATE TABLE IF NOT EXISTS audit_payload (
    hash    BLOB PRIMARY KEY,
    body    BLOB NOT NULL,
    expires REAL
);

CREATE TABLE IF NOT EXISTS audit_checkpoint (
    tree_size INTEGER PRIMARY KEY,
    root_hash BLOB NOT NULL,
    ts        REAL NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL
);

-- The Merkle frontier of the whole log, advanced in the same transaction as every append.
CREATE TABLE IF NOT EXISTS audit_frontier (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    size     INTEGER NOT NULL,
    frontier BLOB NOT NULL
);

-- Sealed (AES-GCM) placeholder maps, one per conversation, with a time to live.
CREATE TABLE IF NOT EXISTS vault (
    conversation_id TEXT PRIMARY KEY,
    blob            BLOB NOT NULL,
    expires         REAL NOT NULL
);
