"""Request ids: unique, and in the order they were made (the audit log's index on them grows at its end)."""

from __future__ import annotations

import re

import pytest

from interlock import ids
from interlock.ids import new_request_id


def test_ids_made_later_sort_after(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000, 9_999_999_999_999):
        monkeypatch.setattr(ids.time, "time_ns", lambda ms=ms: ms * 1_000_000 + 999_999)
        made.append(new_request_id())
    assert made == sorted(made)
    assert made[0].startswith(f"req_{1_700_000_000_000:012x}")


def test_ids_of_one_millisecond_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000_000_000)
    made = {new_request_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in made)
