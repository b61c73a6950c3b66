-- Bumped in the transaction of every change to a key that makes it refuse calls (a revocation): each
-- instance reads it per call and drops its cached key records when it moved.
CREATE TABLE IF NOT EXISTS key_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT NOT NULL
);
INSERT INTO key_epoch (id, epoch) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
