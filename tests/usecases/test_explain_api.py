"""``POST /admin/policy/explain`` with ``use_case`` (the console's explain form sends it): the same answer as
a real call of that use case, the use case's facts shown."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from support.app import make_app
from support.cli import run_cli
from support.inprocess import InProcessApp
from usecases.conftest import SettingsMaker
from usecases.usecases_support import manifest


def test_explain_takes_a_use_case(use_case_settings: SettingsMaker, tmp_path: Path) -> None:
    settings = use_case_settings([manifest(), manifest(name="drafty", state="draft", applications=[])])
    created = run_cli(["keys", "create", "--name", "ops", "--role", "admin", "--json", "-c", str(settings.source)])
    assert created.exit_code == 0, created.stderr
    key = json.loads(created.stdout)["key"]
    app = InProcessApp(make_app(settings), tmp_path / "serve.log")
    app.start()
    try:
        with httpx.Client(transport=app.transport(), base_url="http://gateway",
                          headers={"authorization": f"Bearer {key}"}) as client:
            def explain(who: str, **extra: str) -> dict[str, object]:
                body = {"principal": {"id": who}, "request": {"model": "mock", "messages": [
                    {"role": "user", "content": "hi"}]}, **extra}
                response = client.post("/admin/policy/explain", json=body)
                assert response.status_code == 200, response.text
                return response.json()  # type: ignore[no-any-return]

            outsider = explain("alice", use_case="drafty")
            assert (outsider["outcome"], outsider["stage"]) == ("refused", "authorize")
            assert outsider["use_case"] == {"name": "drafty", "state": "draft", "gate_passed": False, "tester": False}
            tester = explain("tess", use_case="drafty")
            assert tester["outcome"] == "would be sent"
            assert tester["use_case"]["tester"] is True  # type: ignore[index]
            assert explain("alice", use_case="support")["outcome"] == "would be sent"
            # No use case named and none bound: refused where a real call would be.
            assert explain("alice")["stage"] == "use_case"
    finally:
        app.stop()
