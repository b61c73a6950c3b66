"""Stage: the body is a well-formed Anthropic Messages request, translated into the chat request the
other stages handle (``codecs/anthropic_in.py``), which is then checked as the chat stage checks one.

It takes the chat parse stage's place in the messages pipeline, so everything after it (policy,
detection and redaction, tool calls, approvals, records) is the chat pipeline's, written once.
"""

from __future__ import annotations

import re

import msgspec

from interlock.errors import InvalidRequest
from interlock.pipeline.call import Call
from interlock.pipeline.codecs.anthropic_in import chat_request
from interlock.pipeline.codecs.anthropic_schema import MessagesRequest
from interlock.pipeline.parse import ParseChatRequest, decode_json_object, invalid

ANTHROPIC_VERSION = "anthropic-version"
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_version(call_headers: dict[str, str]) -> None:
    """Anthropic's API refuses a request without its version header; so does the gateway, alike."""
    version = call_headers.get(ANTHROPIC_VERSION)
    if version is None or not _VERSION.match(version):
        raise InvalidRequest(f"The {ANTHROPIC_VERSION} header is required (for example "
                             f"{ANTHROPIC_VERSION}: 2023-06-01).", param=ANTHROPIC_VERSION)


class ParseMessagesRequest:
    name = "parse"

    def __init__(self, chat: ParseChatRequest, max_depth: int) -> None:
        self._chat = chat
        self._max_depth = max_depth

    async def __call__(self, call: Call) -> None:
        check_version(call.headers)
        doc = decode_json_object(call.raw_body, self._max_depth)
        passed = self._chat.passed_through(doc)
        checked = {k: v for k, v in doc.items() if k not in passed} if passed else doc
        try:
            req = msgspec.convert(checked, MessagesRequest)
        except msgspec.ValidationError as exc:
            raise invalid(str(exc), "messages request") from None
        translated = chat_request(req)
        for name in passed:
            translated[name] = doc[name]
        self._chat.accept(call, translated)
