-- The integrator is elected by a lease with a deadline, not a session lock: a process that is paused or
-- hung while its connection stays open loses the lease when it stops renewing it. ``token`` grows with
-- every new holder and fences the old one: the integration transaction renews the lease by its token
-- first, so a holder that lost it writes nothing. ``expires`` is on the database's clock, the one clock
-- every instance shares.
CREATE TABLE IF NOT EXISTS audit_integrator (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    holder  TEXT NOT NULL,
    token   BIGINT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
INSERT INTO audit_integrator (id, holder, token, expires) VALUES (1, '', 0, '-infinity')
ON CONFLICT (id) DO NOTHING;
-- Which holder's token stored the frontier last (who integrated, for operators and tests).
ALTER TABLE audit_frontier ADD COLUMN IF NOT EXISTS token BIGINT NOT NULL DEFAULT 0;
