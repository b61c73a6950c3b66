"""Building the policy holder from the deployment settings."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from interlock.detect.config import TAXONOMY
from interlock.policy.engine import PolicyEngine
from interlock.policy.entities import EntityConfig, ModelEntity, ToolEntity
from interlock.policy.holder import PolicyHolder
from interlock.policy.source import PolicyLoadError
from interlock.settings import ConfigError, Settings


def default_policy_dir() -> Path:
    return Path(str(resources.files("interlock.policy").joinpath("default")))


ENTITIES_FILE = "entities.yaml"


def entity_config(settings: Settings, directory: Path | None = None) -> EntityConfig:
    """The catalogue policies may name: tenants, roles and groups from ``entities.yaml`` beside the
    policies if there is one (else from the settings), the settings' models and tool registry, and every
    data class."""
    custom = set(settings.detection.dictionaries) | {p.data_class for p in settings.detection.custom_patterns}
    models = tuple(ModelEntity(alias=m.alias, provider=m.provider, hosting=m.hosting) for m in settings.models)
    tools = tuple(ToolEntity(name=t.name, risk=t.risk, side_effects=t.side_effects, owner=t.owner)
                  for t in settings.tools)
    where = directory or settings.policy.dir
    catalogue = where / ENTITIES_FILE if where is not None else None
    if catalogue is not None and catalogue.is_file():
        try:
            base = EntityConfig.from_file(catalogue)
        except (ValueError, OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{catalogue}: {exc}") from None
        known = {m.alias for m in models}
        if base.tools:
            raise ConfigError(f"{catalogue}: tools are declared in the tool registry (`tools:` in the settings "
                              f"file), not in {ENTITIES_FILE}")
        return base.model_copy(update={
            "models": models + tuple(m for m in base.models if m.alias not in known),
            "tools": tools,
            "data_classes": tuple(sorted(TAXONOMY | custom | set(base.data_classes))),
        })
    return EntityConfig(
        tenants=settings.policy.tenants,
        roles=settings.policy.roles,
        groups=settings.policy.groups,
        models=models,
        tools=tools,
        data_classes=tuple(sorted(TAXONOMY | custom)),
    )


class CataloguedPolicyHolder(PolicyHolder):
    """A holder that reads the catalogue (``entities.yaml`` beside the policies) again on every reload,
    so a changed catalogue takes effect with the policies, and a broken one is rejected like them."""

    def __init__(self, engine: PolicyEngine, policy_dir: Path, entities: EntityConfig, schema_path: Path | None,
                 settings: Settings) -> None:
        super().__init__(engine, policy_dir, entities, schema_path)
        self._settings = settings
        self._directory = policy_dir

    def reload(self, entities: EntityConfig | None = None) -> PolicyEngine:
        if entities is None:
            try:
                entities = entity_config(self._settings, self._directory)
            except ConfigError as exc:
                raise PolicyLoadError([str(exc)]) from None
        return super().reload(entities)


def load_policies(settings: Settings, *, shadow: bool = False) -> PolicyHolder | None:
    """The active policy set (or the shadow candidate, None if none is configured); a broken set is a
    configuration error that names the file, the line and the reason."""
    p = settings.policy
    directory = p.shadow_dir if shadow else (p.dir or default_policy_dir())
    if directory is None:
        return None
    try:
        entities = entity_config(settings, directory)
        engine = PolicyEngine.load(directory, entities, p.schema_file)
        return CataloguedPolicyHolder(engine, directory, entities, p.schema_file, settings)
    except PolicyLoadError as exc:
        which = "policy.shadow_dir" if shadow else "policy.dir"
        raise ConfigError(f"{which} {directory}: the policy set does not load:\n  " + "\n  ".join(exc.problems)) from None
    except OSError as exc:
        raise ConfigError(f"policy.dir {directory}: cannot read policies: {exc}") from None
