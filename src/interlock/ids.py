"""Request ids: the one maker, shared by the engine, the HTTP edge and the MCP gateway.

A request id is what a caller quotes to find the audit record of a call, so every surface makes it
the same way.
"""

from __future__ import annotations

import secrets


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


# Where the HTTP edge keeps the id it gave a request, in the ASGI scope, for what runs behind it.
REQUEST_ID_SCOPE_KEY = "interlock.request_id"
