"""The console on PostgreSQL: sign-outs and the use-case figures read the same store as on SQLite."""

from __future__ import annotations

from console_support import Browser, api, console_gateway, csrf_in

from interlock.console.session import SESSION_COOKIE
from support.gateways import GatewayFactory


def test_sign_out_and_use_case_figures_on_postgresql(gateway_factory: GatewayFactory) -> None:
    gw = console_gateway(gateway_factory, "postgresql")
    owner, thief = Browser(gw), Browser(gw)
    try:
        for i in range(2):
            r = api(gw, "support", "POST", "/v1/chat/completions",
                    json={"model": "mock", "messages": [{"role": "user", "content": f"Order {i}?"}]})
            assert r.status_code == 200, r.text
        rows = api(gw, "admin", "GET", "/admin/audit").json()["data"]
        spent = sum(r["cost"]["nano_usd"] for r in rows if r.get("use_case") == "support-assistant") / 1e9
        body = api(gw, "olly", "GET", "/v1/usecases/support-assistant").json()
        assert body["service"]["calls"] == 2
        assert abs(body["cost"]["total_usd"] - spent) < 1e-9
        assert abs(body["budgets"][0]["spent_usd"] - spent) < 1e-9

        assert owner.sign_in(gw.keys["olly"].key).status_code == 303
        thief.jar[SESSION_COOKIE] = owner.jar[SESSION_COOKIE]
        assert thief.request("GET", "/console/usecases/support-assistant").status_code == 200
        token = csrf_in(owner.request("GET", "/console/approvals").text)
        assert owner.request("POST", "/console/sign-out", data={"csrf": token}).status_code == 303
        r = thief.request("GET", "/console/usecases/support-assistant")
        assert (r.status_code, r.headers["location"]) == (303, "/console/sign-in")
    finally:
        owner.http.close()
        thief.http.close()
        gw.stop()
