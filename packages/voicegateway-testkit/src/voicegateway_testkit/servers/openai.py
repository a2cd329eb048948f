"""OpenAIServer: the slice of the OpenAI API that ``livekit.plugins.openai`` calls, at ``{url}/v1``.

Point a plugin at it with ``base_url=srv.url + "/v1"`` and any ``api_key``::

    with OpenAIServer(reply="Sure.", prompt_tokens=42, cached_tokens=10) as srv:
        llm = openai.LLM(model="gpt-4o-mini", api_key="test-key", base_url=srv.url + "/v1")

Routes and what they answer:

- ``POST /v1/chat/completions``: the scripted reply, streamed as ``chat.completion.chunk`` SSE
  events when ``stream`` is true (a final ``usage`` chunk when ``stream_options.include_usage``,
  then ``data: [DONE]``), or one ``chat.completion`` object.
- ``POST /v1/audio/speech``: a tone whose length is proportional to ``input``. ``pcm`` with
  ``stream_format: "sse"`` (what the plugin asks for ``gpt-4o-mini-tts``) streams
  ``speech.audio.delta`` events and a ``speech.audio.done`` event with token usage; other
  requests get raw bytes. The server cannot encode mp3/opus/aac/flac: it answers those with
  WAV and says so in ``Content-Type``, as many OpenAI-compatible servers do; the plugin decodes
  by that header.
- ``POST /v1/audio/transcriptions``: the scripted transcript as ``json`` (with ``usage`` as the
  API reports it: tokens for ``gpt-4o*`` models, seconds for ``whisper-1``), ``verbose_json`` or
  ``text``.
- ``GET /v1/models``: :attr:`OpenAIServer.models`.

Every route requires ``Authorization: Bearer <key>`` and answers 401 with OpenAI's error body
otherwise. Scripted callables receive the :class:`~voicegateway_testkit.servers.RecordedRequest`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import uuid
from typing import Any

from aiohttp import web

from voicegateway_testkit import Scripted, ScriptSource
from voicegateway_testkit.audio import pcm_duration, pcm_to_wav, wav_duration
from voicegateway_testkit.servers.speech import SpeechServer

SPEECH_SAMPLE_RATE = 24000
"""OpenAI's speech output: 16-bit mono PCM at 24 kHz."""

AUDIO_TOKENS_PER_SECOND = 20
"""About what OpenAI bills: gpt-4o-mini-tts output and gpt-4o-transcribe input run near 1,250
audio tokens a minute."""


