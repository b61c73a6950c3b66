"""Audit: search the log, read a record's decisions and stage timings, verify it, export its proof.

Verifying fetches the record's proof bundle from the API (the newest signed checkpoint and the
inclusion proof) and checks it against the deployment's own checkpoint key, not the key the bundle
names, so a bundle made up elsewhere does not pass.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interlock.audit.export import ProofBundleError, bundle_json, verify_proof_bundle
from interlock.console.ui import SECURITY_HEADERS, NavItem, Ui, when
from interlock.merkle.checkpoint import CheckpointSigner, verifier_key

SEARCH_FIELDS = ("principal", "model", "outcome", "refusal_code", "data_class")


def epoch(value: str) -> str | None:
    """A datetime-local field (taken as UTC) as Unix seconds; blank is no bound."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date and time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return str(parsed.timestamp())


class AuditPage:
    nav = NavItem("/console/audit", "Audit")

    def __init__(self, signer: Callable[[], CheckpointSigner]) -> None:
        # Read when first needed: the gateway loads (or, on first start, creates) its signing key at start.
        self._signer = signer

    def routes(self, ui: Ui) -> list[Route]:
        self._ui = ui
        return [
            Route("/audit", self.search, methods=["GET"]),
            Route("/audit/{request_id}", self.record, methods=["GET"]),
            Route("/audit/{request_id}/verify", self.verify, methods=["GET"]),
            Route("/audit/{request_id}/proof.json", self.export, methods=["GET"]),
        ]

    async def search(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        params = request.query_params
        form = {name: params.get(name, "") for name in (*SEARCH_FIELDS, "since", "until")}
        query = {name: form[name] for name in SEARCH_FIELDS if form[name]}
        try:
            for bound in ("since", "until"):
                seconds = epoch(form[bound])
                if seconds is not None:
                    query[bound] = seconds
        except ValueError as exc:
            return ui.render(request, "audit.html", session, status=400, form=form, rows=None,
                             problem=f"{exc}: use the date picker.")
        query["limit"] = "100"
        answer = await ui.api(session, "GET", "/admin/audit", query=query)
        if not answer.ok:
            return ui.refused(request, session, answer)
        return ui.render(request, "audit.html", session, form=form, rows=answer.body["data"], problem=None)

    async def _record(self, request: Request) -> tuple[Any, Any]:
        ui = self._ui
        session = await ui.signed_in(request)
        answer = await ui.api(session, "GET", "/admin/audit",
                              query={"request_id": request.path_params["request_id"], "limit": "1"})
        return session, answer

    async def record(self, request: Request) -> Response:
        return await self._show(request, verdict=None)

    async def _show(self, request: Request, verdict: dict[str, Any] | None) -> Response:
        ui = self._ui
        session, answer = await self._record(request)
        if not answer.ok:
            return ui.refused(request, session, answer)
        if not answer.body["data"]:
            return ui.render(request, "refused.html", session, status=404, request_id=answer.request_id,
                             message=f"No audit record has the request id {request.path_params['request_id']!r}.")
        record = answer.body["data"][0]
        signer = self._signer()
        return ui.render(request, "record.html", session, record=record, verdict=verdict,
                         pretty=json.dumps(record, indent=2, sort_keys=True),
                         verifier_key=verifier_key(signer.name, signer.public_key))

    async def verify(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        proof = await ui.api(session, "GET", f"/admin/audit/{request.path_params['request_id']}/proof")
        if not proof.ok:
            return await self._show(request, {"ok": False, "text": f"Not verified: {proof.error}"})
        try:
            checkpoint = verify_proof_bundle(proof.body, self._signer().public_key)
        except ProofBundleError as exc:
            return await self._show(request, {"ok": False, "text": f"Not verified: {exc}."})
        return await self._show(request, {
            "ok": True,
            "text": (f"Verified: this record is entry {proof.body['leaf_index']} of the audit log, included in the "
                     f"checkpoint at tree size {checkpoint.tree_size}, signed by {checkpoint.key_name} "
                     f"at {when(checkpoint.timestamp)}; its contents are as signed."),
        })

    async def export(self, request: Request) -> Response:
        ui = self._ui
        session = await ui.signed_in(request)
        request_id = request.path_params["request_id"]
        proof = await ui.api(session, "GET", f"/admin/audit/{request_id}/proof")
        if not proof.ok:
            return ui.refused(request, session, proof)
        safe = "".join(c for c in request_id if c.isalnum() or c in "-_")[:80]
        return Response(bundle_json(proof.body), 200, media_type="application/json", headers={
            **SECURITY_HEADERS, "content-disposition": f'attachment; filename="proof-{safe}.json"'})
