"""Stage: which use case this call belongs to (only in the pipeline when use cases are configured)."""

from __future__ import annotations

from interlock.pipeline.call import Call
from interlock.usecases.catalog import UseCaseCatalog


class BindUseCase:
    name = "use_case"

    def __init__(self, catalog: UseCaseCatalog) -> None:
        self._catalog = catalog

    async def __call__(self, call: Call) -> None:
        assert call.principal is not None
        bound = self._catalog.bind(call.principal, call.app, call.headers)
        if bound is not None:
            call.use_case = bound.facts
            call.decide(self.name, "bound", f"use case {bound.facts.name!r} ({bound.facts.state})")
