"""GroqServer: the slice of Groq's OpenAI-compatible API that ``livekit.plugins.groq`` calls.

Groq serves it under ``/openai/v1``, so point a plugin at ``base_url=srv.url + "/openai/v1"``::

    with GroqServer(transcript="Hi.") as srv:
        stt = groq.STT(api_key="gsk-test", base_url=srv.url + "/openai/v1")

It answers like :class:`~voicegateway_testkit.servers.OpenAIServer` (Bearer auth, OpenAI's error
body), with Groq's differences:

- ``POST /openai/v1/chat/completions``: chunks carry ``x_groq`` (the request id on the first;
  the usage, with Groq's timings, on the one with ``finish_reason``), and with
  ``stream_options.include_usage`` a final ``usage`` chunk follows, as the OpenAI spec has it.
  ``prompt_tokens_details.cached_tokens`` appears only when ``cached_tokens`` is set (the models
  Groq caches prompts for).
- ``POST /openai/v1/audio/transcriptions``: ``json`` is ``{"text", "x_groq": {"id"}}``, with no
  usage: Groq reports nothing billable, it bills the uploaded audio, at least 10 seconds per
  request. :attr:`GroqServer.transcribed_seconds` lists the seconds of each upload received.
- ``GET /openai/v1/models``: :attr:`GroqServer.models`.

A model not in :attr:`GroqServer.models` gets Groq's 404 ``model_not_found``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from aiohttp import web

from voicegateway_testkit.audio import wav_duration
from voicegateway_testkit.servers.openai import OpenAIServer

PREFIX = "/openai/v1"

MODELS = (
    "llama-3.3-70b-versatile",
    "llama-3.1-8b-instant",
    "openai/gpt-oss-120b",
    "whisper-large-v3",
    "whisper-large-v3-turbo",
)


class GroqServer(OpenAIServer):
    """A fake Groq API; options as :class:`OpenAIServer`'s (speech synthesis is not served)."""

    def __init__(self, *, models: tuple[str, ...] = MODELS, **kwargs: Any) -> None:
        super().__init__(models=models, **kwargs)
        self.transcribed_seconds: list[float] = []

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{PREFIX}/chat/completions", self._groq_chat),
            web.post(f"{PREFIX}/audio/transcriptions", self._groq_transcriptions),
            web.get(f"{PREFIX}/models", self._models),
        ]

    def _unknown_model(self, model: str) -> web.Response | None:
        if model in self.models:
            return None
        message = f"The model `{model}` does not exist or you do not have access to it."
        error = {"message": message, "type": "invalid_request_error", "code": "model_not_found"}
        return web.json_response({"error": error}, status=404)

    # -- chat completions ---------------------------------------------------------------------

    async def _groq_chat(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        body = record.json or {}
        if (missing := self._unknown_model(str(body.get("model")))) is not None:
            return missing
        text = self.reply.next(record)
        usage = self._groq_usage(body.get("messages", []), text)
        request_id = _groq_id()
        base = {
            "id": f"chatcmpl-{uuid.uuid4()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            completion = {
                **base,
                "object": "chat.completion",
                "choices": [choice],
                "usage": usage,
                "x_groq": {"id": request_id},
            }
            return web.json_response(completion)

        resp = await self._start_sse(request)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return {**base, "choices": [choice]}

        first = chunk({"role": "assistant", "content": ""})
        await self._sse(request, resp, {**first, "x_groq": {"id": request_id}})
        for piece in re.findall(r"\S+\s*|\s+", text):
            await self._sse(request, resp, chunk({"content": piece}))
        last = chunk({}, finish_reason="stop")
        await self._sse(request, resp, {**last, "x_groq": {"id": request_id, "usage": usage}})
        if (body.get("stream_options") or {}).get("include_usage"):
            await self._sse(
                request,
                resp,
                {**base, "choices": [], "usage": usage, "x_groq": {"id": request_id}},
            )
        await self._write(request, resp, b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _groq_usage(self, messages: list[dict[str, Any]], text: str) -> dict[str, Any]:
        openai_usage = self._chat_usage(messages, text)
        prompt, completion = openai_usage["prompt_tokens"], openai_usage["completion_tokens"]
        usage: dict[str, Any] = {
            "queue_time": 0.01,
            "prompt_tokens": prompt,
            "prompt_time": 0.002,
            "completion_tokens": completion,
            "completion_time": 0.01,
            "total_tokens": prompt + completion,
            "total_time": 0.012,
        }
        if self.cached_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    # -- transcriptions -----------------------------------------------------------------------

    async def _groq_transcriptions(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        if (missing := self._unknown_model(record.form.get("model", ""))) is not None:
            return missing
        upload = (await request.post()).get("file")
        if upload is None or isinstance(upload, str):
            return self._error(400, "either file or url must be provided")
        seconds = wav_duration(upload.file.read())
        self.transcribed_seconds.append(seconds)
        text = self.transcript.next(record)
        response_format = record.form.get("response_format", "json")
        if response_format == "text":
            return web.Response(text=text)
        result: dict[str, Any] = {"text": text, "x_groq": {"id": _groq_id()}}
        if response_format == "verbose_json":
            segment = {"id": 0, "start": 0.0, "end": seconds, "text": text}
            result.update(task="transcribe", language="English", duration=seconds)
            result["segments"] = [segment]
        return web.json_response(result)


def _groq_id() -> str:
    return f"req_{uuid.uuid4().hex[:26]}"
