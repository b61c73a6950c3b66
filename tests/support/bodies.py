"""Building request bodies field by field, and reading what the upstream received, for the tests that put a
marker value into every field a client can send."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from interlock.providers.mock import MockLLM

Body = dict[str, Any]
Put = Callable[[Body, str], None]


def at(*path: Any) -> Put:
    """A setter that writes its value at `path` (keys and list indexes) inside a body."""

    def put(body: Body, value: str) -> None:
        node: Any = body
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = value

    return put


def upstream_text(mock: MockLLM) -> str:
    """Everything the mock upstream received, as one string to search for a marker."""
    return json.dumps([r.body for r in mock.received])
