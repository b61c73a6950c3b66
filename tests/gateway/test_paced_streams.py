"""Answers streamed at a model's pace, a word per chunk: prose reaches the client as it arrives, and the
values in it are handled as in a whole answer (assertions on content and order, never on time)."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.providers.mock import MockLLM
from support.gateways import Gateway

PROSE = ("the customer says their invoices for the last quarter were issued twice, so we will send a corrected "
         "statement before the end of the month and move the plan to monthly billing.")
CARD = "4111 1111 1111 1111"
WITH_VALUES = (f"the customer says their invoices were issued twice; refund the card {CARD} and write to "
               f"dana.whitfield@example.com before the end of the month, then move the plan to monthly billing.")


def user(text: str) -> Any:
    return [{"role": "user", "content": text}]


def pieces_of(gateway: Gateway, reply: str, **scenario: Any) -> list[str]:
    """The non-empty content pieces of a streamed answer, in the order the client read them."""
    client = gateway.client(gateway.keys["plain-user"])
    stream = client.chat.completions.create(model="mock", messages=user("summarise"), stream=True,
                                            extra_body={"mock": {"reply": reply, **scenario}})
    return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]


def whole_answer(gateway: Gateway, reply: str) -> str:
    client = gateway.client(gateway.keys["plain-user"])
    answer = client.chat.completions.create(model="mock", messages=user("summarise"),
                                            extra_body={"mock": {"reply": reply}})
    return answer.choices[0].message.content or ""


@pytest.mark.parametrize("leading_space", [False, True], ids=["word-space", "space-word"])
def test_paced_prose_streams_a_word_for_each_upstream_word(gateway: Gateway, mock: MockLLM,
                                                           leading_space: bool) -> None:
    pieces = pieces_of(gateway, PROSE, chunk_delay_ms=5, leading_space=leading_space)
    words = PROSE.split(" ")
    # Each upstream chunk releases a word: " word" the one before it, which the space completes; "word "
    # the one before it too, since a word followed only by a space may be an e-mail address's local part
    # ("jane at gmail.com") until the next word begins. Before "a" (which may begin "at"), two words leave
    # together. The client reads the answer word by word, in order, with nothing held for later.
    assert "".join(pieces) == PROSE
    if leading_space:
        assert pieces[:4] == [words[0]] + [" " + w for w in words[1:4]]
        assert all(len(p.split()) == 1 or p.split()[-1] == "a" for p in pieces), [p for p in pieces if len(p.split()) > 1]
    else:
        # A word that ends in punctuation is no local part: it leaves at once, with the word before it.
        assert pieces[:3] == ["the ", "customer ", "says "]
        assert all(len(p.split()) <= 1 or (len(p.split()) == 2 and p.split()[1][-1] in ",;.") for p in pieces), [p for p in pieces if len(p.split()) > 1]


@pytest.mark.parametrize("chunks", [None, 7, len(WITH_VALUES)], ids=["words", "7", "characters"])
def test_paced_stream_with_values_is_the_whole_answer(gateway: Gateway, mock: MockLLM, chunks: int | None) -> None:
    scenario: dict[str, Any] = {"chunk_delay_ms": 1}
    if chunks is not None:
        scenario["chunks"] = chunks
    pieces = pieces_of(gateway, WITH_VALUES, **scenario)
    whole = whole_answer(gateway, WITH_VALUES)
    assert CARD not in whole  # the plain user does not see a card number the model emits
    assert "".join(pieces) == whole
    # However the answer was split, no piece carries a part of the card number.
    for piece in pieces:
        assert "4111" not in piece, piece
        assert "1111 1111" not in piece, piece


def test_paced_stream_releases_prose_before_a_value_arrives(gateway: Gateway, mock: MockLLM) -> None:
    pieces = pieces_of(gateway, WITH_VALUES, chunk_delay_ms=1)
    before = WITH_VALUES[:WITH_VALUES.index("refund")].split(" ")[:-1]
    # The words before the value came one by one, as in plain prose, ahead of anything of the value.
    assert "".join(pieces).startswith(" ".join(before))
    assert [p.split() for p in pieces[:len(before) - 2]] == [[w] for w in before[:-2]]
