"""AnthropicServer: the Messages API that ``livekit.plugins.anthropic`` calls, at ``{url}/v1``.

Point a plugin at it with ``base_url=srv.url`` (the SDK adds ``/v1/messages``) and any key::

    with AnthropicServer(reply="Sure.", input_tokens=30, cache_read_input_tokens=5) as srv:
        llm = anthropic.LLM(model="claude-sonnet-4-20250514", api_key="k", base_url=srv.url)

Routes and what they answer:

- ``POST /v1/messages``: the scripted reply. Streamed (``stream: true``) as Anthropic's SSE
  events: ``message_start`` (the input usage: ``input_tokens``, ``cache_read_input_tokens``,
  ``cache_creation_input_tokens``, and a provisional ``output_tokens``), ``ping``,
  ``content_block_start``/``content_block_delta``/``content_block_stop``, ``message_delta`` (usage
  as *cumulative* totals, as the API sends them: the final ``output_tokens`` includes the
  provisional count of ``message_start``), ``message_stop``. Otherwise one ``message`` object.
- ``GET /v1/models``: :attr:`AnthropicServer.models` (the plugin's prewarm lists them).

Every route requires ``x-api-key`` and ``anthropic-version`` headers and answers errors with
Anthropic's body (``{"type": "error", "error": {"type": ..., "message": ...}}``) and a
``request-id`` header. Scripted callables receive the
:class:`~voicegateway_testkit.servers.RecordedRequest`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from aiohttp import web

from voicegateway_testkit import Scripted, ScriptSource
from voicegateway_testkit.servers.base import FakeServer

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
"""Anthropic's error ``type`` per HTTP status."""


class AnthropicServer(FakeServer):
    """A fake Anthropic API. Input tokens default to the whitespace words of the system prompt
    and messages, output tokens to the words of the reply; set the counts to pin them.

    ``input_tokens`` is what Anthropic reports as ``input_tokens``: the prompt tokens after the
    last cache breakpoint, *not* including ``cache_read_input_tokens`` or
    ``cache_creation_input_tokens`` (the prompt is the sum of the three). ``start_output_tokens``
    is the provisional output count ``message_start`` carries (1 on the real API);
    ``start_input_tokens`` a provisional input count for it (``None``: the final one), for the
    requests whose input grows while they run (server-side tools), where only ``message_delta``
    has the billed total.

    Every option is also a public attribute a test may change between requests.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        reply: ScriptSource = "Hello! How can I help you today?",
        input_tokens: int | None = None,
        cache_read_input_tokens: int = 0,
        cache_creation_input_tokens: int = 0,
        output_tokens: int | None = None,
        start_output_tokens: int = 1,
        start_input_tokens: int | None = None,
        models: tuple[str, ...] = ("claude-sonnet-4-20250514", "claude-haiku-4-5"),
    ) -> None:
        super().__init__(api_key=api_key)
        self.reply = reply
        self.input_tokens = input_tokens
        self.cache_read_input_tokens = cache_read_input_tokens
        self.cache_creation_input_tokens = cache_creation_input_tokens
        self.output_tokens = output_tokens
        self.start_output_tokens = start_output_tokens
        self.start_input_tokens = start_input_tokens
        self.models = models

    reply = Scripted()

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/messages", self._messages),
            web.get("/v1/models", self._models),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        key = request.headers.get("x-api-key", "")
        if not key:
            return "x-api-key header is required"
        if self.api_key is not None and key != self.api_key:
            return "invalid x-api-key"
        return None

    def _error(self, status: int, message: str) -> web.Response:
        kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        request_id = _request_id()
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": request_id,
        }
        return web.json_response(body, status=status, headers={"request-id": request_id})

    # -- messages -----------------------------------------------------------------------------

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if not request.headers.get("anthropic-version"):
            return self._error(400, "anthropic-version: header is required")
        record = self._recorded()
        body = record.json or {}
        if not body.get("model") or "max_tokens" not in body or "messages" not in body:
            return self._error(400, "model, max_tokens and messages are required")
        text = self.reply.next(record)
        usage = self._usage(body, text)
        message_id = f"msg_{uuid.uuid4().hex[:24]}"
        message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "stop_sequence": None,
        }
        headers = {"request-id": _request_id()}
        if not body.get("stream"):
            content = [{"type": "text", "text": text}]
            result = {**message, "content": content, "stop_reason": "end_turn", "usage": usage}
            return web.json_response(result, headers=headers)

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **headers})
        await resp.prepare(request)
        start_usage = {**usage, "output_tokens": self.start_output_tokens}
        if self.start_input_tokens is not None:
            start_usage["input_tokens"] = self.start_input_tokens
        start = {**message, "content": [], "stop_reason": None, "usage": start_usage}
        await self._event(request, resp, "message_start", {"message": start})
        block = {"index": 0, "content_block": {"type": "text", "text": ""}}
        await self._event(request, resp, "content_block_start", block)
        await self._event(request, resp, "ping", {})
        for piece in re.findall(r"\S+\s*|\s+", text):
            delta = {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            await self._event(request, resp, "content_block_delta", delta)
        await self._event(request, resp, "content_block_stop", {"index": 0})
        final = {
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                k: v for k, v in usage.items() if k not in ("cache_creation", "service_tier")
            },
        }
        await self._event(request, resp, "message_delta", final)
        await self._event(request, resp, "message_stop", {})
        await resp.write_eof()
        return resp

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        """The request's usage as the API reports it; ``output_tokens`` is the final total."""
        uncached = self.input_tokens
        if uncached is None:
            system = body.get("system")
            uncached = _count_words(system) + sum(
                _count_words(m.get("content")) for m in body.get("messages", [])
            )
        output = self.output_tokens
        if output is None:
            output = max(len(text.split()), self.start_output_tokens)
        return {
            "input_tokens": uncached,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation_input_tokens,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output,
            "service_tier": "standard",
        }

    async def _event(
        self, request: web.Request, resp: web.StreamResponse, name: str, data: dict[str, Any]
    ) -> None:
        payload = json.dumps({"type": name, **data})
        await self._write(request, resp, f"event: {name}\ndata: {payload}\n\n".encode())

    # -- models -------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {
                "type": "model",
                "id": model,
                "display_name": model,
                "created_at": "2025-05-14T00:00:00Z",
            }
            for model in self.models
        ]
        page = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return web.json_response(page, headers={"request-id": _request_id()})


def _count_words(content: Any) -> int:
    """Words in a system prompt or message content: a string, or a list of blocks with ``text``."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(str(block.get("text", "")).split()) for block in content)
    return 0


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"
