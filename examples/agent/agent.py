"""A small support agent that runs its tools only through Interlock.

The model proposes tool calls; Interlock checks each one before this script ever sees it. Allowed calls
arrive as ordinary ``tool_calls`` and run here; refused ones are removed and explained in the
``interlock`` object of the response; held ones carry an approval id: the agent waits for a person to
decide (``GET /v1/approvals/{id}/wait``) and then resumes with ``x-interlock-resume``, which returns the
approved call (with any edits the approver made) without asking the model again.

    python examples/agent/agent.py --base-url http://127.0.0.1:8080/v1 --key "$KEY" "Refund pay_123, 250 EUR"

``--script`` attaches a scenario for the built-in mock model to the first turn (the mock then asks for
exactly those tool calls), so the whole flow can be tried offline:

    --script '{"tool_calls": [{"name": "refund_payment",
                               "arguments": {"payment_id": "pay_123", "amount": 250, "currency": "EUR"}}]}'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
import openai

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "search_kb", "description": "Search the support knowledge base.",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "send_email", "description": "Send an e-mail on the company's behalf.",
        "parameters": {"type": "object", "properties": {
            "to": {"type": "array", "items": {"type": "string"}}, "subject": {"type": "string"},
            "body": {"type": "string"}}, "required": ["to", "subject", "body"]}}},
    {"type": "function", "function": {
        "name": "refund_payment", "description": "Refund a customer payment.",
        "parameters": {"type": "object", "properties": {
            "payment_id": {"type": "string"}, "amount": {"type": "number"}, "currency": {"type": "string"}},
            "required": ["payment_id", "amount", "currency"]}}},
]


# The tools themselves: stand-ins that say what they would do.
def search_kb(query: str) -> str:
    return f"3 articles match {query!r}: 'Refund policy', 'Changing an address', 'Card disputes'."


def send_email(to: list[str], subject: str, body: str) -> str:
    return f"sent {subject!r} to {len(to)} recipient(s)"


def refund_payment(payment_id: str, amount: float, currency: str) -> str:
    return f"refunded {amount} {currency} on {payment_id}"


IMPLEMENTATIONS: dict[str, Callable[..., str]] = {
    "search_kb": search_kb, "send_email": send_email, "refund_payment": refund_payment,
}


class Agent:
    def __init__(self, base_url: str, key: str, model: str, *, wait_seconds: float = 60.0,
                 log: Callable[[str], None] = print) -> None:
        self.client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
        self.http = httpx.Client(base_url=base_url, headers={"authorization": f"Bearer {key}"}, timeout=None)
        self.model = model
        self.wait_seconds = wait_seconds
        self.log = log

    def close(self) -> None:
        self.http.close()
        self.client.close()

    def wait_for(self, approval_id: str) -> str:
        """Block until a person decides (or the request expires); returns the final state."""
        while True:
            response = self.http.get(f"/approvals/{approval_id}/wait", params={"timeout": self.wait_seconds})
            response.raise_for_status()
            state = str(response.json()["state"])
            if state != "pending":
                return state
            self.log(f"  still waiting for approval {approval_id} ...")

    def run(self, task: str, *, script: dict[str, Any] | None = None, max_turns: int = 8) -> str:
        messages: list[Any] = [
            {"role": "system", "content": "You are a support agent. Use the tools to help the customer."},
            {"role": "user", "content": task},
        ]
        extra: dict[str, Any] = {"mock": script} if script else {}
        resume: list[str] = []
        for _ in range(max_turns):
            headers = {"x-interlock-resume": ",".join(resume)} if resume else {}
            completion = self.client.chat.completions.create(
                model=self.model, messages=messages, tools=TOOLS,  # type: ignore[arg-type]
                extra_body=extra or None, extra_headers=headers or None)
            extra, resume = {}, []
            message = completion.choices[0].message
            report = (completion.model_extra or {}).get("interlock") or {}
            held = []
            for verdict in report.get("tool_calls", []):
                if verdict["outcome"] == "refused":
                    self.log(f"  refused: {verdict['name']} ({verdict['code']}): {verdict['message']}")
                elif verdict["outcome"] == "held":
                    self.log(f"  held for approval: {verdict['name']} -> {verdict['approval_id']}")
                    held.append(verdict["approval_id"])
            if message.tool_calls:
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    arguments = json.loads(call.function.arguments or "{}")
                    result = IMPLEMENTATIONS[call.function.name](**arguments)
                    self.log(f"  ran {call.function.name}: {result}")
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
                continue
            if held:
                # Nothing runs until a person decides; then the approved calls come back on resume.
                states = {approval_id: self.wait_for(approval_id) for approval_id in held}
                resume = [a for a, state in states.items() if state == "approved"]
                for approval_id, state in states.items():
                    if state != "approved":
                        self.log(f"  approval {approval_id} ended {state}; that call will not run")
                if resume:
                    continue
            return message.content or ""
        return "(stopped: too many turns)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task")
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--key", required=True, help="an Interlock API key (principal with a support role)")
    parser.add_argument("--model", default="mock")
    parser.add_argument("--script", type=json.loads, default=None,
                        help="a scenario for the built-in mock model, used on the first turn")
    args = parser.parse_args(argv)
    agent = Agent(args.base_url, args.key, args.model)
    try:
        answer = agent.run(args.task, script=args.script)
    except openai.APIStatusError as exc:
        print(f"refused by the gateway: {exc.status_code} {exc.message}", file=sys.stderr)
        return 1
    finally:
        agent.close()
    print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
