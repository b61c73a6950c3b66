"""The manifest: what a valid one gives the code, and how an invalid one is reported (file, path, problem)."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.settings import Settings
from interlock.usecases.manifest import ManifestError, load_directory, load_manifest, references_problems
from usecases.usecases_support import manifest, write_manifest


def test_a_complete_manifest_loads_with_its_members(tmp_path: Path) -> None:
    uc = load_manifest(write_manifest(tmp_path, manifest()))
    assert uc.name == "support"
    assert uc.state == "pilot"
    assert uc.admits("alice", frozenset())
    assert uc.admits("bob", frozenset({"support"}))
    assert uc.admits("tess", frozenset())
    assert uc.admits("support-app", frozenset())
    assert not uc.admits("mallory", frozenset({"sales"}))
    assert uc.knowledge_sources == ("help-center",)
    assert uc.budgets == ("support-monthly",)


@pytest.mark.parametrize(("changes", "where", "says"), [
    ({"owner": None}, "at /:", "'owner' is a required property"),
    ({"state": "launched"}, "at /state:", "'launched' is not one of draft, pilot, production, retired"),
    ({"owner": {"name": "Dana", "email": "not-an-email"}}, "at /owner/email:", "does not match"),
    ({"colour": "blue"}, "at /:", "the fields allowed here are"),
    ({"slos": {"error_rate": 3}}, "at /slos/error_rate:", "greater than the maximum of 1"),
    ({"evaluations": [{"min_pass_rate": 0.5}]}, "at /evaluations/0:", "'suite' is a required property"),
])
def test_an_invalid_manifest_names_the_file_the_path_and_the_problem(tmp_path: Path, changes: dict[str, object],
                                                                     where: str, says: str) -> None:
    path = write_manifest(tmp_path, manifest(**changes))
    with pytest.raises(ManifestError) as caught:
        load_manifest(path)
    problem = next(p for p in caught.value.problems if where in p)
    assert problem.startswith(f"{path}: {where}")
    assert says in problem


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    path = write_manifest(tmp_path, manifest(), name="helpdesk")
    with pytest.raises(ManifestError, match=r"helpdesk.yaml: at /name: 'support' does not match the file name"):
        load_manifest(path)


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="a use-case manifest is a mapping"):
        load_manifest(path)


def test_a_directory_reports_every_bad_manifest_and_double_bindings(tmp_path: Path) -> None:
    write_manifest(tmp_path, manifest())
    write_manifest(tmp_path, manifest(name="other"))  # binds support-app too
    write_manifest(tmp_path, manifest(name="broken", owner=None))
    with pytest.raises(ManifestError) as caught:
        load_directory(tmp_path)
    text = "\n".join(caught.value.problems)
    assert "broken.yaml: at /: 'owner' is a required property" in text
    assert "'support-app' is already bound to use case" in text


def test_references_the_deployment_lacks_are_named(tmp_path: Path) -> None:
    uc = load_manifest(write_manifest(tmp_path, manifest(models=["gpt-9"], tools=["launch"],
                                                         review={"route": "finance"})))
    problems = references_problems(uc, Settings())
    assert any("at /models/0: model 'gpt-9'" in p for p in problems)
    assert any("at /tools/0: tool 'launch'" in p for p in problems)
    assert any("at /review/route: approval route 'finance'" in p for p in problems)


def test_the_digest_ignores_the_lifecycle_but_not_the_content(tmp_path: Path) -> None:
    a = load_manifest(write_manifest(tmp_path / "a", manifest()))
    b = load_manifest(write_manifest(tmp_path / "b", manifest(state="production",
                                                              lifecycle={"gate_record": "gate_1"})))
    c = load_manifest(write_manifest(tmp_path / "c", manifest(purpose="Something else.")))
    assert a.digest == b.digest
    assert a.digest != c.digest
