"""Stage: the model exists and policy lets this caller use it with these capabilities."""

from __future__ import annotations

from typing import Any

from interlock.errors import ModelNotFound, PolicyDenied
from interlock.pipeline.call import Call
from interlock.policy.holder import PolicyHolder
from interlock.settings import ModelSettings

# The endpoint name (``Call.endpoint``) of embeddings calls.
EMBEDDINGS_ENDPOINT = "embeddings"
# A request body above this size asks for the large_context capability.
LARGE_CONTEXT_BYTES = 128 * 1024


def capabilities_of(call: Call) -> frozenset[str]:
    caps = set()
    if call.stream:
        caps.add("streaming")
    if call.body.get("tools"):
        caps.add("tools")
    if len(call.raw_body) > LARGE_CONTEXT_BYTES:
        caps.add("large_context")
    if call.endpoint == EMBEDDINGS_ENDPOINT:
        # Lets a policy keep a model to chat, or to embeddings only.
        caps.add("embeddings")
    return frozenset(caps)


def requested_tokens(body: dict[str, Any]) -> int | None:
    """The completion bound a policy judges: the larger of ``max_tokens`` and ``max_completion_tokens``,
    since both travel to the provider and either may be the one it honours."""
    values = [v for v in (body.get("max_tokens"), body.get("max_completion_tokens"))
              if isinstance(v, int) and not isinstance(v, bool)]
    return max(values) if values else None


class AuthorizeModel:
    name = "authorize"

    def __init__(self, models: dict[str, ModelSettings], policy: PolicyHolder,
                 shadow: PolicyHolder | None = None) -> None:
        self._models = models
        self._policy = policy
        self._shadow = shadow

    async def __call__(self, call: Call) -> None:
        if call.model_alias not in self._models:
            raise ModelNotFound(f"The model {call.model_alias!r} does not exist here; "
                                "GET /v1/models lists the models you may use.", param="model")
        assert call.principal is not None
        engine = self._policy.engine
        call.policy_version = engine.version
        caps = capabilities_of(call)
        max_tokens = requested_tokens(call.body)
        spent, left = call.budget_spent_percent, call.rate_remaining_percent
        decision = engine.model_access(call.principal, call.app, call.model_alias, caps, max_tokens, spent, left,
                                       call.use_case)
        if self._shadow is not None:
            candidate = self._shadow.engine.model_access(call.principal, call.app, call.model_alias, caps,
                                                         max_tokens, spent, left, call.use_case)
            if candidate.allowed != decision.allowed:
                call.shadow_differences.append({"question": "invoke_model", "active": decision.allowed,
                                                "candidate": candidate.allowed,
                                                "candidate_policy_ids": list(candidate.policy_ids)})
        if not decision.allowed:
            call.decide(self.name, "deny", decision.reason, decision.policy_ids)
            # Say which rules refused (ids name rule families, e.g. models.external-token-cap), never values.
            if decision.errors:
                why = "a policy evaluation error"
            elif decision.policy_ids:
                why = "forbidden by " + ", ".join(decision.policy_ids)
            else:
                why = "no policy permits it"
            within = f" in the {call.use_case.state} use case {call.use_case.name!r}" if call.use_case else ""
            raise PolicyDenied(f"Policy does not let you use the model {call.model_alias!r} with "
                               f"{', '.join(sorted(caps)) or 'these settings'}{within} ({why}); "
                               f"ask an administrator for access (request {call.request_id}).", param="model")
        call.decide(self.name, "allow", decision.reason, decision.policy_ids)
