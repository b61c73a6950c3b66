"""Usage: what a call costs (the vendored price table), budgets in money and tokens, and rate limits,
with counters kept in SQLite (one machine) or Redis (many instances)."""
