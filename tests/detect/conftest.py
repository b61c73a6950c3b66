from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from interlock.detect import DetectionConfig, Detector


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(DetectionConfig())


@pytest.fixture
def scan_deadline() -> Iterator[None]:
    """Fails a test whose scan runs past 60 s: on a megabyte of adversarial input, only backtracking could."""
    def fail(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError("scan did not finish within 60 s: matching is not linear")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
