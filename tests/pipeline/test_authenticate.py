"""The authenticate stage: a key (or a key plus an end user it may act for) becomes the call's principal."""

from __future__ import annotations

import time

import pytest

from interlock.errors import Forbidden, Unauthenticated
from interlock.pipeline.stage import Stage
from support.app import Engine
from support.calls import make_call
from support.engines import add_key, stage_of


@pytest.fixture
def stage(engine: Engine) -> Stage:
    return stage_of(engine, "authenticate")


async def test_a_valid_key_names_the_principal(engine: Engine, stage: Stage) -> None:
    key = await add_key(engine.store, "pat", tenant="other", roles=["analyst"])
    call = make_call(key=key)
    await stage(call)
    assert call.principal is not None
    assert (call.principal.id, call.principal.tenant, call.principal.roles) == ("pat", "other",
                                                                                frozenset({"analyst"}))
    assert call.app is None
    assert call.auth_method == "api_key"


async def test_the_key_may_come_as_x_api_key(engine: Engine, stage: Stage) -> None:
    key = await add_key(engine.store, "pat")
    call = make_call(headers={"x-api-key": key})
    await stage(call)
    assert call.principal is not None
    assert call.principal.id == "pat"


@pytest.mark.parametrize(("headers", "says"), [
    ({}, "No API key was sent"),
    ({"authorization": "Bearer il_not_a_real_key_0000000000000000"}, "not valid"),
    ({"authorization": "Basic dXNlcjpwYXNz"}, "Authorization: Bearer"),
])
async def test_no_usable_key_is_refused(stage: Stage, headers: dict[str, str], says: str) -> None:
    call = make_call(headers=headers)
    with pytest.raises(Unauthenticated, match=says) as refused:
        await stage(call)
    assert refused.value.code == "invalid_api_key"
    assert refused.value.status == 401
    assert call.principal is None


async def test_a_revoked_key_is_refused(engine: Engine, stage: Stage) -> None:
    key = await add_key(engine.store, "pat")
    [record] = [k for k in await engine.store.list_keys() if k.name == "pat"]
    assert await engine.store.revoke_key(record.id, time.time())
    with pytest.raises(Unauthenticated, match="revoked"):
        await stage(make_call(key=key))


async def test_an_app_acting_for_an_end_user_makes_the_user_the_subject(engine: Engine, stage: Stage) -> None:
    key = await add_key(engine.store, "helpdesk", kind="app", may_act_for=True)
    call = make_call(key=key, headers={"x-interlock-end-user": "jane"})
    await stage(call)
    assert call.principal is not None
    assert call.app is not None
    assert (call.principal.id, call.app.id) == ("jane", "helpdesk")
    assert call.principal.tenant == call.app.tenant


async def test_a_caller_that_may_not_act_for_users_is_forbidden_to(engine: Engine, stage: Stage) -> None:
    key = await add_key(engine.store, "plain-app", kind="app")
    call = make_call(key=key, headers={"x-interlock-end-user": "jane"})
    with pytest.raises(Forbidden, match="may not act on behalf of end users"):
        await stage(call)
    assert call.principal is None
