from __future__ import annotations

from pathlib import Path

import pytest

from interlock.policy import EntityConfig, PolicyEngine, PolicyLoadError, validate


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_syntax_error_names_file_and_line(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "a.cedar", 'permit (principal, action, resource == Model::"mock");\n')
    _write(tmp_path, "b.cedar", '// leading comment\npermit (principal, action, resource);\n\n'
                                'permit (principal,\n  action == ,\n  resource);\n')
    with pytest.raises(PolicyLoadError) as info:
        PolicyEngine.load(tmp_path, example_entities)
    [problem] = info.value.problems
    assert problem.startswith("b.cedar:5: syntax error")


def test_syntax_error_inside_string_with_semicolon_keeps_lines(tmp_path: Path,
                                                                example_entities: EntityConfig) -> None:
    _write(tmp_path, "a.cedar", 'permit (principal, action, resource) when { "a;b" == "a;b" };\n'
                                'permt (principal, action, resource);\n')
    with pytest.raises(PolicyLoadError, match=r"a\.cedar:2: syntax error"):
        PolicyEngine.load(tmp_path, example_entities)


def test_unknown_entity_type_is_a_schema_violation(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "p.cedar", '\n\n@id("bad")\npermit (principal in Team::"x", action, resource);\n')
    with pytest.raises(PolicyLoadError) as info:
        PolicyEngine.load(tmp_path, example_entities)
    assert any(p.startswith("p.cedar:3: [bad] schema violation") and "Team" in p for p in info.value.problems)


def test_unknown_attribute_is_a_schema_violation(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "p.cedar", 'permit (principal, action == Action::"invoke_model", resource)\n'
                                'when { resource.hostin == "on_prem" };\n')
    problems = validate(tmp_path, example_entities)
    assert len(problems) == 1
    assert problems[0].startswith("p.cedar:1: [p#0] schema violation")
    assert "hostin" in problems[0]


def test_unknown_action_is_a_schema_violation(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "p.cedar", 'permit (principal, action == Action::"invoke_modle", resource);\n')
    assert validate(tmp_path, example_entities)


def test_duplicate_ids_are_refused(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "a.cedar", '@id("x")\npermit (principal, action, resource);\n')
    _write(tmp_path, "b.cedar", '@id("x")\nforbid (principal, action, resource);\n')
    with pytest.raises(PolicyLoadError, match=r"already used at a\.cedar:1"):
        PolicyEngine.load(tmp_path, example_entities)


def test_empty_directory_is_refused(tmp_path: Path, example_entities: EntityConfig) -> None:
    with pytest.raises(PolicyLoadError, match=r"no \.cedar files"):
        PolicyEngine.load(tmp_path, example_entities)


def test_ids_from_annotation_else_file_and_index(tmp_path: Path, example_entities: EntityConfig) -> None:
    _write(tmp_path, "base.cedar", 'permit (principal, action, resource == Model::"mock");\n'
                                   '@id("named")\nforbid (principal, action, resource == Tool::"x");\n'
                                   'permit (principal, action, resource == Tool::"y");\n')
    engine = PolicyEngine.load(tmp_path, example_entities)
    assert list(engine.sources) == ["base#0", "named", "base#2"]
    assert engine.sources["base#2"].line == 4


def test_validate_is_empty_for_the_examples(policy_dir: Path, example_entities: EntityConfig) -> None:
    assert validate(policy_dir, example_entities) == []


def test_version_changes_with_content_only(policy_dir: Path, example_entities: EntityConfig) -> None:
    first = PolicyEngine.load(policy_dir, example_entities).version
    assert PolicyEngine.load(policy_dir, example_entities).version == first
    path = policy_dir / "models.cedar"
    path.write_text(path.read_text() + "\n// a comment changes the content\n")
    assert PolicyEngine.load(policy_dir, example_entities).version != first


def test_entity_config_refuses_unknown_family() -> None:
    with pytest.raises(ValueError, match="unknown family"):
        EntityConfig(data_classes=("health.diagnosis",))


def test_broken_schema_is_a_load_error(policy_dir: Path, tmp_path: Path,
                                       example_entities: EntityConfig) -> None:
    schema = _write(tmp_path, "s.cedarschema", "entity User {")
    with pytest.raises(PolicyLoadError, match="schema error"):
        PolicyEngine.load(policy_dir, example_entities, schema)
