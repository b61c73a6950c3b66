"""The built-in mock LLM: a real HTTP server speaking the OpenAI and Anthropic wire formats.

It also answers ``/v1/embeddings`` (``mock_embeddings``). It is the offline default model, the witness in tests of what did and did not reach a model, and a
fast upstream for benchmarks, so it is a bare ASGI app: no framework, msgspec for JSON, no per-request
logging. Every ``/v1/*`` request is recorded before its scenario runs, so a scenario that fails or
hangs still leaves its evidence. Scenarios are described in ``mock_scenario``.

Recording is for a mock of its own (``interlock mock-llm``, ``MockLLM`` in tests). The one a gateway
mounts on its own port (``record=False``) keeps nothing: what it receives is what the gateway sent a
model, and the gateway keeps no prompt text anywhere it can be read back.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import Any, Final

import msgspec
import uvicorn

from interlock.providers.mock_embeddings import embeddings_answer
from interlock.providers.mock_scenario import (
    MockScenarioError,
    Prompt,
    answer,
    anthropic_events,
    anthropic_message,
    anthropic_prompt,
    choose_scenario,
    openai_completion,
    openai_events,
    openai_prompt,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MODELS: Final = ("mock", "mock-large")

_JSON_HEADERS: Final = [(b"content-type", b"application/json")]
_SSE_HEADERS: Final = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
_OPENAI_ERROR_TYPES: Final = {400: "invalid_request_error", 401: "authentication_error",
                              403: "permission_error", 404: "not_found_error", 429: "rate_limit_error"}
_ANTHROPIC_ERROR_TYPES: Final = {**_OPENAI_ERROR_TYPES, 413: "request_too_large", 529: "overloaded_error"}

_encode = msgspec.json.encode


class ReceivedRequest(msgspec.Struct, frozen=True):
    """One request as it arrived; ``body`` is ``{}`` when the body was not a JSON object."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class Recorder:
    """The bounded, thread-safe list of received requests, oldest first."""

    def __init__(self, limit: int) -> None:
        self._items: deque[ReceivedRequest] = deque(maxlen=limit)
        # Tests read from their own thread while the server's loop appends.
        self._lock = threading.Lock()

    def add(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._items.append(request)

    def snapshot(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> int:
        with self._lock:
            count = len(self._items)
            self._items.clear()
            return count

    def last(self) -> ReceivedRequest | None:
        with self._lock:
            return self._items[-1] if self._items else None

    def __len__(self) -> int:
        return len(self._items)


class MockApp:
    """The ASGI callable. ``recorder`` holds what it received; with none, nothing is kept."""

    def __init__(self, recorder: Recorder | None) -> None:
        self.recorder = recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        raw = await _read_body(receive)
        recorder = self.recorder
        if path.startswith("/v1/"):
            headers: dict[str, str] = {}
            for name, value in scope["headers"]:
                key = name.decode("latin-1")
                text = value.decode("latin-1")
                headers[key] = f"{headers[key]}, {text}" if key in headers else text
            body: Any = None
            valid = True
            if raw:
                try:
                    body = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    valid = False
            if recorder is not None:
                recorder.add(ReceivedRequest(method, path, headers, body if isinstance(body, dict) else {}))
            if path == "/v1/chat/completions" or path == "/v1/messages":
                if method != "POST":
                    await _error(send, 405, f"Use POST for {path}.", anthropic=path == "/v1/messages")
                elif not valid or not isinstance(body, dict):
                    await _error(send, 400, "The request body is not a JSON object; send valid JSON.",
                                 anthropic=path == "/v1/messages")
                else:
                    await _complete(path == "/v1/messages", body, headers, receive, send)
            elif path == "/v1/embeddings":
                if method != "POST":
                    await _error(send, 405, f"Use POST for {path}.", anthropic=False)
                elif not valid or not isinstance(body, dict):
                    await _error(send, 400, "The request body is not a JSON object; send valid JSON.",
                                 anthropic=False)
                else:
                    await _embed(body, headers, receive, send)
            elif path == "/v1/models" and method == "GET":
                data = [{"id": name, "object": "model", "created": 0, "owned_by": "interlock"}
                        for name in MODELS]
                await _respond(send, 200, _encode({"object": "list", "data": data}))
            else:
                await _error(send, 404, f"No mock endpoint {method} {path}.", anthropic=False)
        elif path == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
        elif path == "/_mock/requests" and recorder is None:
            await _error(send, 404, "This mock keeps no record of what it receives.", anthropic=False)
        elif path == "/_mock/requests" and method == "GET" and recorder is not None:
            await _respond(send, 200, _encode(recorder.snapshot()))
        elif path == "/_mock/requests" and method == "DELETE" and recorder is not None:
            await _respond(send, 200, _encode({"cleared": recorder.clear()}))
        else:
            await _error(send, 404, f"No mock endpoint {method} {path}.", anthropic=False)


def build_mock_app(*, record_limit: int = 10000, record: bool = True) -> MockApp:
    return MockApp(Recorder(record_limit) if record else None)


async def _complete(anthropic: bool, body: dict[str, Any], headers: dict[str, str],
                    receive: Receive, send: Send) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list):
        await _error(send, 400, "'messages' must be a list of messages.", anthropic=anthropic)
        return
    prompt: Prompt = anthropic_prompt(body) if anthropic else openai_prompt(body)
    try:
        scenario = choose_scenario(headers.get("x-mock"), body.get("mock"), prompt.directive)
    except MockScenarioError as exc:
        await _error(send, 400, str(exc), anthropic=anthropic)
        return
    if scenario.delay_before_answer and not await _pause(receive, scenario.delay_before_answer):
        return
    if scenario.status is not None:
        message = scenario.message or f"Mock failure with status {scenario.status}."
        await _error(send, scenario.status, message, anthropic=anthropic)
        return
    model = body.get("model")
    model = model if isinstance(model, str) else MODELS[0]
    stream = body.get("stream") is True
    if scenario.malformed:
        await _malformed(send, anthropic=anthropic, stream=stream)
        return
    result = answer(scenario, prompt, id_prefix="toolu_" if anthropic else "call_")
    rendered: dict[str, Any] = {}
    if anthropic:
        try:
            # Rendered before any byte is sent, so a bad scenario is still a clean 400, stream or not.
            rendered = anthropic_message(result, model)
        except MockScenarioError as exc:
            await _error(send, 400, str(exc), anthropic=True)
            return
    if not stream:
        await _respond(send, 200, _encode(rendered if anthropic else openai_completion(result, model)))
        return
    if anthropic:
        events = anthropic_events(result, rendered, scenario)
    else:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        events = openai_events(result, model, scenario, include_usage)
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    delay = scenario.chunk_delay_ms / 1000.0
    for index, event in enumerate(events):
        if delay and index and not await _pause(receive, delay):
            return
        await send({"type": "http.response.body", "body": event, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _embed(body: dict[str, Any], headers: dict[str, str], receive: Receive, send: Send) -> None:
    try:
        scenario = choose_scenario(headers.get("x-mock"), body.get("mock"), None)
        model = body.get("model")
        doc = embeddings_answer(body, scenario, model if isinstance(model, str) else MODELS[0])
    except MockScenarioError as exc:
        await _error(send, 400, str(exc), anthropic=False)
        return
    if scenario.delay_before_answer and not await _pause(receive, scenario.delay_before_answer):
        return
    if scenario.status is not None:
        await _error(send, scenario.status, scenario.message or f"Mock failure with status {scenario.status}.",
                     anthropic=False)
    elif scenario.malformed:
        await _respond(send, 200, b'{"object": "list", "data": [{"embedding": ')
    else:
        await _respond(send, 200, _encode(doc))


async def _malformed(send: Send, *, anthropic: bool, stream: bool) -> None:
    if not stream:
        await _respond(send, 200, b'{"id": "broken", "choices": [{"message": ')
        return
    garbage = (b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", \"delta\": \n\n"
               if anthropic else b"data: {\"id\": \"chatcmpl-broken\", \"choices\": [\n\n")
    await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
    await send({"type": "http.response.body", "body": garbage, "more_body": False})


async def _error(send: Send, status: int, message: str, *, anthropic: bool) -> None:
    if anthropic:
        kind = _ANTHROPIC_ERROR_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}}
    else:
        kind = _OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": f"mock_{status}"}}
    await _respond(send, status, _encode(body))


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def _pause(receive: Receive, seconds: float) -> bool:
    """Sleep without blocking other requests; False if the client went away meanwhile.

    Watching for the disconnect lets a hang end with its client, so a server shutdown never waits
    for a sleep nobody is listening to any more.
    """
    disconnected = asyncio.ensure_future(receive())
    try:
        done, _ = await asyncio.wait({disconnected}, timeout=seconds)
        return not done
    finally:
        disconnected.cancel()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def serve(host: str = "127.0.0.1", port: int = 9100) -> None:
    """Run the mock LLM until interrupted."""
    uvicorn.run(build_mock_app(), host=host, port=port, loop="uvloop", http="httptools", ws="none",
                lifespan="on", access_log=False, log_level="warning", server_header=False)


class MockLLM:
    """The mock LLM on a free local port in a background thread, for tests.

    ``base_url`` suits the OpenAI SDK; ``root_url`` suits the Anthropic SDK, which adds ``/v1`` itself.
    """

    def __init__(self, *, record_limit: int = 10000) -> None:
        self.recorder = Recorder(record_limit)
        self.app = MockApp(self.recorder)
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def root_url(self) -> str:
        if not self.port:
            raise RuntimeError("The mock LLM is not running; use it as a context manager or call start().")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def received(self) -> list[ReceivedRequest]:
        return self.recorder.snapshot()

    @property
    def last(self) -> ReceivedRequest:
        request = self.recorder.last()
        if request is None:
            raise LookupError("The mock LLM has received no request yet.")
        return request

    def clear(self) -> None:
        self.recorder.clear()

    def start(self) -> MockLLM:
        if self._thread is not None:
            raise RuntimeError("The mock LLM is already running.")
        # Binding here, not in the server, gives the port before the thread starts and leaves no race
        # between choosing a free port and taking it.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, loop="uvloop", http="httptools", ws="none", lifespan="on",
                                access_log=False, log_level="warning", log_config=None,
                                server_header=False, timeout_graceful_shutdown=2)
        server = uvicorn.Server(config)
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # the test thread reports it; a thread cannot raise to it
                self._failure = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name=f"mock-llm-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The mock LLM did not start on port {self.port}: {self._failure!r}")
            time.sleep(0.002)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join()
        self._server = self._thread = None
        self.port = 0

    def __enter__(self) -> MockLLM:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
