"""Evaluation suites and their runner: permission, redaction, tool-policy, refusal and injection cases
(deterministic, a failure of the first three never averaged away), then optional quality checks."""
