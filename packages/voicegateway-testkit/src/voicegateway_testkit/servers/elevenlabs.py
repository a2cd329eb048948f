"""ElevenLabsServer: the ElevenLabs v1 text-to-speech API that ``livekit.plugins.elevenlabs``
calls, at ``{url}/v1``.

The plugin takes the API root with its version as ``base_url``::

    with ElevenLabsServer() as srv:
        tts = elevenlabs.TTS(api_key="test-key", base_url=srv.url + "/v1", encoding="pcm_24000")

Routes and what they answer:

- ``POST /v1/text-to-speech/{voice_id}`` and ``POST /v1/text-to-speech/{voice_id}/stream``:
  ``{"text", "model_id", ...}``; 16-bit PCM tone at the ``output_format`` query parameter's rate
  (only ``pcm_<rate>`` is served), length proportional to the text, streamed in 100 ms chunks.
- ``GET /v1/text-to-speech/{voice_id}/multi-stream-input`` (websocket, multi-context): text
  messages carry a ``context_id``; a context's text is buffered until a message with ``flush``
  (or ``close_context``) asks for it, then answered with audio messages (base64 ``audio``, and
  ``alignment`` / ``normalizedAlignment`` character timings when ``sync_alignment=true``).
  ``close_context`` ends the context with ``{"isFinal": true}``; ``close_socket`` closes.
  Responses name their context in ``contextId``, as the AsyncAPI schema documents.

Every route requires the ``xi-api-key`` header and answers 401 otherwise; errors carry
ElevenLabs' ``{"detail": {"status", "message"}}`` body.

ElevenLabs bills text-to-speech by the characters of the text it is sent (at a per-model rate):
:meth:`ElevenLabsServer.texts` returns that text, one entry per generation (a websocket
context's messages joined, including the single space that opens a context).
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from voicegateway_testkit.servers.base import RecordedRequest
from voicegateway_testkit.servers.speech import SpeechServer

_ERROR_STATUSES = {
    400: "invalid_request",
    401: "invalid_api_key",
    422: "validation_error",
    429: "too_many_concurrent_requests",
}


class ElevenLabsServer(SpeechServer):
    """A fake ElevenLabs API. Options are public attributes a test may change between requests.

    ``chunk_interval`` paces the audio (seconds between chunks), so a test can interrupt a
    generation while it is still being spoken.
    """

    def texts(self) -> list[str]:
        """Every text received, in order: one per HTTP request and one per websocket context
        (its messages' text joined), what ElevenLabs bills by."""
        received: list[str] = []
        for record in self.requests:
            if record.path.endswith("/multi-stream-input"):
                received.extend(_context_texts(record).values())
            elif record.method == "POST" and isinstance(record.json, dict):
                received.append(str(record.json.get("text", "")))
        return received

    def _routes(self) -> list[web.RouteDef]:
        return [
            web.post("/v1/text-to-speech/{voice_id}", self._speech),
            web.post("/v1/text-to-speech/{voice_id}/stream", self._speech),
            web.get("/v1/text-to-speech/{voice_id}/multi-stream-input", self._multi_stream),
        ]

    def _authenticate(self, request: web.Request) -> str | None:
        key = request.headers.get("xi-api-key", "")
        if not key:
            return "Missing the xi-api-key header."
        if self.api_key is not None and key != self.api_key:
            return "Invalid API key"
        return None

    def _error(self, status: int, message: str) -> web.Response:
        kind = _ERROR_STATUSES.get(status, "internal_server_error" if status >= 500 else "error")
        return web.json_response({"detail": {"status": kind, "message": message}}, status=status)

    # -- HTTP ---------------------------------------------------------------------------------

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        body = record.json if isinstance(record.json, dict) else {}
        if "text" not in body:
            return self._error(422, "Field required: text")
        sample_rate = _pcm_rate(request.query.get("output_format", "mp3_44100_128"))
        if sample_rate is None:
            return self._error(400, "ElevenLabsServer only serves pcm_<rate> output formats.")
        headers = {"Content-Type": "audio/pcm", "request-id": uuid.uuid4().hex}
        pcm = self._tone(str(body["text"]).strip(), sample_rate)
        return await self._stream_audio(request, pcm, sample_rate, headers)

    # -- multi-context websocket --------------------------------------------------------------

    async def _multi_stream(self, request: web.Request) -> web.StreamResponse:
        record = self._recorded()
        sample_rate = _pcm_rate(request.query.get("output_format", "mp3_44100_128"))
        if sample_rate is None:
            return self._error(400, "ElevenLabsServer only serves pcm_<rate> output formats.")
        alignment = request.query.get("sync_alignment") == "true"
        buffers: dict[str, str] = {}
        async with self._websocket(request) as ws:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                message = msg.json()
                record.messages.append(message)
                if message.get("close_socket"):
                    break
                context_id = str(message.get("context_id", ""))
                if "text" in message:
                    buffers[context_id] = buffers.get(context_id, "") + str(message["text"])
                if message.get("flush") or message.get("close_context"):
                    text = buffers.pop(context_id, "")
                    await self._speak(request, ws, context_id, text, sample_rate, alignment)
                if message.get("close_context"):
                    await self._send_ws(request, ws, {"isFinal": True, "contextId": context_id})
        return ws

    async def _speak(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        context_id: str,
        text: str,
        sample_rate: int,
        alignment: bool,
    ) -> None:
        """Audio messages for one flushed buffer; the first carries the characters' timings."""
        spoken = text.strip()
        ms_per_char = round(self.speech_seconds_per_char * 1000)
        timings: dict[str, list[Any]] | None = _alignment(spoken, ms_per_char)
        async for piece in self._paced_chunks(self._tone(spoken, sample_rate), sample_rate):
            message: dict[str, Any] = {
                "audio": base64.b64encode(piece).decode(),
                "contextId": context_id,
            }
            if alignment:
                message.update(alignment=timings, normalizedAlignment=timings)
                timings = None
            await self._send_ws(request, ws, message)


def _pcm_rate(output_format: str) -> int | None:
    codec, _, rate = output_format.partition("_")
    return int(rate) if codec == "pcm" and rate.isdigit() else None


def _alignment(text: str, ms_per_char: int) -> dict[str, list[Any]]:
    """Character timings of ``text``, evenly spaced, in the websocket's camelCase shape."""
    return {
        "chars": list(text),
        "charStartTimesMs": [i * ms_per_char for i in range(len(text))],
        "charDurationsMs": [ms_per_char] * len(text),
    }


def _context_texts(record: RecordedRequest) -> dict[str, str]:
    """The text of one websocket connection, joined per context, in order of creation."""
    contexts: dict[str, str] = {}
    for message in record.messages:
        if isinstance(message, dict) and "text" in message:
            context_id = str(message.get("context_id", ""))
            contexts[context_id] = contexts.get(context_id, "") + str(message["text"])
    return contexts
