"""``interlock knowledge``: ingest a directory source (with a progress bar on long runs), list with the
stale flag, show a source and a document, delete, reindex; and a gateway sees the CLI's ingest."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from interlock.knowledge.index import SqliteIndex
from support.cli import run_cli
from support.settings import write_settings


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    docs = tmp_path / "handbook"
    docs.mkdir()
    (docs / "_access.yaml").write_text("groups: [staff]\n")
    for n in range(25):
        (docs / f"page-{n:02}.md").write_text(f"# Page {n}\n\nTopic number {n} of the handbook.\n")
    (docs / "secret.md").write_text("---\naccess:\n  principals: [ceo]\n  classification: restricted\n---\n"
                                    "Board minutes.\n")
    write_settings(tmp_path / "interlock.yaml", {
        "store": {"url": f"sqlite:///{tmp_path / 'interlock.db'}"},
        "policy": {"groups": ["staff"]},
        "knowledge": {"index_url": f"sqlite:///{tmp_path / 'knowledge.db'}", "sources": [
            {"name": "handbook", "owner": "people-team", "path": "handbook",
             "freshness": {"cadence_hours": 24, "max_age_hours": 48}},
            {"name": "tickets", "owner": "support-team", "classification": "confidential"},
        ]},
    })
    return tmp_path / "interlock.yaml"


def cli(config: Path, *args: str) -> tuple[int, str, str]:
    result = run_cli(["knowledge", *args, "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_list_show_delete_reindex(deployment: Path) -> None:
    code, out, err = cli(deployment, "list")
    assert code == 0
    assert "never ingested" in out
    assert "STALE" in out
    assert "2 stale source(s)" in err

    code, out, err = cli(deployment, "ingest", "--json")
    assert code == 0, err
    report = json.loads(out)["data"][0]
    assert (report["added"], report["chunks_embedded"]) == (26, 26)

    code, out, err = cli(deployment, "ingest", "handbook")
    assert code == 0
    assert "26 unchanged" in out
    assert "0 chunks embedded" in out

    code, out, _ = cli(deployment, "list", "--json")
    views = {v["name"]: v for v in json.loads(out)["data"]}
    assert views["handbook"]["stale"] is False
    assert views["handbook"]["documents"] == 26
    assert views["tickets"]["stale"] is True  # pushed through the API, never yet

    code, out, _ = cli(deployment, "show", "handbook")
    view = json.loads(out)
    assert view["chunking"]["chunk_chars"] == 1000
    assert "reciprocal rank" in view["ranking"]["fusion"]
    assert view["owner"] == "people-team"
    secret = next(d for d in view["documents_list"] if d["id"] == "secret.md")
    assert secret["access"]["principals"] == ["ceo"]
    assert secret["access"]["classification"] == "restricted"

    code, out, _ = cli(deployment, "show", "handbook", "page-03.md", "--text")
    doc = json.loads(out)
    assert doc["access"]["groups"] == ["staff"]
    assert "Topic number 3" in doc["chunks"][0]["text"]

    code, out, _ = cli(deployment, "delete", "handbook", "page-03.md")
    assert code == 0
    code, _, err = cli(deployment, "delete", "handbook", "page-03.md")
    assert code == 1
    assert "no document 'page-03.md'" in err

    code, out, _ = cli(deployment, "reindex", "handbook", "--json")
    report = json.loads(out)["data"][0]
    assert (report["added"], report["changed"], report["chunks_embedded"]) == (1, 25, 26)


def test_a_stale_source_is_flagged_after_its_max_age(deployment: Path) -> None:
    assert cli(deployment, "ingest", "handbook")[0] == 0
    index = SqliteIndex(str(deployment.parent / "knowledge.db"))
    index.mark_ingested("handbook", time.time() - 49 * 3600)
    index.close()
    _code, out, _ = cli(deployment, "list", "--json")
    assert json.loads(out)["data"][0]["stale"] is True


@pytest.mark.parametrize(("args", "problem"), [
    (("ingest", "tickets"), "has no path"),
    (("ingest", "nope"), "no knowledge source 'nope'"),
    (("show", "nope"), "no knowledge source 'nope'"),
])
def test_errors_say_what_to_do(deployment: Path, args: tuple[str, ...], problem: str) -> None:
    code, _, err = cli(deployment, *args)
    assert code == 1
    assert problem in err


def test_a_broken_file_is_named(deployment: Path) -> None:
    (deployment.parent / "handbook" / "bad.md").write_text("---\naccess: [x]\n---\nhi\n")
    code, _, err = cli(deployment, "ingest")
    assert code == 1
    assert "bad.md" in err


def test_check_config_names_the_sources_and_a_missing_directory(deployment: Path) -> None:
    done = run_cli(["check-config", "--config", str(deployment)])
    assert done.exit_code == 0, done.stderr
    assert "knowledge source handbook: directory" in done.stdout
    assert "knowledge source tickets: pushed through the admin API" in done.stdout
    shutil.rmtree(deployment.parent / "handbook")
    done = run_cli(["check-config", "--config", str(deployment)])
    assert done.exit_code == 1
    assert "'handbook'" in done.stderr
    assert "not a directory" in done.stderr