class OpenAIServer(SpeechServer):
    """A fake OpenAI API. Token counts default to whitespace words, which is rough but
    deterministic; set ``prompt_tokens`` / ``completion_tokens`` to pin them.

    Every option is also a public attribute a test may change between requests
    (``srv.reply = [...]``, ``srv.cached_tokens = 5``).
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        reply: ScriptSource = "Hello! How can I help you today?",
        transcript: ScriptSource = "Hello, this is a test.",
        prompt_tokens: int | None = None,
        cached_tokens: int = 0,
        completion_tokens: int | None = None,
        speech_seconds_per_char: float = 0.05,
        models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o-mini-tts", "gpt-4o-mini-transcribe"),
    ) -> None:
        super().__init__(api_key=api_key, speech_seconds_per_char=speech_seconds_per_char)
        self.reply = reply
        self.transcript = transcript
        self.prompt_tokens = prompt_tokens
        self.cached_tokens = cached_tokens
        self.completion_tokens = completion_tokens
        self.models = models

    reply = Scripted()

    transcript = Scripted()

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/chat/completions", self._chat_completions),
            web.post("/v1/audio/speech", self._speech),
            web.post("/v1/audio/transcriptions", self._transcriptions),
            web.get("/v1/models", self._models),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not key:
            return (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        if self.api_key is not None and key != self.api_key:
            return f"Incorrect API key provided: {key[:3]}...{key[-4:]}."
        return None

    def _error(self, status: int, message: str) -> web.Response:
        kind = "invalid_request_error" if status < 500 else "server_error"
        code = "invalid_api_key" if status == 401 else None
        body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        return web.json_response(body, status=status, headers=_request_id_header())

    # -- chat completions ---------------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        body = record.json or {}
        text = self.reply.next(record)
        usage = self._chat_usage(body.get("messages", []), text)
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        base = {"id": completion_id, "created": int(time.time()), "model": body.get("model", "")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            completion = {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            return web.json_response(completion, headers=_request_id_header())

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        resp = await self._start_sse(request)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            event = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            return {**event, "usage": None} if include_usage else event

        await self._sse(request, resp, chunk({"role": "assistant", "content": ""}))
        for piece in re.findall(r"\S+\s*|\s+", text):
            await self._sse(request, resp, chunk({"content": piece}))
        await self._sse(request, resp, chunk({}, finish_reason="stop"))
        if include_usage:
            usage_event = {**base, "object": "chat.completion.chunk", "choices": []}
            await self._sse(request, resp, {**usage_event, "usage": usage})
        await self._write(request, resp, b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    def _chat_usage(self, messages: list[dict[str, Any]], text: str) -> dict[str, Any]:
        prompt = self.prompt_tokens
        if prompt is None:
            prompt = sum(_count_words(m.get("content")) for m in messages)
        completion = self.completion_tokens
        if completion is None:
            completion = len(text.split())
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    # -- speech -------------------------------------------------------------------------------

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        body = self._recorded().json or {}
        text = str(body.get("input", ""))
        pcm = self._tone(text, SPEECH_SAMPLE_RATE)
        response_format = body.get("response_format", "mp3")
        if response_format == "pcm" and body.get("stream_format") == "sse":
            return await self._speech_sse(request, text, pcm)

        content_type = "audio/pcm" if response_format == "pcm" else "audio/wav"
        headers = {"Content-Type": content_type, **_request_id_header()}
        data = pcm if response_format == "pcm" else pcm_to_wav(pcm, sample_rate=SPEECH_SAMPLE_RATE)
        return await self._stream_audio(request, data, SPEECH_SAMPLE_RATE, headers)

    async def _speech_sse(self, request: web.Request, text: str, pcm: bytes) -> web.StreamResponse:
        resp = await self._start_sse(request)
        async for piece in self._paced_chunks(pcm, SPEECH_SAMPLE_RATE):
            delta = {"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode()}
            await self._sse(request, resp, delta)
        seconds = pcm_duration(len(pcm), sample_rate=SPEECH_SAMPLE_RATE)
        input_tokens = len(text.split())
        output_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
        usage = {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        await self._sse(request, resp, {"type": "speech.audio.done", "usage": usage})
        await resp.write_eof()
        return resp

    # -- transcriptions -----------------------------------------------------------------------

    async def _transcriptions(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        upload = (await request.post()).get("file")
        if upload is None or isinstance(upload, str):
            return self._error(400, "'file' is a required property")
        seconds = wav_duration(upload.file.read())
        text = self.transcript.next(record)
        model = record.form.get("model", "")
        response_format = record.form.get("response_format", "json")
        if response_format == "text":
            return web.Response(text=text, headers=_request_id_header())
        if model == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": math.ceil(seconds)}
        else:
            audio_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
            output_tokens = len(text.split())
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": output_tokens,
                "total_tokens": audio_tokens + output_tokens,
            }
        result: dict[str, Any] = {"text": text, "usage": usage}
        if response_format == "verbose_json":
            language = record.form.get("language") or "en"
            result.update(task="transcribe", language=language, duration=seconds, segments=[])
        return web.json_response(result, headers=_request_id_header())

    # -- models -------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        data = [
            {"id": model, "object": "model", "created": 0, "owned_by": "system"}
            for model in self.models
        ]
        return web.json_response({"object": "list", "data": data}, headers=_request_id_header())

    # -- SSE ----------------------------------------------------------------------------------

    async def _start_sse(self, request: web.Request) -> web.StreamResponse:
        headers = {"Content-Type": "text/event-stream", **_request_id_header()}
        resp = web.StreamResponse(headers=headers)
        await resp.prepare(request)
        return resp

    async def _sse(self, request: web.Request, resp: web.StreamResponse, event: Any) -> None:
        await self._write(request, resp, f"data: {json.dumps(event)}\n\n".encode())


def _count_words(content: Any) -> int:
    """Words in a message's content: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return len(content.split())
    if isinstance(content, list):
        return sum(len(str(part.get("text", "")).split()) for part in content)
    return 0


def _request_id_header() -> dict[str, str]:
    """OpenAI's request id header, which the SDK exposes as ``request_id``."""
    return {"x-request-id": f"req_{uuid.uuid4().hex}"}
