"""Governed retrieval through the gateway: documents pushed through the admin API, ``POST /v1/retrieve``,
chat augmented with passages and citations, the records, revocation on the next query, and the errors.

For each caller and query, no canary outside the caller's rights may appear in the passages, in the
prompt the (mock) upstream received, in the answer (the mock echoes the whole prompt) or in citations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from knowledge_support import GROUPS, QUERIES, TOPICS, VISIBLE, canaries_of, canaries_outside

from interlock.providers.mock import MockLLM
from support.gateways import Gateway, GatewayFactory
from support.postgres import create_database, drop_database

# Each test caller as a key: (CLI arguments, the VISIBLE entry its rights match).
KEYS: dict[str, tuple[list[str], str]] = {
    "fin": (["--group", "finance"], "fin"),
    "hr": (["--group", "hr"], "hr"),
    "ana": (["--role", "analyst"], "analyst"),
    "carol": ([], "carol"),
    "nobody": (["--kind", "service"], "nobody"),
    "fin-other": (["--group", "finance", "--tenant", "other"], "other"),
}


@pytest.fixture(scope="module")
def kgw(gateway_factory: GatewayFactory, tmp_path_factory: pytest.TempPathFactory) -> Gateway:
    index = tmp_path_factory.mktemp("knowledge") / "knowledge.db"

    def adjust(tree: dict[str, Any]) -> None:
        tree["policy"]["groups"] = ["finance", "hr"]
        tree["models"].append({"alias": "handbook-bot", "provider": "upstream", "upstream_model": "mock"})
        tree["knowledge"] = {
            "index_url": f"sqlite:///{index}",
            "sources": [{"name": "corp", "owner": "knowledge-team"},
                        {"name": "corp-other", "owner": "knowledge-team", "tenant": "other"}],
            "models": {"handbook-bot": ["corp"]},
        }

    gw = gateway_factory("sqlite", served=False, adjust=adjust)
    for name, (args, _) in KEYS.items():
        doc = json.loads(gw.cli(["keys", "create"], "--name", name, *args, "--json").stdout)
        gw.keys[name] = doc["key"]
    for name, roles, tenant in (("admin", ["--role", "admin"], []), ("other-admin", ["--role", "admin"],
                                                                       ["--tenant", "other"])):
        gw.keys[name] = json.loads(gw.cli(["keys", "create"], "--name", name, *roles, *tenant, "--json").stdout)["key"]
    with gw.http() as http:
        for group in GROUPS:
            admin = gw.keys["other-admin" if group.tenant == "other" else "admin"]
            source = "corp-other" if group.tenant == "other" else "corp"
            rule = {k: v for k, v in group.rule.items() if k != "tenant"}
            for n, (title, text) in enumerate(TOPICS):
                r = http.post(f"/admin/knowledge/{source}/documents", headers=auth(admin),
                              json={"id": f"{group.name}/{n}", "title": f"{title} ({group.name})",
                                    "text": f"{text} Reference {group.canary}.", "access": rule})
                assert r.status_code == 201, r.text
    return gw


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def retrieve(gw: Gateway, caller: str, **body: Any) -> dict[str, Any]:
    with gw.http() as http:
        r = http.post("/v1/retrieve", headers=auth(gw.keys[caller]), json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("caller", sorted(KEYS))
@pytest.mark.parametrize("query", QUERIES)
def test_retrieve_returns_only_what_the_caller_may_read(kgw: Gateway, caller: str, query: str) -> None:
    visible = VISIBLE[KEYS[caller][1]]
    sources = ["corp-other"] if caller == "fin-other" else ["corp"]
    answer = retrieve(kgw, caller, query=query, sources=sources, top_k=10)
    seen = json.dumps(answer)
    for canary in canaries_outside(visible):
        assert canary not in seen
    groups = {p["citation"]["document_id"].split("/")[0] for p in answer["data"]}
    assert groups
    assert groups <= visible
    record = kgw.record(answer["request_id"])
    assert record["endpoint"] == "knowledge.retrieve"
    assert [p["document_id"] for p in record["retrieval"]["passages"]] == \
        [p["citation"]["document_id"] for p in answer["data"]]
    assert all(p["access_version"] and p["decision"] == "permit" for p in record["retrieval"]["passages"])
    # Facts, never text.
    assert not any(c in json.dumps(record) for c in canaries_of(visible))


@pytest.mark.parametrize("caller", sorted(KEYS))
@pytest.mark.parametrize("query", QUERIES[:3])
def test_chat_prompt_answer_and_citations_carry_only_permitted_passages(kgw: Gateway, mock_llm: MockLLM,
                                                                      caller: str, query: str) -> None:
    visible = VISIBLE[KEYS[caller][1]]
    sources = ["corp-other"] if caller == "fin-other" else ["corp"]
    mock_llm.clear()
    with kgw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys[caller]),
                      json={"model": "mock", "messages": [{"role": "user", "content": query}],
                            "mock": {"echo": "all"}, "interlock": {"knowledge": {"sources": sources, "top_k": 4}}})
    assert r.status_code == 200, r.text
    upstream = mock_llm.last.body
    assert "interlock" not in upstream
    prompt, answer = json.dumps(upstream), json.dumps(r.json())
    for canary in canaries_outside(visible):
        assert canary not in prompt
        assert canary not in answer
    assert any(c in prompt for c in canaries_of(visible))
    citations = r.json()["interlock"]["citations"]
    assert [c["marker"] for c in citations] == [f"[{n}]" for n in range(1, len(citations) + 1)]
    assert {c["document_id"].split("/")[0] for c in citations} <= visible
    for c in citations:
        assert c["marker"] in upstream["messages"][0]["content"]
        assert set(c) >= {"document_id", "title", "chunk", "access_version", "content_hash"}
    record = kgw.record(r.headers["x-request-id"])
    assert [p["document_id"] for p in record["retrieval"]["passages"]] == [c["document_id"] for c in citations]


def test_a_model_bound_to_sources_is_augmented_without_the_field(kgw: Gateway, mock_llm: MockLLM) -> None:
    mock_llm.clear()
    with kgw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys["hr"]),
                      json={"model": "handbook-bot", "messages": [{"role": "user", "content": "parental leave"}]})
    assert r.status_code == 200, r.text
    assert r.json()["interlock"]["citations"]
    system = mock_llm.last.body["messages"][0]
    assert system["role"] == "system"
    assert "CANARY-HR-NARWHAL" in system["content"]
    assert "CANARY-FINANCE" not in system["content"]


def test_chat_without_knowledge_is_unchanged(kgw: Gateway, mock_llm: MockLLM) -> None:
    mock_llm.clear()
    with kgw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys["fin"]),
                      json={"model": "mock", "messages": [{"role": "user", "content": "quarterly budget"}]})
    assert r.status_code == 200
    assert "interlock" not in r.json()
    assert mock_llm.last.body["messages"] == [{"role": "user", "content": "quarterly budget"}]
    assert "retrieval" not in kgw.record(r.headers["x-request-id"])


def test_revoked_access_takes_effect_on_the_next_query(kgw: Gateway) -> None:
    doc = {"id": "memo", "title": "Merger memo", "text": "The merger closes in June. CANARY-MEMO-TAPIR.",
           "access": {"groups": ["finance"]}}
    with kgw.http() as http:
        first = http.post("/admin/knowledge/corp/documents", headers=auth(kgw.keys["admin"]), json=doc)
        assert first.status_code == 201
        assert "CANARY-MEMO-TAPIR" in json.dumps(retrieve(kgw, "fin", query="merger memo tapir", sources=["corp"]))
        revoked = http.post("/admin/knowledge/corp/documents", headers=auth(kgw.keys["admin"]),
                            json={**doc, "access": {"groups": ["hr"]}})
        assert revoked.status_code == 200
        assert revoked.json()["outcome"] == "access_changed"
        assert revoked.json()["chunks_embedded"] == 0
        assert revoked.json()["access_version"] != first.json()["access_version"]
        assert "CANARY-MEMO-TAPIR" not in json.dumps(retrieve(kgw, "fin", query="merger memo tapir", sources=["corp"]))
        assert "CANARY-MEMO-TAPIR" in json.dumps(retrieve(kgw, "hr", query="merger memo tapir", sources=["corp"]))
        gone = http.delete("/admin/knowledge/corp/documents/memo", headers=auth(kgw.keys["admin"]))
        assert gone.status_code == 200
        assert "CANARY-MEMO-TAPIR" not in json.dumps(retrieve(kgw, "hr", query="merger memo tapir", sources=["corp"]))
        again = http.delete("/admin/knowledge/corp/documents/memo", headers=auth(kgw.keys["admin"]))
        assert again.status_code == 404


def test_passages_are_redacted_like_prompts(kgw: Gateway, mock_llm: MockLLM) -> None:
    doc = {"id": "contacts", "title": "Escalation contacts", "text": "Escalate outages to jane.doe@example.com "
           "on the pager rota.", "access": {"tenant_wide": True}}
    with kgw.http() as http:
        assert http.post("/admin/knowledge/corp/documents", headers=auth(kgw.keys["admin"]), json=doc).status_code == 201
        answer = retrieve(kgw, "carol", query="escalation contacts pager", sources=["corp"], top_k=1)
        assert answer["data"][0]["citation"]["document_id"] == "contacts"
        assert "jane.doe@example.com" not in answer["data"][0]["text"]
        assert "[EMAIL]" in answer["data"][0]["text"]
        mock_llm.clear()
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys["carol"]),
                      json={"model": "mock", "messages": [{"role": "user", "content": "escalation contacts pager"}],
                            "interlock": {"knowledge": {"sources": ["corp"], "top_k": 1}}})
        assert r.status_code == 200
        assert "jane.doe@example.com" not in json.dumps(mock_llm.last.body)
        record = kgw.record(r.headers["x-request-id"])
        assert any(d["class"] == "pii.email" and d["where"] == "retrieval" for d in record["data"])
        http.delete("/admin/knowledge/corp/documents/contacts", headers=auth(kgw.keys["admin"]))


@pytest.mark.parametrize(("caller", "path", "body", "status", "code"), [
    ("fin", "/v1/retrieve", {"query": "x", "sources": ["nope"]}, 400, "invalid_request"),
    ("fin", "/v1/retrieve", {"query": "x", "top_k": 50}, 400, "invalid_request"),
    ("fin", "/v1/retrieve", {"query": "x", "filter": {}}, 400, "invalid_request"),
    ("fin", "/v1/retrieve", {"query": "   "}, 400, "invalid_request"),
    ("fin", "/v1/retrieve", {"query": "x", "model": "nope"}, 404, "model_not_found"),
    (None, "/v1/retrieve", {"query": "x"}, 401, "invalid_api_key"),
    ("fin", "/admin/knowledge/corp/documents", {"id": "x", "text": "y"}, 403, "permission_denied"),
    ("other-admin", "/admin/knowledge/corp/documents", {"id": "x", "text": "y"}, 404, "not_found"),
    ("admin", "/admin/knowledge/corp/documents", {"id": "x", "text": "y", "access": {"readers": []}}, 400,
     "invalid_request"),
    ("admin", "/admin/knowledge/corp/documents", {"id": "x", "text": "y", "access": {"tenant": "other"}}, 400,
     "invalid_request"),
    ("fin", "/v1/chat/completions", {"model": "mock", "messages": [{"role": "user", "content": "x"}],
                                     "interlock": {"knowledge": {"sources": ["nope"]}}}, 400, "invalid_request"),
    ("fin", "/v1/chat/completions", {"model": "mock", "messages": [{"role": "user", "content": "x"}],
                                     "interlock": {"knowledge": {"sources": ["corp"], "rank": 1}}}, 400,
     "invalid_request"),
])
def test_bad_requests_get_a_clear_error(kgw: Gateway, caller: str | None, path: str, body: dict[str, Any],
                                        status: int, code: str) -> None:
    with kgw.http() as http:
        r = http.post(path, headers=auth(kgw.keys[caller]) if caller else {}, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["request_id"] == r.headers["x-request-id"]


def test_a_gateway_without_sources_refuses_the_field(gateway_factory: GatewayFactory, tmp_path: Path) -> None:
    gw = gateway_factory("sqlite", served=False)
    key = json.loads(gw.cli(["keys", "create"], "--name", "u", "--json").stdout)["key"]
    with gw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(key),
                      json={"model": "mock", "messages": [{"role": "user", "content": "x"}],
                            "interlock": {"knowledge": {"sources": ["corp"]}}})
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "interlock.knowledge"
        r = http.post("/v1/retrieve", headers=auth(key), json={"query": "x"})
        assert r.status_code == 404
        assert "no knowledge sources" in r.json()["error"]["message"]


def test_a_stream_carries_the_citations_on_its_first_chunk(kgw: Gateway) -> None:
    with kgw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys["hr"]),
                      json={"model": "mock", "stream": True, "messages": [{"role": "user", "content": "parental leave"}],
                            "interlock": {"knowledge": {"sources": ["corp"], "top_k": 2}}})
    assert r.status_code == 200
    chunks = [json.loads(line[6:]) for line in r.text.splitlines()
              if line.startswith("data: ") and line != "data: [DONE]"]
    assert len(chunks) > 1
    citations = chunks[0]["interlock"]["citations"]
    assert len(citations) == 2
    assert {c["document_id"].split("/")[0] for c in citations} <= VISIBLE["hr"]
    assert all("interlock" not in c for c in chunks[1:])
    record = kgw.record(r.headers["x-request-id"])
    assert [p["document_id"] for p in record["retrieval"]["passages"]] == [c["document_id"] for c in citations]


def test_a_passage_with_a_class_blocked_for_the_model_is_withheld(kgw: Gateway) -> None:
    doc = {"id": "deploy-key", "title": "Deploy key", "access": {"tenant_wide": True},
           "text": "The deploy pipeline signs with key sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a."}
    with kgw.http() as http:
        assert http.post("/admin/knowledge/corp/documents", headers=auth(kgw.keys["admin"]), json=doc).status_code == 201
        try:
            labelled = retrieve(kgw, "carol", query="deploy pipeline signing key", sources=["corp"], top_k=1)
            assert labelled["data"][0]["citation"]["document_id"] == "deploy-key"
            assert "sk-live-4f9a8b7c" not in labelled["data"][0]["text"]
            toward = retrieve(kgw, "carol", query="deploy pipeline signing key", sources=["corp"], top_k=1,
                              model="mock")
            assert all(p["citation"]["document_id"] != "deploy-key" for p in toward["data"])
            record = kgw.record(toward["request_id"])
            assert [w["document_id"] for w in record["retrieval"]["withheld"]] == ["deploy-key"]
            assert "secret" in record["retrieval"]["withheld"][0]["reason"]
        finally:
            http.delete("/admin/knowledge/corp/documents/deploy-key", headers=auth(kgw.keys["admin"]))


def test_sources_and_their_freshness_for_admins_and_metrics(kgw: Gateway) -> None:
    with kgw.http() as http:
        mine = http.get("/admin/knowledge", headers=auth(kgw.keys["admin"])).json()["data"]
        theirs = http.get("/admin/knowledge", headers=auth(kgw.keys["other-admin"])).json()["data"]
        metrics = http.get("/metrics").text
    assert [s["name"] for s in mine] == ["corp"]
    assert [s["name"] for s in theirs] == ["corp-other"]
    assert mine[0]["stale"] is False  # documents were pushed a moment ago
    assert mine[0]["documents"] >= 25
    assert 'interlock_knowledge_source_stale{source="corp"} 0.0' in metrics


@pytest.mark.postgres
def test_a_gateway_on_postgresql_filters_and_revokes_alike(gateway_factory: GatewayFactory) -> None:
    index = create_database("interlock_k_")
    try:
        def adjust(tree: dict[str, Any]) -> None:
            tree["policy"]["groups"] = ["finance", "hr"]
            tree["knowledge"] = {"index_url": index, "sources": [{"name": "corp", "owner": "knowledge-team"}]}

        gw = gateway_factory("postgresql", served=False, adjust=adjust)
        for name, args in (("admin", ["--role", "admin"]), ("fin", ["--group", "finance"]), ("hr", ["--group", "hr"])):
            gw.keys[name] = json.loads(gw.cli(["keys", "create"], "--name", name, *args, "--json").stdout)["key"]
        doc = {"id": "memo", "title": "Merger memo", "text": "The merger closes in June. CANARY-PG-TAPIR.",
               "access": {"groups": ["finance"]}}
        with gw.http() as http:
            assert http.post("/admin/knowledge/corp/documents", headers=auth(gw.keys["admin"]),
                             json=doc).status_code == 201
            assert "CANARY-PG-TAPIR" in json.dumps(retrieve(gw, "fin", query="merger memo", sources=["corp"]))
            assert "CANARY-PG-TAPIR" not in json.dumps(retrieve(gw, "hr", query="merger memo", sources=["corp"]))
            moved = http.post("/admin/knowledge/corp/documents", headers=auth(gw.keys["admin"]),
                              json={**doc, "access": {"groups": ["hr"]}})
            assert moved.json()["outcome"] == "access_changed"
            assert "CANARY-PG-TAPIR" not in json.dumps(retrieve(gw, "fin", query="merger memo", sources=["corp"]))
            answer = retrieve(gw, "hr", query="merger memo", sources=["corp"])
            assert "CANARY-PG-TAPIR" in json.dumps(answer)
            assert gw.record(answer["request_id"])["retrieval"]["passages"][0]["document_id"] == "memo"
        gw.stop()
    finally:
        drop_database(index)


def test_citations_sit_beside_the_tool_call_verdicts(kgw: Gateway) -> None:
    # A tool the registry does not know: the call is removed, and its verdict reported under `interlock`.
    with kgw.http() as http:
        r = http.post("/v1/chat/completions", headers=auth(kgw.keys["hr"]),
                      json={"model": "mock", "messages": [{"role": "user", "content": "parental leave"}],
                            "tools": [{"type": "function", "function": {"name": "wire_money", "parameters": {
                                "type": "object", "properties": {"amount": {"type": "integer"}}}}}],
                            "mock": {"tool_calls": [{"name": "wire_money", "arguments": {"amount": 5},
                                                     "id": "call_1"}]},
                            "interlock": {"knowledge": {"sources": ["corp"], "top_k": 1}}})
    assert r.status_code == 200, r.text
    extra = r.json()["interlock"]
    assert [t["name"] for t in extra["tool_calls"]] == ["wire_money"]
    assert len(extra["citations"]) == 1


def test_another_tenants_source_is_unknown_and_never_listed(kgw: Gateway) -> None:
    with kgw.http() as http:
        r = http.post("/v1/retrieve", headers=auth(kgw.keys["fin"]), json={"query": "budget", "sources": ["corp-other"]})
        assert r.status_code == 400
        assert "corp-other" not in r.json()["error"]["message"].split("known sources")[1]
        mine = retrieve(kgw, "fin", query="quarterly budget forecast")
        assert {p["citation"]["source"] for p in mine["data"]} == {"corp"}
        theirs = retrieve(kgw, "fin-other", query="quarterly budget forecast")
        assert {p["citation"]["source"] for p in theirs["data"]} == {"corp-other"}


@pytest.mark.parametrize("stream", [False, True])
def test_the_messages_api_is_augmented_alike(kgw: Gateway, mock_llm: MockLLM, stream: bool) -> None:
    mock_llm.clear()
    with kgw.http() as http:
        r = http.post("/v1/messages", headers={**auth(kgw.keys["hr"]), "anthropic-version": "2023-06-01"},
                      json={"model": "mock", "max_tokens": 64, "stream": stream,
                            "messages": [{"role": "user", "content": "parental leave"}],
                            "interlock": {"knowledge": {"sources": ["corp"], "top_k": 2}}})
    assert r.status_code == 200, r.text
    prompt = json.dumps(mock_llm.last.body)
    assert "interlock" not in mock_llm.last.body
    assert "CANARY-HR-NARWHAL" in prompt
    for canary in canaries_outside(VISIBLE["hr"]):
        assert canary not in prompt
    if stream:
        events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
        (delta,) = [e for e in events if e["type"] == "message_delta"]
        citations = delta["interlock"]["citations"]
    else:
        citations = r.json()["interlock"]["citations"]
    assert len(citations) == 2
    assert {c["document_id"].split("/")[0] for c in citations} <= VISIBLE["hr"]


def test_the_responses_api_is_augmented_alike(kgw: Gateway, mock_llm: MockLLM) -> None:
    mock_llm.clear()
    with kgw.http() as http:
        r = http.post("/v1/responses", headers=auth(kgw.keys["fin"]),
                      json={"model": "mock", "input": "quarterly budget forecast",
                            "interlock": {"knowledge": {"sources": ["corp"], "top_k": 3}}})
    assert r.status_code == 200, r.text
    prompt = json.dumps(mock_llm.last.body)
    assert "interlock" not in mock_llm.last.body
    assert "CANARY-FINANCE-QUOKKA" in prompt
    for canary in canaries_outside(VISIBLE["fin"]):
        assert canary not in prompt
    citations = r.json()["interlock"]["citations"]
    assert len(citations) == 3
    assert {c["document_id"].split("/")[0] for c in citations} <= VISIBLE["fin"]
