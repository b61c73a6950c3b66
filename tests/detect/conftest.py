from __future__ import annotations

import pytest

from interlock.detect import DetectionConfig, Detector


@pytest.fixture(scope="session")
def detector() -> Detector:
    return Detector(DetectionConfig())
