"""The text guard on its own: each class found gets the strictest action any configured model gets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.approvals.texts import TextGuard
from interlock.engine import Engine
from interlock.errors import DataBlocked
from interlock.providers.mock import MockLLM
from support.calls import make_principal
from support.engines import engine_settings

WRITER = make_principal("pat")


def guard(tmp_path: Path, mock: MockLLM, free_port: Callable[[], int],
          models: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> TextGuard:
    def adjust(tree: dict[str, Any]) -> None:
        tree["models"] = models(tree["models"])

    engine = Engine(engine_settings(tmp_path, mock_base_url=mock.base_url, dead_port=free_port(), adjust=adjust))
    return TextGuard(engine.guard.scan, engine.policy)


def test_a_class_one_model_may_see_in_the_clear_is_still_redacted_when_another_may_not(
        tmp_path: Path, mock: MockLLM, free_port: Callable[[], int]) -> None:
    only_on_prem = guard(tmp_path / "a", mock, free_port, lambda ms: [
        {**ms[0], "alias": "local", "hosting": "on_prem"}])
    both = guard(tmp_path / "b", mock, free_port, lambda ms: [
        {**ms[0], "alias": "local", "hosting": "on_prem"}, {**ms[0], "alias": "cloud", "hosting": "external"}])
    text = {"details": "mail bob@example.com"}
    assert only_on_prem.protect(WRITER, None, text)[0] == text
    stored, placeholders = both.protect(WRITER, None, text)
    assert stored == {"details": "mail [EMAIL_1]"}
    assert [(e.placeholder, e.data_class, e.value) for e in placeholders.entries()] == [
        ("[EMAIL_1]", "pii.email", "bob@example.com")]
    assert both.reveal(stored["details"], placeholders, WRITER, None) == "mail bob@example.com"


def test_with_no_model_configured_everything_found_is_masked(tmp_path: Path, mock: MockLLM,
                                                             free_port: Callable[[], int]) -> None:
    g = guard(tmp_path, mock, free_port, lambda ms: [])
    stored, placeholders = g.protect(WRITER, None, {"title": "bob@example.com", "details": "nothing here"})
    assert stored == {"title": "[REDACTED:EMAIL]", "details": "nothing here"}
    assert len(placeholders) == 0


def test_a_blocked_class_names_the_field(tmp_path: Path, mock: MockLLM, free_port: Callable[[], int]) -> None:
    g = guard(tmp_path, mock, free_port, lambda ms: ms)
    with pytest.raises(DataBlocked) as raised:
        g.protect(WRITER, None, {"title": "ok", "reason": "AKIAIOSFODNN7EXAMPLE"})
    assert raised.value.param == "reason"
    assert "AKIAIOSFODNN7EXAMPLE" not in raised.value.message
