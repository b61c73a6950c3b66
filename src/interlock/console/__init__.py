"""The web console at ``/console``: reviewers decide held calls, auditors search and verify the log,
administrators read the policy and manage keys and MCP tools.

Pages are rendered on the server (Jinja2) with a little script for live updates. The console holds no
rights of its own: every read and every action is the signed-in person's own request to the gateway's
HTTP API, sent in-process with their key (``gateway.py``), so the API's checks and Cedar's decisions
apply unchanged.
"""
