"""Webhook notifications of approval requests and decisions, signed with HMAC-SHA256.

Each delivery is a JSON POST with ``X-Interlock-Timestamp`` (unix seconds) and
``X-Interlock-Signature: sha256=<hex>``, the HMAC of ``"<timestamp>.<body>"`` under the shared secret;
receivers recompute it and reject stale timestamps. Delivery runs in the background with retries and
never delays or fails the decision it reports: the audit log, not the webhook, is the record.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Any

import aiohttp
import msgspec

from interlock.settings import ConfigError, WebhookSettings

log = logging.getLogger("interlock.approvals.webhook")

SIGNATURE_HEADER = "x-interlock-signature"
TIMESTAMP_HEADER = "x-interlock-timestamp"
_MAX_PENDING = 1000


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def webhook_secret(settings: WebhookSettings) -> bytes:
    raw = os.environ.get(settings.secret_env)
    if not raw and settings.secret_file is not None:
        try:
            raw = settings.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"approvals.webhook.secret_file {settings.secret_file}: {exc.strerror}") from None
    if not raw:
        raise ConfigError(f"approvals.webhook: no signing secret; set {settings.secret_env} or secret_file")
    if len(raw) < 16:
        raise ConfigError("approvals.webhook: the signing secret must be at least 16 characters")
    return raw.encode()


class Webhook:
    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._secret = webhook_secret(settings)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed = 0

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout_seconds))

    async def stop(self) -> None:
        """Give deliveries under way a moment to finish, then close."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.settings.timeout_seconds)
        late = list(self._tasks)
        for task in late:
            task.cancel()
        # Let cancelled deliveries unwind before their session closes under them.
        await asyncio.gather(*late, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    def notify(self, event: str, approval: dict[str, Any]) -> None:
        if self._session is None or len(self._tasks) >= _MAX_PENDING:
            self.failed += 1
            log.warning("webhook %s for %s dropped (not started or too many deliveries pending)",
                        event, approval.get("id"))
            return
        body = msgspec.json.encode({"id": "evt_" + secrets.token_hex(8), "event": event, "time": time.time(),
                                    "approval": approval})
        task = asyncio.create_task(self._deliver(event, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: str, body: bytes) -> None:
        assert self._session is not None
        for attempt in range(self.settings.retries + 1):
            timestamp = str(int(time.time()))
            headers = {"content-type": "application/json", TIMESTAMP_HEADER: timestamp,
                       SIGNATURE_HEADER: sign(self._secret, timestamp, body), "user-agent": "interlock-webhook"}
            try:
                async with self._session.post(self.settings.url, data=body, headers=headers) as response:
                    if response.status < 300:
                        self.delivered += 1
                        return
                    problem = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.settings.retries:
                await asyncio.sleep(min(30.0, 0.5 * 2 ** attempt))
        self.failed += 1
        log.warning("webhook %s could not be delivered to %s: %s", event, self.settings.url, problem)
