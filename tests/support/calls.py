"""Ready-made calls and principals for the stage tests: ``make_call()`` is a ``Call`` in the state a stage
expects to find it, in one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from interlock.identity.principal import Principal
from interlock.pipeline.call import Call

DEFAULT_BODY: Mapping[str, Any] = {"model": "mock", "messages": [{"role": "user", "content": "hello"}]}


def make_principal(pid: str = "pat", *, roles: Iterable[str] = (), groups: Iterable[str] = (),
                   tenant: str = "default", kind: Literal["user", "app", "service"] = "user",
                   may_act_for: bool = False) -> Principal:
    return Principal(id=pid, kind=kind, tenant=tenant, roles=frozenset(roles), groups=frozenset(groups),
                     may_act_for=may_act_for, name=pid)


def user_messages(*texts: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text} for text in texts]


def make_call(body: Mapping[str, Any] | bytes | None = None, *, principal: Principal | None = None,
              app: Principal | None = None, key: str | None = None, headers: Mapping[str, str] | None = None,
              parsed: bool = True, request_id: str = "req_test", endpoint: str = "chat.completions",
              **fields: Any) -> Call:
    """A call as the stages after the ones it skips would find it.

    ``body`` is the request (a chat completion for ``mock`` saying hello unless given; bytes are sent as
    they are). ``key`` adds ``Authorization: Bearer <key>``; ``headers`` adds more (lower-case names, as
    the HTTP layer passes them). ``principal`` (and ``app``) stand for an authenticated caller; ``parsed``
    fills ``body``, ``model_alias`` and ``stream`` as the parse stage does. Other keyword arguments set
    ``Call`` fields (``response=...``, ``stream_iter=...``).
    """
    doc = dict(DEFAULT_BODY) if body is None else body
    raw = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    sent = {"content-type": "application/json"}
    if key is not None:
        sent["authorization"] = f"Bearer {key}"
    sent.update(headers or {})
    call = Call(request_id=request_id, endpoint=endpoint, raw_body=raw, headers=sent)
    if principal is not None:
        call.principal, call.app, call.auth_method = principal, app, "api_key"
    if parsed and isinstance(doc, Mapping):
        call.body = json.loads(raw)
        call.model_alias = str(doc.get("model", ""))
        call.stream = bool(doc.get("stream"))
        options = doc.get("stream_options")
        call.client_wants_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    for name, value in fields.items():
        setattr(call, name, value)
    return call
