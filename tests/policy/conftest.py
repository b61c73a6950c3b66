from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from interlock.identity.principal import Principal
from interlock.policy import EntityConfig, PolicyEngine
from interlock.policy.setup import entity_config
from interlock.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


@pytest.fixture(scope="session")
def example_entities() -> EntityConfig:
    # The catalogue as the example deployment builds it: entities.yaml plus the settings' models and tools.
    return entity_config(load_settings(EXAMPLES.parent / "interlock.yaml", environ={}), EXAMPLES)


@pytest.fixture(scope="session")
def example_engine(example_entities: EntityConfig) -> PolicyEngine:
    return PolicyEngine.load(EXAMPLES, example_entities)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A writable copy of the example policies."""
    target = tmp_path / "policies"
    target.mkdir()
    for path in EXAMPLES.glob("*.cedar"):
        shutil.copy(path, target / path.name)
    return target


def user(*roles: str, id: str = "u1", tenant: str = "acme") -> Principal:
    return Principal(id=id, kind="user", tenant=tenant, roles=frozenset(roles))
