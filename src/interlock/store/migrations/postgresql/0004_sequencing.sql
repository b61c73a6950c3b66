-- Sequencing apart from integration. An append takes a range of indexes from this counter and inserts
-- its rows in one short transaction; the integrator folds sequenced rows into audit_frontier afterwards.
CREATE TABLE IF NOT EXISTS audit_sequence (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    next BIGINT NOT NULL
);
INSERT INTO audit_sequence (id, next)
SELECT 1, COALESCE((SELECT max(seq) + 1 FROM audit_log), 0)
ON CONFLICT (id) DO NOTHING;
-- The integrated frontier starts empty (8 bytes of size 0, no subtree hashes) if nothing was appended yet.
INSERT INTO audit_frontier (id, size, frontier) VALUES (1, 0, '\x0000000000000000'::bytea)
ON CONFLICT (id) DO NOTHING;
