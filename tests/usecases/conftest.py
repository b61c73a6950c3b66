"""An engine with use cases: the standard test settings plus ``use_cases.dir`` holding the given manifests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from interlock.settings import Settings
from support.engines import engine_settings
from usecases.usecases_support import write_manifest

SettingsMaker = Callable[..., Settings]


@pytest.fixture
def use_case_settings(tmp_path: Path, mock_llm: MockLLM, dead_port: int) -> SettingsMaker:
    def make(manifests: Sequence[dict[str, Any]], *, required: bool = True,
             adjust: Callable[[dict[str, Any]], None] | None = None) -> Settings:
        directory = tmp_path / "gateway"
        for doc in manifests:
            write_manifest(directory / "usecases", doc)

        def with_use_cases(tree: dict[str, Any]) -> None:
            tree["use_cases"] = {"dir": "usecases", "required": required}
            tree["policy"]["groups"] = ["support", "sales", "reviewers"]
            if adjust is not None:
                adjust(tree)

        return engine_settings(directory, mock_base_url=mock_llm.base_url, dead_port=dead_port,
                               adjust=with_use_cases)

    return make
