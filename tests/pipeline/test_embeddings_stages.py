"""The embeddings pipeline's own stages with the standard test policies: each input rewritten to class
labels (redact) or masks, allowed classes left as they are but masked at rest, token ids decided as
``media.tokens``, and the ``embeddings`` capability asked of the model policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interlock.errors import DataBlocked
from interlock.pipeline.authorize import capabilities_of
from interlock.pipeline.stage import Stage
from support.app import Engine
from support.calls import make_call, make_principal

PAT = make_principal()
EMAIL = "jane.doe@example.org"
CARD = "4111 1111 1111 1111"
IP = "203.0.113.7"


def embedding_stage(engine: Engine, name: str) -> Stage:
    return next(s for s in engine.embeddings.stages if s.name == name)


def request(value: Any, **extra: Any) -> dict[str, Any]:
    return {"model": "mock", "input": value, **extra}


async def test_each_input_gets_labels_masks_and_allowed_values(engine: Engine) -> None:
    stage = embedding_stage(engine, "protect")
    texts = [f"mail {EMAIL} or {EMAIL}", f"card {CARD}", f"host {IP}", "plain"]
    call = make_call(request(texts, user=EMAIL), principal=PAT, endpoint="embeddings")
    await stage(call)
    # The same value twice is the same label (no numbering); the network address is allowed as it is.
    assert call.body["input"] == ["mail [EMAIL] or [EMAIL]", "card ****1111", f"host {IP}", "plain"]
    assert call.body["user"] == "[EMAIL]"
    # At rest, what was allowed is masked too.
    assert call.payload == {"input": ["mail [EMAIL] or [EMAIL]", "card ****1111", "host [REDACTED:IP]", "plain"]}
    assert sorted(set(call.data_findings)) == [("net.ip_address", "allow", "input"),
                                               ("pci.card_number", "mask", "input"),
                                               ("pii.email", "redact", "input")]


async def test_a_single_string_stays_a_string(engine: Engine) -> None:
    call = make_call(request(f"write to {EMAIL}"), principal=PAT, endpoint="embeddings")
    await embedding_stage(engine, "protect")(call)
    assert call.body["input"] == "write to [EMAIL]"


async def test_nothing_found_leaves_the_request_untouched(engine: Engine) -> None:
    body = request(["one", "two"], dimensions=4)
    call = make_call(body, principal=PAT, endpoint="embeddings")
    await embedding_stage(engine, "protect")(call)
    assert call.body == body
    assert not call.data_findings
    assert call.payload == {"input": ["one", "two"]}


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]]])
async def test_token_ids_are_media_tokens_and_blocked_toward_external_models(engine: Engine, tokens: Any) -> None:
    call = make_call(request(tokens), principal=PAT, endpoint="embeddings")
    with pytest.raises(DataBlocked) as blocked:
        await embedding_stage(engine, "protect")(call)
    assert "media.tokens" in blocked.value.message
    assert {c for c, _, _ in call.data_findings} == {"media.tokens"}
    assert json.dumps(call.body["input"]) == json.dumps(tokens)


async def test_a_blocked_value_in_any_input_refuses_without_echoing_it(engine: Engine) -> None:
    secret = "AKIA" + "QX7RZ2KD5VNM3BTP"
    call = make_call(request(["fine", f"key {secret}"]), principal=PAT, endpoint="embeddings")
    with pytest.raises(DataBlocked) as blocked:
        await embedding_stage(engine, "protect")(call)
    assert secret not in blocked.value.message
    assert "secret.api_key" in blocked.value.message


def test_embeddings_calls_ask_for_the_embeddings_capability() -> None:
    assert "embeddings" in capabilities_of(make_call(request("x"), endpoint="embeddings"))
    assert "embeddings" not in capabilities_of(make_call())
