"""The one contract every stage speaks.

A stage reads and adds to the ``Call``. It says no by raising a ``Refusal``; any other exception
is a component failure, and the runner refuses the call for it too (fail closed). A stage that
works on the model's answer finds either ``call.response`` (a complete answer) or ``call.stream``
(an async iterator of chunks) and may replace either with its own wrapper.
"""

from __future__ import annotations

from typing import Protocol

from interlock.pipeline.call import Call


class Stage(Protocol):
    name: str

    async def __call__(self, call: Call) -> None: ...
