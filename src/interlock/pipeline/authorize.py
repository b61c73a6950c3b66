"""Stage: the model exists and this caller may use it."""

from __future__ import annotations

from interlock.errors import ModelNotFound, PolicyDenied
from interlock.identity.principal import Principal
from interlock.pipeline.call import Call
from interlock.settings import ModelSettings


def may_use(model: ModelSettings, principal: Principal | None, app: Principal | None) -> bool:
    """Role check that stands in until policies decide model access.

    When an application acts for an asserted end user, the application's roles count: the user
    carries none of its own.
    """
    if not model.allow_roles:
        return True
    subject = app if app is not None and principal is not None and not principal.roles else principal
    return subject is not None and not model.allow_roles.isdisjoint(subject.roles)


class AuthorizeModel:
    name = "authorize"

    def __init__(self, models: dict[str, ModelSettings]) -> None:
        self._models = models

    async def __call__(self, call: Call) -> None:
        model = self._models.get(call.model_alias)
        if model is None:
            raise ModelNotFound(f"The model {call.model_alias!r} does not exist here; "
                                "GET /v1/models lists the models you may use.", param="model")
        if not may_use(model, call.principal, call.app):
            call.decide(self.name, "deny", "role not allowed for model")
            raise PolicyDenied(f"You may not use the model {call.model_alias!r}; "
                               "ask an administrator for access.", param="model")
        call.decide(self.name, "allow", "model access")
