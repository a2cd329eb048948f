"""OllamaServer: the slice of a local Ollama server that ``livekit.plugins.openai`` and
VoiceGateway call: its OpenAI-compatible API at ``{url}/v1`` and its native model list.

Point the plugin at it the way users point it at Ollama::

    with OllamaServer(reply="Sure.", models=("llama3.2:latest",)) as srv:
        llm = openai.LLM.with_ollama(model="llama3.2", base_url=srv.url + "/v1")

Routes and what they answer, shaped as Ollama's own (``openai/openai.go`` and
``middleware/openai.go`` in ollama/ollama):

- ``POST /v1/chat/completions``: the scripted reply. Streamed chunks carry
  ``system_fingerprint: "fp_ollama"``, a ``delta`` with ``role: "assistant"`` on every chunk, no
  ``usage`` key; the last content chunk has ``finish_reason: "stop"``; with
  ``stream_options.include_usage`` (Ollama 0.5.2+) a chunk with ``choices: []`` and
  ``usage`` (``prompt_tokens``, ``completion_tokens``, ``total_tokens``, no details) follows,
  then ``data: [DONE]``. A model that was not pulled answers 404 (``not_found_error``).
- ``GET /v1/models``: the pulled models, ``owned_by: "library"``.
- ``GET /api/tags``: the pulled models in Ollama's native format (name, model, modified_at, size,
  digest, details).
- ``GET /api/version``: ``{"version": ...}``.

Ollama checks no key: any ``Authorization`` header, or none, is accepted. A model name without a
tag means ``:latest``, as in Ollama. Errors use Ollama's OpenAI error body
(``{"error": {"message", "type", "param", "code"}}``).
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from typing import Any

from aiohttp import web

from voicegateway_testkit import ScriptSource
from voicegateway_testkit.servers.openai import OpenAIServer

OLLAMA_VERSION = "0.6.5"
_MODIFIED_AT = "2025-04-01T10:00:00.000000+00:00"
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


class OllamaServer(OpenAIServer):
    """A fake Ollama. ``models`` are the pulled models (``name:tag``); like the other options it is
    a public attribute a test may change between requests."""

    def __init__(
        self,
        *,
        reply: ScriptSource = "Hello! How can I help you today?",
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        models: tuple[str, ...] = ("llama3.2:latest", "qwen2.5:0.5b"),
    ) -> None:
        super().__init__(
            reply=reply,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            models=models,
        )

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat_completions),
            web.get("/v1/models", self._models),
            web.get("/api/tags", self._tags),
            web.get("/api/version", self._version),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        return None

    def _error(self, status: int, message: str) -> web.Response:
        kind = _ERROR_TYPES.get(status, "api_error")
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return web.json_response(body, status=status)

    def _pulled(self, name: str) -> str | None:
        """The pulled model ``name`` refers to (``llama3.2`` is ``llama3.2:latest``), or None."""
        full = name if ":" in name else f"{name}:latest"
        return full if full in self.models else None

    # -- chat completions ---------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        body = record.json or {}
        model = str(body.get("model", ""))
        if self._pulled(model) is None:
            return self._error(404, f'model "{model}" not found, try pulling it first')
        text = self.reply.next(record)
        usage = self._usage(body.get("messages", []), text)
        base = {
            "id": f"chatcmpl-{random.randrange(999)}",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": "fp_ollama",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )

        def chunk(choices: list[dict[str, Any]]) -> dict[str, Any]:
            return {**base, "object": "chat.completion.chunk", "choices": choices}

        def delta(content: str, finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"role": "assistant", "content": content}
            return chunk([{"index": 0, "delta": choice, "finish_reason": finish_reason}])

        resp = await self._start_sse(request)
        pieces = re.findall(r"\S+\s*|\s+", text)
        for piece in pieces:
            await self._sse(request, resp, delta(piece))
        await self._sse(request, resp, delta("", finish_reason="stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            await self._sse(request, resp, {**chunk([]), "usage": usage})
        await self._write(request, resp, b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _usage(self, messages: list[dict[str, Any]], text: str) -> dict[str, int]:
        """Ollama reports prompt_eval_count and eval_count, nothing about caching."""
        usage = self._chat_usage(messages, text)
        return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}

    # -- models -------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {"id": name, "object": "model", "created": 1743501600, "owned_by": "library"}
            for name in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _tags(self, request: web.Request) -> web.Response:
        return web.json_response({"models": [_tag(name) for name in self.models]})

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": OLLAMA_VERSION})


def _tag(name: str) -> dict[str, Any]:
    """One entry of ``/api/tags``: made-up but well-formed facts about a pulled model."""
    family = re.match(r"[a-z]+", name)
    family_name = family.group() if family else name
    return {
        "name": name,
        "model": name,
        "modified_at": _MODIFIED_AT,
        "size": 2019393189,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family_name,
            "families": [family_name],
            "parameter_size": "3.2B",
            "quantization_level": "Q4_K_M",
        },
    }
