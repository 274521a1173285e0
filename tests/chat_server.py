"""A real chat-completions HTTP server on 127.0.0.1 for critic tests and benchmarks (asyncio streams).

It speaks enough of the OpenAI protocol for the ``openai`` client: ``POST /v1/chat/completions`` with keep-alive.
What it answers is scripted per request: a JSON verdict built from the prompt by default, or injected failures
(HTTP errors, hangs that outlast the client's timeout, malformed bodies, slow replies). It counts requests and
the most requests it ever had in flight.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    content: str | None = None
    """The assistant message text (wrapped in a chat-completion body); None: the default verdict."""
    body: bytes | None = None
    """Raw body instead of a chat completion (malformed JSON, error bodies)."""
    delay: float = 0.0
    finish_reason: str = "stop"
    reasoning: str | None = None
    """Sent as the message's ``reasoning_content`` (as vLLM and DeepSeek do)."""


Script = Callable[[dict[str, Any], int], Reply]
"""(request JSON, 0-based request number) -> what to answer."""

_STEP = re.compile(r"Judge ONE step, step (\d+)")
_STEPS = re.compile(r"(?:for exactly|among) these steps: ([\d, ]+)")


def label_for(step: int) -> str:
    """The scripted critic's opinion: every third step is incorrect."""
    return "incorrect" if step % 3 == 2 else "correct"


def default_content(request: dict[str, Any]) -> str:
    """A valid verdict for the prompt's step (per-step), or a list for every asked step (trajectory)."""
    prompt = request["messages"][0]["content"]
    many = _STEPS.search(prompt)
    if many:
        steps = [int(s) for s in many.group(1).replace(" ", "").split(",") if s]
        return json.dumps([{"step": s, "label": label_for(s), "score": 0.9, "rationale": f"step {s}"} for s in steps])
    step = int(_STEP.search(prompt).group(1))
    return json.dumps({"label": label_for(step), "score": 0.8, "rationale": f"scripted verdict for step {step}"})


def completion_body(content: str, model: str, finish_reason: str = "stop", reasoning: str | None = None) -> bytes:
    message = {"role": "assistant", "content": content}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}).encode()


@dataclass
class ChatServer:
    script: Script = field(default=lambda request, n: Reply())
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    keep_requests: bool = True

    def __post_init__(self) -> None:
        self.count = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle

    def start(self) -> "ChatServer":
        self._thread = threading.Thread(target=self._serve_thread, daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> "ChatServer":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _serve_thread(self) -> None:
        self._loop = asyncio.new_event_loop()
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port,
                                                                    backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def serve_forever(self, port: int = 0, started: Callable[[int], None] | None = None) -> None:
        """Serve in the current event loop (benchmarks run it in its own process)."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", port, backlog=1024)
        self.port = server.sockets[0].getsockname()[1]
        if started:
            started(self.port)
        async with server:
            await server.serve_forever()

    # -- HTTP

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                await self._respond(writer, headers, json.loads(body))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, headers: dict[str, str], request: dict[str, Any]) -> None:
        number = self.count
        self.count += 1
        if self.keep_requests:
            self.requests.append(request)
            self.headers.append(headers)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.script(request, number)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            body = reply.body if reply.body is not None else completion_body(
                reply.content if reply.content is not None else default_content(request), request.get("model", ""),
                reply.finish_reason, reply.reasoning)
            writer.write(f"HTTP/1.1 {reply.status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
        finally:
            self.in_flight -= 1
